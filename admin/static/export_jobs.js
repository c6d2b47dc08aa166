// Background exports (后台导出). Beside every export link of a list page (/admin/exports/<kind>?…)
// add "后台导出": start a job with the link's filters, show a progress bar that polls the job,
// then the download link. Roles allowed to call buyers also get "导出完整号码" on kinds that hold
// buyers' phones; it asks for the purpose, which is logged. On /admin/exports/jobs, running jobs
// poll too. Plain JavaScript, no library, nothing from a CDN.
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-export-start-url]");
  if (!script) { return; }
  var startUrl = script.getAttribute("data-export-start-url");
  var csrf = script.getAttribute("data-csrf");
  var fullKinds = (script.getAttribute("data-full-phone-kinds") || "").split(",").filter(Boolean);
  var LABELS = {queued: "排队中", running: "导出中", done: "已完成", failed: "失败", expired: "已过期"};

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) { node.textContent = text; }
    return node;
  }

  function rowsText(data) {
    return "已导出 " + data.rows_done + (data.rows_total === null ? "" : " / " + data.rows_total) + " 行";
  }

  // Poll a job's status URL until it is done or failed; ``show(data)`` draws each answer.
  function poll(url, show) {
    var delay = 800;
    function again() {
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (data) { show(data); }
          if (!data || data.status === "queued" || data.status === "running") {
            delay = data ? Math.min(delay * 1.5, 5000) : Math.min(delay * 2, 10000);
            window.setTimeout(again, delay);
          }
        })
        .catch(function () { window.setTimeout(again, Math.min(delay * 2, 10000)); });
    }
    again();
  }

  function progressBox(data) {
    var box = el("span", {"class": "export-job-progress", "role": "status", "data-job-id": String(data.id),
                          "style": "display:inline-flex;align-items:center;gap:6px;margin:0 8px"});
    var bar = el("progress", {"max": "100", "value": "0"}, "0%");
    var text = el("span", {"data-role": "text"}, LABELS[data.status] || data.status);
    box.appendChild(bar);
    box.appendChild(text);
    return {box: box, show: function (d) {
      if (d.percent === null || d.percent === undefined) { bar.removeAttribute("value"); }
      else { bar.value = d.percent; bar.textContent = d.percent + "%"; }
      text.textContent = (LABELS[d.status] || d.status) + " · " + rowsText(d);
      if (d.status === "done" && d.file_url) {
        var link = el("a", {"href": d.file_url, "class": "export-job-download"}, "下载（" + d.rows_done + " 行）");
        text.textContent = "";
        text.appendChild(link);
      } else if (d.status === "failed") {
        text.textContent = "导出失败：" + (d.error || "") + " ";
        text.appendChild(el("a", {"href": d.jobs_url}, "去重试"));
      }
    }};
  }

  function start(link, kind, fullPhones, purpose) {
    var body = new URLSearchParams();
    body.set("csrf_token", csrf);
    body.set("kind", kind);
    body.set("query", link.search.replace(/^\?/, ""));
    if (fullPhones) { body.set("full_phones", "1"); body.set("purpose", purpose); }
    var holder = link.parentNode.querySelector(".export-job-progress[data-for='" + kind + "']");
    fetch(startUrl, {method: "POST", credentials: "same-origin", body: body,
                     headers: {"Accept": "application/json"}})
      .then(function (response) { return response.json().then(function (data) { return [response.ok, data]; }); })
      .then(function (result) {
        var ok = result[0], data = result[1];
        if (!ok) {
          window.alert((data.error && data.error.message) || "无法开始导出");
          return;
        }
        var view = progressBox(data);
        view.box.setAttribute("data-for", kind);
        if (holder) { holder.parentNode.removeChild(holder); }
        var anchor = link.exportJobAnchor || link;  // after the buttons this script added
        anchor.parentNode.insertBefore(view.box, anchor.nextSibling);
        view.show(data);
        poll(data.status_url, view.show);
      })
      .catch(function () { window.alert("网络错误，请稍后重试"); });
  }

  function enhance(link) {
    var match = /^\/admin\/exports\/([a-z][a-z-]*)$/.exec(link.pathname);
    if (!match || match[1] === "jobs" || match[1] === "full-phone-log" || link.getAttribute("data-export-enhanced")) {
      return;
    }
    var kind = match[1];
    link.setAttribute("data-export-enhanced", "1");
    var after = link;
    var job = el("button", {"type": "button", "class": "button plain export-job-start", "data-kind": kind}, "后台导出");
    job.addEventListener("click", function () { start(link, kind, false); });
    after.parentNode.insertBefore(job, after.nextSibling);
    after = job;
    if (fullKinds.indexOf(kind) >= 0) {
      var full = el("button", {"type": "button", "class": "button plain export-job-full", "data-kind": kind},
                    "导出完整号码");
      full.addEventListener("click", function () {
        var purpose = window.prompt("导出的文件含客户完整手机号，将记录导出人、筛选条件、行数和用途。\n请填写用途：");
        if (purpose === null) { return; }
        if (!purpose.trim()) { window.alert("请填写用途"); return; }
        start(link, kind, true, purpose.trim());
      });
      after.parentNode.insertBefore(full, after.nextSibling);
      after = full;
    }
    link.exportJobAnchor = after;
  }

  Array.prototype.forEach.call(document.querySelectorAll("a[href*='/admin/exports/']"), enhance);

  // The jobs page: rows of running jobs follow their progress and reload when finished.
  Array.prototype.forEach.call(document.querySelectorAll("tr.export-job"), function (row) {
    var status = row.getAttribute("data-status");
    if (status !== "queued" && status !== "running") { return; }
    var bar = row.querySelector("[data-role=bar]");
    var text = row.querySelector("[data-role=text]");
    var label = row.querySelector("[data-role=label]");
    poll(row.getAttribute("data-status-url"), function (d) {
      if (d.percent !== null && d.percent !== undefined) { bar.value = d.percent; bar.textContent = d.percent + "%"; }
      text.textContent = rowsText(d);
      label.textContent = LABELS[d.status] || d.status;
      if (d.status !== "queued" && d.status !== "running") { window.location.reload(); }
    });
  });
}());
