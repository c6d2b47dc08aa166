// Result page of a sales-list reconciliation: poll the status while the list is being
// reconciled, move the progress bar, and reload the page once it is done or failed.
(function () {
  "use strict";
  var box = document.getElementById("recon-progress");
  if (!box) { return; }
  var status = box.getAttribute("data-status");
  if (status !== "queued" && status !== "running") { return; }
  var url = box.getAttribute("data-status-url");
  var bar = box.querySelector("[data-role=bar]");
  var text = box.querySelector("[data-role=text]");
  var label = box.querySelector("[data-role=label]");
  var labels = {queued: "排队中", running: "处理中", done: "已完成", failed: "失败"};
  var delay = 1000;

  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { delay = Math.min(delay * 2, 10000); return; }
        bar.value = data.percent;
        bar.textContent = data.percent + "%";
        text.textContent = "已处理 " + data.rows_done + " / " + (data.rows_total === null ? "?" : data.rows_total) + " 行";
        label.textContent = labels[data.status] || data.status;
        label.className = "badge status-" + data.status;
        if (data.status === "done" || data.status === "failed") {
          window.location.reload();
          return;
        }
      })
      .catch(function () { delay = Math.min(delay * 2, 10000); })
      .then(function () {
        if (label.className.indexOf("status-done") < 0 && label.className.indexOf("status-failed") < 0) {
          window.setTimeout(poll, delay);
        }
      });
  }
  window.setTimeout(poll, delay);
}());
