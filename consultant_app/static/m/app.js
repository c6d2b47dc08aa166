/* The consultant's app (/m/): one small hand-written client of the mini-program API.
 *
 * Every page is an HTML shell; this script signs the page in (a short-lived bearer token
 * bought with the HttpOnly session cookie at /m/session/token, kept in memory only),
 * calls /api/mp/v1 like the mini-program does and fills the page. ES2017 without modules
 * or optional chaining, so WeChat's built-in browser runs it as is. No framework, no CDN.
 */
(function () {
  "use strict";

  var API = "/api/mp/v1";
  var PAGE = document.body.getAttribute("data-page");
  var OBJECT_ID = document.body.getAttribute("data-id");
  var session = {token: null, user: null, pending: null};

  // --- DOM -------------------------------------------------------------------------------------

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }
  function byId(id) { return document.getElementById(id); }

  /* h("a", {class: "item", href: "/m/x", onclick: fn}, [child, "text"]): text is always text, never HTML. */
  function h(tag, attrs, children) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) { return; }
      if (key.indexOf("on") === 0) { el.addEventListener(key.slice(2), value); }
      else if (key === "text") { el.textContent = value; }
      else if (key === "class") { el.className = value; }
      else { el.setAttribute(key, value === true ? "" : String(value)); }
    });
    (Array.isArray(children) ? children : children === undefined ? [] : [children]).forEach(function (child) {
      if (child === null || child === undefined || child === false) { return; }
      el.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
    });
    return el;
  }

  function clear(el) { while (el.firstChild) { el.removeChild(el.firstChild); } return el; }
  function setText(id, value) { var el = byId(id); if (el) { el.textContent = value === null || value === undefined ? "" : String(value); } return el; }
  function show(el, visible) { if (el) { el.hidden = !visible; } return el; }

  function toast(text) {
    var el = h("div", {class: "toast", role: "status", text: text});
    document.body.appendChild(el);
    setTimeout(function () { if (el.parentNode) { el.parentNode.removeChild(el); } }, 2400);
  }

  // --- formatting (times are shown in Asia/Shanghai, whatever the phone's zone) ------------------

  var SHANGHAI_MS = 8 * 3600 * 1000;
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function shanghai(iso) { var d = new Date(iso); return isNaN(d.getTime()) ? null : new Date(d.getTime() + SHANGHAI_MS); }
  function fmtDate(iso) {
    if (!iso) { return "—"; }
    if (/^\d{4}-\d{2}-\d{2}$/.test(iso)) { return iso; }
    var d = shanghai(iso);
    return d ? d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) : "—";
  }
  function fmtDateTime(iso) {
    var d = iso && shanghai(iso);
    return d ? fmtDate(iso) + " " + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) : "—";
  }
  function todayShanghai() { return fmtDate(new Date().toISOString()); }
  function addDays(day, n) {
    var d = new Date(day + "T00:00:00Z");
    d = new Date(d.getTime() + n * 86400000);
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate());
  }
  function shanghaiInstant(day, time) { return day + "T" + (time || "10:00") + ":00+08:00"; }
  function hoursLeft(iso) { return Math.floor((new Date(iso).getTime() - Date.now()) / 3600000); }
  function timeLeft(iso) {
    var minutes = Math.floor((new Date(iso).getTime() - Date.now()) / 60000);
    if (minutes <= 0) { return "已超时"; }
    if (minutes < 60) { return "剩 " + minutes + " 分钟"; }
    return "剩 " + Math.floor(minutes / 60) + " 小时 " + (minutes % 60) + " 分";
  }
  function yuan(cents) {
    if (cents === null || cents === undefined) { return "—"; }
    var negative = cents < 0, abs = Math.abs(cents);
    var whole = String(Math.floor(abs / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (negative ? "-" : "") + "¥" + whole + "." + pad(abs % 100);
  }
  function wan(cents) {
    if (!cents) { return "待定"; }
    var value = cents / 1000000;  // 万元 = 1,000,000 分
    return (Math.round(value * 10) / 10) + " 万";
  }
  function bps(value) { return value === null || value === undefined ? "—" : (value / 100).toFixed(1) + "%"; }

  // Phones as people type them: keep digits (full-width too), show 138 0000 0000.
  function phoneDigits(value) {
    var digits = String(value || "").replace(/[\uFF10-\uFF19]/g, function (c) {
      return String.fromCharCode(c.charCodeAt(0) - 0xFF10 + 48);
    }).replace(/\D/g, "");
    if (digits.length > 11 && /^(0086|86)/.test(digits)) { digits = digits.replace(/^(0086|86)/, ""); }
    return digits;
  }
  function phoneDisplay(digits) {
    if (digits.length <= 3) { return digits; }
    if (digits.length <= 7) { return digits.slice(0, 3) + " " + digits.slice(3); }
    return digits.slice(0, 3) + " " + digits.slice(3, 7) + " " + digits.slice(7, 11);
  }
  function phoneValid(digits) { return /^1[3-9]\d{9}$/.test(digits); }
  function bindPhoneInputs(root) {
    $all("input[data-phone]", root).forEach(function (input) {
      input.addEventListener("input", function () {
        var digits = phoneDigits(input.value);
        if (digits.length <= 11 && /^\d*$/.test(digits)) { input.value = phoneDisplay(digits); }
      });
    });
  }

  // --- session and API ---------------------------------------------------------------------------

  function postSession(path, body) {
    return fetch("/m/session/" + path, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-Requested-With": "fetch", "Accept": "application/json"},
      body: JSON.stringify(body || {})
    }).then(readResponse);
  }

  function readResponse(response) {
    var type = response.headers.get("Content-Type") || "";
    var parse = type.indexOf("json") >= 0 ? response.json() : Promise.resolve(null);
    return parse.catch(function () { return null; }).then(function (data) {
      return {ok: response.ok, status: response.status, data: data,
              error: !response.ok ? (data && data.error) || {code: "http_" + response.status, message: "请求失败（" + response.status + "），请稍后重试"} : null};
    });
  }

  function networkError() {
    return {ok: false, status: 0, data: null, error: {code: "network", message: "网络异常，请检查网络后重试"}};
  }

  function signInUrl() {
    return "/m/signin?next=" + encodeURIComponent(location.pathname + location.search);
  }

  /* A fresh bearer token from the session cookie; without a session, off to the sign-in page. */
  function refreshToken() {
    if (!session.pending) {
      session.pending = postSession("token").then(function (result) {
        session.pending = null;
        if (!result.ok) {
          session.token = null;
          if (result.status === 401) { location.replace(signInUrl()); return new Promise(function () {}); }
          throw result.error;
        }
        session.token = result.data.token;
        session.user = result.data.user;
        return result.data;
      }, function () { session.pending = null; throw networkError().error; });
    }
    return session.pending;
  }

  function request(method, path, body, retried) {
    var headers = {"Accept": "application/json", "Authorization": "Bearer " + session.token};
    if (body !== undefined) { headers["Content-Type"] = "application/json"; }
    return fetch(API + path, {method: method, headers: headers, credentials: "omit",
                              body: body === undefined ? undefined : JSON.stringify(body)})
      .then(readResponse, networkError)
      .then(function (result) {
        if (result.status === 401 && !retried) {  // expired or revoked: buy another token once
          return refreshToken().then(function () { return request(method, path, body, true); });
        }
        return result;
      });
  }

  function api(path) { return request("GET", path); }
  function apiPost(path, body) { return request("POST", path, body === undefined ? {} : body); }

  /* Images the API serves only to their owner (QR codes): fetched with the token, shown as blob: URLs. */
  function apiImage(path) {
    return fetch(path, {headers: {"Authorization": "Bearer " + session.token}, credentials: "omit"})
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.blob();
      });
  }

  function query(params) {
    var parts = [];
    Object.keys(params).forEach(function (key) {
      var value = params[key];
      if (value !== "" && value !== null && value !== undefined) { parts.push(encodeURIComponent(key) + "=" + encodeURIComponent(value)); }
    });
    return parts.length ? "?" + parts.join("&") : "";
  }

  // --- loading, empty and error states; errors next to their fields ---------------------------------

  function stateItem(kind, text, action) {
    return h("li", {class: "state " + kind}, [text, action ? h("div", {}, action) : null]);
  }
  function loading(list) { clear(list).appendChild(stateItem("loading", "加载中…")); }
  function failed(list, error) { clear(list).appendChild(stateItem("error", (error && error.message) || "加载失败，请稍后重试")); }

  /* A paged list: loading state, empty state, "load more". */
  function pagedList(options) {
    var list = byId(options.list), more = byId(options.more);
    var page = 1, params = {};
    function load(reset) {
      if (reset) { page = 1; loading(list); }
      more && (more.disabled = true);
      return api(options.path + query(Object.assign({}, params, {page: page, per_page: options.perPage || 20})))
        .then(function (result) {
          if (reset) { clear(list); }
          if (!result.ok) { failed(list, result.error); show(more, false); return; }
          var items = options.items ? options.items(result.data) : result.data.items;
          if (reset && options.onData) { options.onData(result.data); }
          if (reset && !items.length) { list.appendChild(stateItem("empty", options.empty, options.emptyAction ? options.emptyAction() : null)); }
          items.forEach(function (item) { list.appendChild(options.render(item)); });
          var total = result.data.total || 0;
          show(more, page * (options.perPage || 20) < total);
          if (more) { more.disabled = false; }
        });
    }
    if (more) { more.addEventListener("click", function () { page += 1; load(false); }); }
    return {
      reload: function (newParams) { params = newParams || params; return load(true); },
      params: function () { return params; }
    };
  }

  function clearErrors(form) {
    $all("[data-error-for]", form).forEach(function (el) { el.textContent = ""; });
    $all("[aria-invalid]", form).forEach(function (el) { el.removeAttribute("aria-invalid"); });
    var general = $("[data-form-error]", form);
    if (general) { general.textContent = ""; general.hidden = true; }
  }

  /* The API's Chinese message, and each of details.fields next to the field it names. */
  function showErrors(form, error, fieldMap) {
    clearErrors(form);
    var fields = (error && error.details && error.details.fields) || {};
    var unplaced = [];
    Object.keys(fields).forEach(function (name) {
      var target = (fieldMap && fieldMap[name]) || name;
      var slot = $('[data-error-for="' + target + '"]', form);
      var messages = [].concat(fields[name]).map(function (m) { return typeof m === "string" ? m : JSON.stringify(m); }).join("；");
      if (slot) {
        slot.textContent = messages;
        var input = form.elements[target];
        if (input && input.setAttribute) { input.setAttribute("aria-invalid", "true"); }
      } else {
        unplaced.push(messages);
      }
    });
    var general = $("[data-form-error]", form);
    if (general && (!Object.keys(fields).length || unplaced.length)) {
      general.textContent = unplaced.length ? error.message + "：" + unplaced.join("；") : error.message;
      general.hidden = false;
    }
    var first = $('[aria-invalid="true"]', form);
    if (first && first.focus) { first.focus(); }
  }

  /* A refused SMS code names no field in the API's answer; on the page it belongs next to the code. */
  var SMS_CODE_ERRORS = {sms_code_invalid: true, sms_code_expired: true, sms_too_many_attempts: true};
  function showCodeErrors(form, error, codeField) {
    if (error && SMS_CODE_ERRORS[error.code]) { fieldError(form, codeField, error.message); return; }
    showErrors(form, error);
  }

  function fieldError(form, name, message) {
    showErrors(form, {message: message, details: {fields: (function () { var f = {}; f[name] = [message]; return f; }())}});
  }

  function busy(form, isBusy, label) {
    var button = $("button[type=submit]", form);
    if (!button) { return; }
    if (isBusy) { button.setAttribute("data-label", button.textContent); button.textContent = label || "提交中…"; }
    else if (button.getAttribute("data-label")) { button.textContent = button.getAttribute("data-label"); }
    button.disabled = isBusy;
  }

  function formValue(form, name) {
    var el = form.elements[name];
    return el ? String(el.value || "").trim() : "";
  }

  function timeOptions(select, selected) {
    clear(select);
    for (var hour = 8; hour <= 21; hour++) {
      ["00", "30"].forEach(function (minute) {
        var value = pad(hour) + ":" + minute;
        select.appendChild(h("option", {value: value, selected: value === selected, text: value}));
      });
    }
  }

  // --- shared bits of pages ------------------------------------------------------------------------------

  var REG_STATUS_PILL = {reported: "", visited: "ok", expired: "grey", lost: "off", cancelled: "grey"};
  var HANDOFF_PILL = {offered: "warn", accepted: "ok", declined: "grey", timed_out: "grey", withdrawn: "grey", unrouted: "off", cancelled: "grey"};

  function pill(text, kind) { return h("span", {class: "pill " + (kind || ""), text: text}); }

  function loadProjectOptions(select, options) {
    return api("/projects" + query({accepting_only: options.acceptingOnly ? "true" : "", per_page: 100})).then(function (result) {
      var keep = options.keepFirst ? select.options[0] : null;
      clear(select);
      if (keep) { select.appendChild(keep); }
      else { select.appendChild(h("option", {value: "", text: result.ok && result.data.items.length ? "请选择楼盘" : "暂无可报备的楼盘"})); }
      if (!result.ok) { return []; }
      result.data.items.forEach(function (p) {
        select.appendChild(h("option", {value: p.id, text: p.name + (p.district ? "（" + p.district + "）" : "")}));
      });
      if (options.selected) { select.value = String(options.selected); }
      return result.data.items;
    });
  }

  function unreadBadge() {
    var badge = byId("unread-count");
    if (!badge) { return; }
    api("/notifications?per_page=1").then(function (result) {
      if (!result.ok) { return; }
      badge.textContent = result.data.unread > 99 ? "99+" : String(result.data.unread);
      show(badge, result.data.unread > 0);
    });
  }

  function copyText(text) {
    if (navigator.clipboard && navigator.clipboard.writeText) {
      return navigator.clipboard.writeText(text).then(function () { toast("已复制"); }, function () { fallbackCopy(text); });
    }
    fallbackCopy(text);
    return Promise.resolve();
  }
  function fallbackCopy(text) {
    var area = h("textarea", {readonly: true});
    area.value = text;
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); toast("已复制"); } catch (e) { toast("请长按链接复制"); }
    document.body.removeChild(area);
  }

  /* A "获取验证码" button: checks the form's phone (when it has one), calls send(), counts down,
     and shows the API's refusal (rate limits included) next to its field. */
  function smsCodeButton(button, form, send, codeField, statusId) {
    var timer = null;
    function countdown(seconds) {
      var left = seconds;
      button.disabled = true;
      clearInterval(timer);
      button.textContent = left + " 秒后重发";
      timer = setInterval(function () {
        left -= 1;
        if (left <= 0) { clearInterval(timer); button.disabled = false; button.textContent = "重新获取"; }
        else { button.textContent = left + " 秒后重发"; }
      }, 1000);
    }
    button.addEventListener("click", function () {
      if (form.elements.phone && !phoneValid(phoneDigits(formValue(form, "phone")))) {
        fieldError(form, "phone", "请输入有效的中国大陆手机号");
        return;
      }
      clearErrors(form);
      button.disabled = true;
      send().then(function (result) {
        if (result.ok) {
          setText(statusId, "验证码已发送，" + Math.max(1, Math.round(result.data.expires_in_seconds / 60)) + " 分钟内有效");
          countdown(60);
          form.elements[codeField].focus();
          return;
        }
        button.disabled = false;
        showErrors(form, result.error);
        var wait = result.error.details && result.error.details.retry_after_seconds;
        if (wait) { countdown(wait); }
      });
    });
  }

  // --- pages ----------------------------------------------------------------------------------------------

  var pages = {};

  pages.signin = function () {
    var next = document.body.getAttribute("data-next") || "/m/";
    var inWechat = /MicroMessenger/i.test(navigator.userAgent);
    $all("[data-in-wechat-only]").forEach(function (el) { show(el, inWechat); });

    function done(result, form, codeField) {
      busy(form, false);
      if (result.ok) { location.replace(next); return; }
      if (codeField) { showCodeErrors(form, result.error, codeField); return; }
      showErrors(form, result.error);
    }
    var dev = byId("dev-form");
    if (dev) {
      dev.addEventListener("submit", function (event) {
        event.preventDefault();
        busy(dev, true, "登录中…");
        postSession("dev", {openid: formValue(dev, "openid")}).then(function (r) { done(r, dev); }, function () { done(networkError(), dev); });
      });
    }
    var sms = byId("sms-form");
    bindPhoneInputs(sms);
    var sendButton = byId("send-code"), timer = null;
    function countdown(seconds) {
      var left = seconds;
      sendButton.disabled = true;
      clearInterval(timer);
      sendButton.textContent = left + " 秒后重发";
      timer = setInterval(function () {
        left -= 1;
        if (left <= 0) { clearInterval(timer); sendButton.disabled = false; sendButton.textContent = "重新获取"; }
        else { sendButton.textContent = left + " 秒后重发"; }
      }, 1000);
    }
    sendButton.addEventListener("click", function () {
      var digits = phoneDigits(formValue(sms, "phone"));
      if (!phoneValid(digits)) { fieldError(sms, "phone", "请输入有效的中国大陆手机号"); return; }
      clearErrors(sms);
      sendButton.disabled = true;
      fetch(API + "/auth/sms/send", {method: "POST", credentials: "omit", headers: {"Content-Type": "application/json"},
                                      body: JSON.stringify({phone: digits})})
        .then(readResponse, networkError).then(function (result) {
          if (result.ok) {
            setText("sms-status", "验证码已发送，" + Math.max(1, Math.round(result.data.expires_in_seconds / 60)) + " 分钟内有效");
            countdown(60);
            sms.elements.code.focus();
            return;
          }
          sendButton.disabled = false;
          showErrors(sms, result.error);
          var wait = result.error.details && result.error.details.retry_after_seconds;
          if (wait) { countdown(wait); }
        });
    });
    sms.addEventListener("submit", function (event) {
      event.preventDefault();
      var digits = phoneDigits(formValue(sms, "phone"));
      if (!phoneValid(digits)) { fieldError(sms, "phone", "请输入有效的中国大陆手机号"); return; }
      if (!/^\d{6}$/.test(formValue(sms, "code"))) { fieldError(sms, "code", "请输入 6 位验证码"); return; }
      busy(sms, true, "登录中…");
      postSession("sms", {phone: digits, code: formValue(sms, "code")}).then(function (r) { done(r, sms, "code"); }, function () { done(networkError(), sms); });
    });
  };

  pages.home = function () {
    var user = session.user;
    setText("hello", "你好，" + (user.consultant_name || ""));
    api("/consultants/me").then(function (result) {
      if (result.ok) {
        setText("hello-status", result.data.status_label + " · " + result.data.kind_label + " · " + result.data.city);
        show(byId("verify-phone"), result.data.phone_verified === false);
      }
    });
    api("/earnings?per_page=1").then(function (result) {
      if (!result.ok) { return; }
      $all("[data-money]", byId("earnings-glance")).forEach(function (el) { el.textContent = yuan(result.data[el.getAttribute("data-money")]); });
    });
    api("/deals?per_page=1").then(function (result) { if (result.ok) { $('[data-figure="deals"]').textContent = result.data.total; } });

    var handoffs = byId("task-handoffs");
    loading(handoffs);
    api("/handoffs?role=received&per_page=50").then(function (result) {
      if (!result.ok) { failed(handoffs, result.error); return; }
      var open = result.data.items.filter(function (item) { return item.status === "offered"; });
      $('[data-figure="handoffs"]').textContent = open.length;
      clear(handoffs);
      if (!open.length) { handoffs.appendChild(stateItem("empty", "没有等待您回应的转介")); }
      open.forEach(function (item) {
        handoffs.appendChild(h("li", {}, h("a", {class: "item", href: "/m/handoffs"}, [
          h("div", {class: "row"}, [h("span", {class: "title", text: item.buyer_name + " · " + item.project.name}), pill(timeLeft(item.respond_by), "warn")]),
          h("div", {class: "meta", text: "来自 " + item.sender.name + (item.via_pool ? "（客户池）" : "")})
        ])));
      });
    });

    var followups = byId("task-followups");
    loading(followups);
    api("/clients?per_page=100").then(function (result) {
      if (!result.ok) { failed(followups, result.error); return; }
      var end = addDays(todayShanghai(), 1);
      var due = result.data.items.filter(function (c) { return c.next_contact_at && fmtDate(c.next_contact_at) < end; });
      due.sort(function (a, b) { return a.next_contact_at < b.next_contact_at ? -1 : 1; });
      clear(followups);
      if (!due.length) { followups.appendChild(stateItem("empty", "今天没有到期的跟进")); }
      due.forEach(function (c) {
        followups.appendChild(h("li", {}, h("a", {class: "item", href: "/m/clients/" + c.id}, [
          h("div", {class: "row"}, [h("span", {class: "title", text: c.display_name}), c.tier ? pill(c.tier_label || c.tier) : null]),
          h("div", {class: "meta", text: "约定联系 " + fmtDateTime(c.next_contact_at)})
        ])));
      });
    });

    var expiring = byId("task-expiring");
    loading(expiring);
    Promise.all([api("/registrations?status=reported&per_page=100"), api("/registrations?status=visited&per_page=100")]).then(function (results) {
      if (!results[0].ok) { failed(expiring, results[0].error); return; }
      var open = results[0].data.items.concat(results[1].ok ? results[1].data.items : []);
      $('[data-figure="registrations"]').textContent = open.length;
      var soon = open.filter(function (r) { return hoursLeft(r.protected_until) <= 7 * 24; });
      soon.sort(function (a, b) { return a.protected_until < b.protected_until ? -1 : 1; });
      clear(expiring);
      if (!soon.length) { expiring.appendChild(stateItem("empty", "7 天内没有到期的报备保护")); }
      soon.forEach(function (r) {
        expiring.appendChild(h("li", {}, h("a", {class: "item", href: "/m/registrations/" + r.id}, [
          h("div", {class: "row"}, [h("span", {class: "title", text: r.buyer_name + " · " + r.project.name}), pill("保护至 " + fmtDate(r.protected_until), "warn")])
        ])));
      });
    });

    // Visits to accompany: his scheduled visits from today on (GET /visits), today's first and marked.
    var visits = byId("task-visits"), today = todayShanghai();
    loading(visits);
    api("/visits" + query({status: "scheduled", date_from: today, per_page: 20})).then(function (result) {
      if (!result.ok) { failed(visits, result.error); return; }
      var todays = result.data.items.filter(function (v) { return fmtDate(v.scheduled_at) === today; }).length;
      setText("visits-today", todays ? "今天 " + todays + " 场" : "");
      clear(visits);
      if (!result.data.items.length) { visits.appendChild(stateItem("empty", "没有待陪同的带看")); }
      result.data.items.forEach(function (v) {
        var isToday = fmtDate(v.scheduled_at) === today;
        visits.appendChild(h("li", {}, h("a", {class: "item", href: "/m/visits/" + v.id}, [
          h("div", {class: "row"}, [h("span", {class: "title", text: v.buyer_name + " · " + v.project.name}), h("span", {class: "mono", text: v.check_in_code})]),
          h("div", {class: "meta"}, [fmtDateTime(v.scheduled_at) + " ", isToday ? pill("今天", "warn") : null])
        ])));
      });
    });
  };

  pages.join = function () {
    var form = byId("apply-form");
    bindPhoneInputs(form);
    var invite = document.body.getAttribute("data-invite");
    if (invite) { form.elements.inviter_code.value = invite; }
    show(byId("link-hint"), session.user && !session.user.consultant_id);
    var kind = form.elements.kind, company = byId("company-box");
    function toggleCompany() { show(company, kind.value !== "independent"); }
    kind.addEventListener("change", toggleCompany);
    toggleCompany();
    // The phone is proved at apply: the code sent to it (POST /auth/sms/send) goes with the application.
    smsCodeButton(byId("join-send-code"), form, function () {
      return fetch(API + "/auth/sms/send", {method: "POST", credentials: "omit", headers: {"Content-Type": "application/json"},
                                            body: JSON.stringify({phone: phoneDigits(formValue(form, "phone"))})}).then(readResponse, networkError);
    }, "phone_code", "join-sms-status");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var digits = phoneDigits(formValue(form, "phone"));
      if (!phoneValid(digits)) { fieldError(form, "phone", "请输入有效的中国大陆手机号"); return; }
      if (!/^\d{6}$/.test(formValue(form, "phone_code"))) { fieldError(form, "phone_code", "请先获取并填写 6 位短信验证码"); return; }
      busy(form, true);
      apiPost("/consultants", {
        name: formValue(form, "name"), phone: digits, phone_code: formValue(form, "phone_code"),
        city: formValue(form, "city"), kind: kind.value,
        company_name: kind.value === "independent" ? null : (formValue(form, "company_name") || null),
        inviter_code: formValue(form, "inviter_code").toUpperCase() || null
      }).then(function (result) {
        busy(form, false);
        if (result.ok) { location.href = "/m/join/agreement"; return; }
        showCodeErrors(form, result.error, "phone_code");
      });
    });
  };

  pages.agreement = function () {
    var form = byId("sign-form");
    api("/agreement").then(function (result) {
      var state = byId("agreement-state");
      if (!result.ok) { state.className = "state error"; state.textContent = result.error.message; return; }
      var a = result.data;
      show(state, false);
      show(byId("agreement-body"), true);
      setText("agreement-title", a.title);
      setText("agreement-version", "第 " + a.version + " 版");
      setText("agreement-published", fmtDate(a.published_at));
      setText("agreement-sha", a.sha256);
      setText("agreement-text", a.text);
      show(byId("signed-note"), a.signed);
      show(form, !a.signed);
      form.elements.agree.addEventListener("change", function () { clearErrors(form); });
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        if (!form.elements.agree.checked) { fieldError(form, "agree", "请先阅读并勾选同意"); return; }
        busy(form, true, "签署中…");
        apiPost("/agreement/sign", {version: a.version, sha256: a.sha256}).then(function (r) {
          busy(form, false);
          if (r.ok) { location.href = "/m/join/status"; return; }
          showErrors(form, r.error);
        });
      });
    });
  };

  pages.status = function () {
    function load() {
      Promise.all([api("/consultants/me"), api("/agreement")]).then(function (results) {
        var me = results[0], agreement = results[1];
        if (!me.ok) { setText("status-state", me.error.message); return; }
        var c = me.data, signed = agreement.ok && agreement.data.signed;
        show(byId("status-state"), false);
        show(byId("status-body"), true);
        show(byId("steps"), true);
        setText("status-label", c.status_label);
        show(byId("verify-phone"), c.phone_verified === false && c.status !== "rejected");
        var mark = byId("status-mark");
        mark.className = "mark" + (c.status === "active" ? "" : " warn");
        mark.textContent = c.status === "active" ? "✓" : "…";
        var texts = {
          pending: "运营正在审核您的申请，通常 1 个工作日内完成，结果会在消息中通知您。",
          active: signed ? "您已可以报备客户、分享楼盘和接收转介。" : "请阅读并签署最新版平台协议后开始使用。",
          rejected: "申请未通过：" + (c.status_reason || "") + "。可修改资料后重新申请。",
          suspended: "账号已暂停：" + (c.status_reason || "") + "。如有疑问请联系平台运营。",
          terminated: "合作已终止：" + (c.status_reason || "")
        };
        setText("status-text", texts[c.status] || "");
        setText("step-applied", fmtDate(c.created_at));
        setText("step-signed", signed ? "已签署" : "未签署");
        setText("step-approved", c.status === "active" ? "已通过 " + fmtDate(c.approved_at) : c.status_label);
        show(byId("sign-link"), !signed && ["pending", "active", "suspended"].indexOf(c.status) >= 0);
        show(byId("reapply-link"), c.status === "rejected");
        show(byId("start-link"), c.status === "active" && signed);
      });
    }
    byId("refresh-status").addEventListener("click", function () { refreshToken().then(load); });
    load();
  };

  pages.projects = function () {
    var form = byId("project-filters");
    var list = pagedList({
      list: "project-list", more: "project-more", path: "/projects", empty: "没有符合条件的楼盘",
      render: function (p) {
        return h("li", {}, h("a", {class: "item", href: "/m/projects/" + p.id}, [
          h("div", {class: "row"}, [h("span", {class: "title", text: p.name}),
                                    pill(p.accepting_registrations ? "可报备" : (p.not_accepting_message || p.status_label), p.accepting_registrations ? "ok" : "off")]),
          h("div", {class: "meta", text: [p.city, p.district].filter(Boolean).join(" · ") + " · " + wan(p.price_min_cents) + "–" + wan(p.price_max_cents)}),
          h("div", {class: "meta", text: p.rules_summary})
        ]));
      }
    });
    function reload() { list.reload({q: formValue(form, "q"), accepting_only: formValue(form, "accepting_only")}); }
    form.addEventListener("submit", function (event) { event.preventDefault(); reload(); });
    form.elements.accepting_only.addEventListener("change", reload);
    var typing = null;
    form.elements.q.addEventListener("input", function () { clearTimeout(typing); typing = setTimeout(reload, 400); });
    reload();
  };

  pages.project = function () {
    api("/projects/" + OBJECT_ID).then(function (result) {
      var state = byId("project-state");
      if (!result.ok) { state.className = "state error"; state.textContent = result.error.message; return; }
      var p = result.data, r = p.rules;
      show(state, false);
      show(byId("project-body"), true);
      setText("page-title", p.name);
      setText("p-name", p.name);
      var status = byId("p-status");
      status.textContent = p.accepting_registrations ? "可报备" : p.status_label;
      status.className = "pill " + (p.accepting_registrations ? "ok" : "off");
      setText("p-where", [p.city, p.district, p.address].filter(Boolean).join(" · "));
      setText("p-price", "总价 " + wan(p.price_min_cents) + " – " + wan(p.price_max_cents));
      setText("p-developer", "开发商：" + p.developer_name);
      if (!p.accepting_registrations) { show(setText("p-not-accepting", p.not_accepting_message || "该楼盘目前不接受报备"), true); }
      setText("r-mode", r.protection_mode_label);
      setText("r-summary", r.summary);
      setText("r-disclosure", r.phone_disclosure_label);
      setText("r-daily", r.daily_buyer_project_limit + " 个楼盘");
      setText("r-cooldown", r.reregister_cooldown_hours ? Math.round(r.reregister_cooldown_hours / 24 * 10) / 10 + " 天" : "无");
      var lines = clear(byId("r-lines"));
      (r.explanation || []).forEach(function (line) { lines.appendChild(h("li", {text: line})); });
      if (r.penalty_terms && r.penalty_terms.text) { setText("r-penalty", "违约条款：" + r.penalty_terms.text); }
      if (p.description || p.cooperation_end) {
        show(byId("p-about"), true);
        setText("p-description", p.description || "");
        setText("p-cooperation", p.cooperation_start || p.cooperation_end ? "合作期：" + (p.cooperation_start || "—") + " 至 " + (p.cooperation_end || "—") : "");
      }
      var reg = byId("p-register"), link = byId("p-link");
      reg.setAttribute("href", "/m/register?project_id=" + p.id);
      link.setAttribute("href", "/m/links?project_id=" + p.id);
      if (!p.accepting_registrations) { reg.className = "button plain"; }
    });
  };

  var DISCLOSURE_MASK = {
    full: function (d) { return d; },
    first3_last4: function (d) { return d.slice(0, 3) + "****" + d.slice(7); },
    first4_last3: function (d) { return d.slice(0, 4) + "****" + d.slice(8); }
  };

  pages.register = function () {
    var form = byId("register-form"), select = form.elements.project_id, phone = form.elements.buyer_phone;
    var rules = null;
    bindPhoneInputs(form);
    form.elements.expected_visit_on.setAttribute("min", todayShanghai());

    function describeDisclosure() {
      var digits = phoneDigits(phone.value), hint = byId("r-disclosure");
      hint.className = "hint";
      if (!digits) { hint.textContent = rules ? "案场将看到：" + rules.phone_disclosure_label : ""; return; }
      if (digits.length < 11) { hint.textContent = "还差 " + (11 - digits.length) + " 位"; return; }
      if (!phoneValid(digits)) { hint.textContent = "请输入有效的中国大陆手机号"; return; }
      hint.className = "hint ok";
      hint.textContent = rules ? "案场将看到：" + DISCLOSURE_MASK[rules.phone_disclosure](digits) + "（" + rules.phone_disclosure_label.replace(/（.*$/, "") + "）"
                               : "手机号格式正确";
    }
    function loadRules() {
      rules = null;
      setText("r-rule", "");
      describeDisclosure();
      if (!select.value) { return; }
      api("/projects/" + select.value).then(function (result) {
        if (!result.ok || String(result.data.id) !== select.value) { return; }
        rules = result.data.rules;
        setText("r-rule", rules.summary + "；同一客户每天最多报备 " + rules.daily_buyer_project_limit + " 个楼盘");
        describeDisclosure();
      });
    }
    phone.addEventListener("input", describeDisclosure);
    select.addEventListener("change", loadRules);
    loadProjectOptions(select, {acceptingOnly: true, selected: document.body.getAttribute("data-project")}).then(loadRules);

    var REFUSAL_TITLES = {
      already_registered: "该客户已被报备", reregister_cooldown: "冷却期内不能重新报备", daily_limit_reached: "今日报备已达上限",
      low_credit_daily_cap: "今日报备已达上限", buyer_known_to_developer: "案场老客户", project_not_accepting: "楼盘暂停报备",
      buyer_is_self: "不能报备自己", buyer_is_staff: "不能报备工作人员", contract_unsigned: "请先签署协议", consultant_inactive: "账号未激活"
    };
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      clearErrors(form);
      var day = form.elements.expected_visit_on.value;
      busy(form, true);
      apiPost("/registrations", {
        project_id: select.value ? parseInt(select.value, 10) : null,
        buyer_name: formValue(form, "buyer_name"), buyer_phone: phoneDigits(phone.value) || phone.value,
        note: formValue(form, "note") || null, expected_visit_at: day ? shanghaiInstant(day, "10:00") : null
      }).then(function (result) {
        busy(form, false);
        if (result.ok) { return showResult(true, result.data); }
        if (result.status === 422 || (result.error.details && result.error.details.fields)) { showErrors(form, result.error); return; }
        if (result.status === 409 || result.status === 429 || result.status === 403) { return showResult(false, result.error); }
        showErrors(form, result.error);
      });
    });

    function showResult(ok, data) {
      var box = byId("register-result"), actions = clear(byId("result-actions"));
      byId("result-mark").className = "mark" + (ok ? "" : " warn");
      setText("result-mark", ok ? "✓" : "!");
      if (ok) {
        setText("result-title", "报备成功");
        setText("result-text", data.buyer_name + " · " + data.project.name);
        setText("result-extra", "保护至 " + fmtDateTime(data.protected_until) + (data.binding ? "" : "（到访确认后锁定客户）"));
        actions.appendChild(h("a", {class: "button primary", href: "/m/registrations/" + data.id, text: "预约带看"}));
        actions.appendChild(h("a", {class: "button", href: "/m/register" + (select.value ? "?project_id=" + select.value : ""), text: "继续报备"}));
      } else {
        var d = data.details || {};
        setText("result-title", REFUSAL_TITLES[data.code] || "未能报备");
        setText("result-text", data.message);
        var extra = "";
        if (d.protected_until) { extra = "当前保护期至 " + fmtDateTime(d.protected_until) + "，保护期结束后可重新报备。"; }
        else if (d.available_at) { extra = "可于 " + fmtDateTime(d.available_at) + " 后重新报备。"; }
        else if (d.limit) { extra = "上限为每天 " + d.limit + (data.code === "daily_limit_reached" ? " 个楼盘。" : " 位客户。"); }
        setText("result-extra", extra);
        actions.appendChild(h("button", {type: "button", class: "button", text: "返回修改", onclick: function () {
          show(box, false); show(form, true);
        }}));
      }
      show(form, false);
      show(box, true);
      window.scrollTo(0, 0);
    }
  };

  pages.registrations = function () {
    var form = byId("registration-filters"), status = "";
    var list = pagedList({
      list: "registration-list", more: "registration-more", path: "/registrations", empty: "还没有报备记录",
      emptyAction: function () { return h("a", {class: "button primary", href: "/m/register", text: "去报备客户"}); },
      render: function (r) {
        return h("li", {}, h("a", {class: "item", href: "/m/registrations/" + r.id}, [
          h("div", {class: "row"}, [h("span", {class: "title", text: r.buyer_name + " · " + r.buyer_phone}), pill(r.status_label, REG_STATUS_PILL[r.status])]),
          h("div", {class: "meta", text: r.project.name + " · 报备于 " + fmtDate(r.created_at)}),
          ["reported", "visited"].indexOf(r.status) >= 0 ? h("div", {class: "meta", text: "保护至 " + fmtDateTime(r.protected_until)}) : null
        ]));
      }
    });
    function reload() { list.reload({status: status, tier: formValue(form, "tier"), tag: formValue(form, "tag")}); }
    $all("#status-tabs button").forEach(function (button) {
      button.addEventListener("click", function () {
        $all("#status-tabs button").forEach(function (b) { b.classList.toggle("on", b === button); });
        status = button.getAttribute("data-status");
        reload();
      });
    });
    form.elements.tier.addEventListener("change", reload);
    var typing = null;
    form.elements.tag.addEventListener("input", function () { clearTimeout(typing); typing = setTimeout(reload, 400); });
    form.addEventListener("submit", function (event) { event.preventDefault(); reload(); });
    reload();
  };

  function visitItem(v) {
    return h("li", {}, h("a", {class: "item", href: "/m/visits/" + v.id}, [
      h("div", {class: "row"}, [h("span", {class: "title", text: fmtDateTime(v.scheduled_at)}), pill(v.status_label, v.status === "confirmed" ? "ok" : v.status === "scheduled" ? "warn" : "grey")]),
      h("div", {class: "meta", text: "核销码 " + v.check_in_code})
    ]));
  }

  pages.registration = function () {
    var form = byId("visit-form");
    api("/registrations/" + OBJECT_ID).then(function (result) {
      var state = byId("reg-state");
      if (!result.ok) { state.className = "state error"; state.textContent = result.error.message; return; }
      var r = result.data;
      show(state, false);
      show(byId("reg-body"), true);
      setText("reg-buyer", r.buyer_name);
      var status = byId("reg-status");
      status.textContent = r.status_label;
      status.className = "pill " + (REG_STATUS_PILL[r.status] || "");
      setText("reg-phone", r.buyer_phone);
      setText("reg-project", r.project.name);
      setText("reg-created", fmtDateTime(r.created_at));
      setText("reg-until", fmtDateTime(r.protected_until));
      if (r.note) { show(byId("reg-note-row"), true); setText("reg-note", r.note); }
      var open = ["reported", "visited"].indexOf(r.status) >= 0;
      var list = byId("visit-list");
      loading(list);
      api("/registrations/" + r.id + "/visits").then(function (v) {
        clear(list);
        if (!v.ok) { failed(list, v.error); return; }
        if (!v.data.length) { list.appendChild(stateItem("empty", "还没有预约带看")); }
        v.data.forEach(function (visit) { list.appendChild(visitItem(visit)); });
        var scheduled = v.data.some(function (visit) { return visit.status === "scheduled"; });
        show(form, open && !scheduled);
      });
      form.elements.date.value = addDays(todayShanghai(), 1);
      form.elements.date.setAttribute("min", todayShanghai());
      form.elements.date.setAttribute("max", fmtDate(r.protected_until));
      timeOptions(form.elements.time, "10:00");
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        if (!form.elements.date.value) { fieldError(form, "scheduled_at", "请选择到访日期"); return; }
        busy(form, true);
        apiPost("/registrations/" + r.id + "/visits", {scheduled_at: shanghaiInstant(form.elements.date.value, form.elements.time.value)})
          .then(function (booked) {
            busy(form, false);
            if (booked.ok) { location.href = "/m/visits/" + booked.data.id; return; }
            showErrors(form, booked.error);
          });
      });
    });
  };

  pages.visit = function () {
    api("/visits/" + OBJECT_ID).then(function (result) {
      var state = byId("visit-state");
      if (!result.ok) { state.className = "state error"; state.textContent = result.error.message; return; }
      var v = result.data;
      show(state, false);
      show(byId("visit-body"), true);
      setText("visit-code", v.check_in_code);
      var status = byId("visit-status");
      status.textContent = v.status_label;
      status.className = "pill " + (v.status === "confirmed" ? "ok" : v.status === "scheduled" ? "warn" : "grey");
      setText("visit-buyer", v.buyer_name);
      setText("visit-project", v.project.name);
      setText("visit-address", v.project.address || [v.project.city, v.project.district].filter(Boolean).join(" "));
      setText("visit-when", fmtDateTime(v.scheduled_at));
      if (v.confirmed_at) { show(byId("visit-confirmed-row"), true); setText("visit-confirmed", fmtDateTime(v.confirmed_at)); }
      byId("visit-registration").setAttribute("href", "/m/registrations/" + v.registration_id);
      var img = byId("visit-qr");
      if (v.status === "scheduled") {
        apiImage(v.qr_url).then(function (blob) { img.src = URL.createObjectURL(blob); }, function () { show(img, false); });
      } else { show(img, false); }
      var cancel = byId("visit-cancel");
      show(cancel, v.status === "scheduled");
      cancel.addEventListener("click", function () {
        if (!window.confirm("确定取消这次预约吗？")) { return; }
        cancel.disabled = true;
        request("DELETE", "/visits/" + v.id).then(function (r) {
          cancel.disabled = false;
          if (r.ok) { location.reload(); return; }
          show(setText("visit-error", r.error.message), true);
        });
      });
    });
  };

  pages.clients = function () {
    var form = byId("client-filters");
    api("/clients/funnel").then(function (result) {
      var box = clear(byId("funnel"));
      if (!result.ok) { box.appendChild(h("div", {class: "stat"}, [h("strong", {text: "—"}), h("span", {text: result.error.message})])); return; }
      result.data.stages.forEach(function (s) {
        box.appendChild(h("div", {class: "stat"}, [h("strong", {text: s.count}), h("span", {text: s.label + (s.rate_bps === null ? "" : " · " + bps(s.rate_bps))})]));
      });
    });
    var list = pagedList({
      list: "client-list", more: "client-more", path: "/clients", empty: "还没有客户；报备后客户会出现在这里",
      render: function (c) {
        return h("li", {}, h("a", {class: "item", href: "/m/clients/" + c.id}, [
          h("div", {class: "row"}, [h("span", {class: "title", text: c.display_name + " · " + c.phone}), c.tier ? pill(c.tier_label || c.tier) : pill("未分级", "grey")]),
          c.tags.length ? h("div", {class: "meta"}, c.tags.map(function (t) { return pill(t.value, "grey"); })) : null,
          c.next_contact_at ? h("div", {class: "meta", text: "下次联系 " + fmtDateTime(c.next_contact_at)}) : null
        ]));
      }
    });
    function reload() { list.reload({q: formValue(form, "q"), tier: formValue(form, "tier")}); }
    form.addEventListener("submit", function (event) { event.preventDefault(); reload(); });
    form.elements.tier.addEventListener("change", reload);
    var typing = null;
    form.elements.q.addEventListener("input", function () { clearTimeout(typing); typing = setTimeout(reload, 400); });
    reload();
  };

  pages.client = function () {
    var id = OBJECT_ID;
    var notes = pagedList({
      list: "note-list", path: "/clients/" + id + "/notes", empty: "还没有跟进记录",
      render: function (n) {
        return h("li", {class: "item"}, [
          h("div", {class: "meta", text: fmtDateTime(n.created_at)}),
          h("p", {text: n.text}),
          n.next_contact_at ? h("div", {class: "meta", text: "下次联系 " + fmtDateTime(n.next_contact_at) + (n.reminded_at ? "（已提醒）" : "")}) : null
        ]);
      }
    });
    Promise.all([api("/clients/" + id), api("/clients/tag-vocabulary")]).then(function (results) {
      var state = byId("client-state"), card = results[0], vocabulary = results[1];
      if (!card.ok) { state.className = "state error"; state.textContent = card.error.message; return; }
      show(state, false);
      show(byId("client-body"), true);
      render(card.data);
      var tierForm = byId("tier-form"), tierSelect = tierForm.elements.tier;
      tierSelect.appendChild(h("option", {value: "", text: "未分级"}));
      (vocabulary.ok ? vocabulary.data.tiers : []).forEach(function (t) {
        tierSelect.appendChild(h("option", {value: t.tier, text: t.tier + " · " + t.label}));
      });
      tierSelect.value = card.data.tier || "";
      tierSelect.addEventListener("change", function () {
        request("PATCH", "/clients/" + id, {tier: tierSelect.value || null}).then(function (r) {
          if (r.ok) { render(r.data); toast("已更新分级"); clearErrors(tierForm); return; }
          showErrors(tierForm, r.error);
        });
      });
      buildTags(card.data, vocabulary.ok ? vocabulary.data.categories : []);
      notes.reload({});
    });

    function render(c) {
      setText("c-name", c.display_name);
      setText("page-title", c.display_name);
      setText("c-tier", c.tier ? c.tier_label || c.tier : "未分级");
      setText("c-phone", c.phone);
      setText("c-next", c.next_contact_at ? fmtDateTime(c.next_contact_at) : "未约定");
      var tags = clear(byId("c-tags"));
      c.tags.forEach(function (t) { tags.appendChild(pill(t.category_label + "：" + t.value)); });
    }

    function buildTags(card, categories) {
      var form = byId("tags-form"), box = clear(byId("tag-fields"));
      var current = {};
      card.tags.forEach(function (t) { (current[t.category] = current[t.category] || []).push(t.value); });
      categories.filter(function (c) { return !c.free; }).forEach(function (c) {
        var select = h("select", {name: "tag-" + c.category, "aria-label": c.label}, [h("option", {value: "", text: "不限"})]);
        c.values.forEach(function (v) { select.appendChild(h("option", {value: v, text: v})); });
        select.value = (current[c.category] || [""])[0];
        box.appendChild(h("label", {text: c.label}));
        box.appendChild(select);
      });
      form.elements.free.value = (current.free || []).join("，");
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var tags = [];
        categories.filter(function (c) { return !c.free; }).forEach(function (c) {
          var value = form.elements["tag-" + c.category].value;
          if (value) { tags.push({category: c.category, value: value}); }
        });
        formValue(form, "free").split(/[,，、\s]+/).filter(Boolean).forEach(function (v) { tags.push({category: "free", value: v}); });
        busy(form, true, "保存中…");
        request("PUT", "/clients/" + id + "/tags", {tags: tags}).then(function (r) {
          busy(form, false);
          if (r.ok) { render(r.data); clearErrors(form); toast("标签已保存"); return; }
          showErrors(form, r.error);
        });
      });
    }

    var noteForm = byId("note-form");
    timeOptions(noteForm.elements.next_time, "10:00");
    noteForm.elements.next_date.setAttribute("min", todayShanghai());
    noteForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var day = noteForm.elements.next_date.value;
      busy(noteForm, true);
      apiPost("/clients/" + id + "/notes", {text: formValue(noteForm, "text"),
                                            next_contact_at: day ? shanghaiInstant(day, noteForm.elements.next_time.value) : null})
        .then(function (r) {
          busy(noteForm, false);
          if (!r.ok) { showErrors(noteForm, r.error); return; }
          noteForm.reset();
          clearErrors(noteForm);
          timeOptions(noteForm.elements.next_time, "10:00");
          toast("已添加跟进");
          notes.reload({});
          api("/clients/" + id).then(function (c) { if (c.ok) { render(c.data); } });
        });
    });
  };

  function statsBoxes(box, stats) {
    clear(box);
    [["opens", "打开"], ["unique_visitors", "访客"], ["signups", "留资"], ["registrations", "报备"], ["visits", "到访"], ["deals", "成交"]]
      .forEach(function (pair) { box.appendChild(h("div", {class: "stat"}, [h("strong", {text: stats[pair[0]]}), h("span", {text: pair[1]})])); });
  }

  pages.links = function () {
    var form = byId("link-form");
    loadProjectOptions(form.elements.project_id, {acceptingOnly: true, keepFirst: true, selected: document.body.getAttribute("data-project")});
    var list = pagedList({
      list: "link-list", more: "link-more", path: "/invite-links", empty: "还没有邀请链接",
      render: function (entry) {
        var link = entry.link, s = entry.stats;
        return h("li", {}, h("a", {class: "item", href: "/m/links/" + link.id}, [
          h("div", {class: "row"}, [h("span", {class: "title", text: (link.project ? link.project.name : "我的名片") + " · " + link.channel_label}),
                                    pill(link.active ? "使用中" : "已停用", link.active ? "ok" : "grey")]),
          h("div", {class: "meta", text: "打开 " + s.opens + " · 留资 " + s.signups + " · 报备 " + s.registrations + " · 到访 " + s.visits + " · 成交 " + s.deals}),
          h("div", {class: "meta", text: "创建于 " + fmtDate(link.created_at)})
        ]));
      }
    });
    list.reload({});
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      busy(form, true, "生成中…");
      var project = form.elements.project_id.value;
      apiPost("/invite-links", {channel: form.elements.channel.value, project_id: project ? parseInt(project, 10) : null}).then(function (r) {
        busy(form, false);
        if (r.ok) { location.href = "/m/links/" + r.data.id; return; }
        showErrors(form, r.error);
      });
    });
  };

  /* The poster: drawn on a canvas from the link's QR (PNG from the API), then shown as an
     image people can long-press to save or forward (WeChat saves <img>, not <canvas>). */
  function drawPoster(link, consultantName, qrBlob) {
    return new Promise(function (resolve, reject) {
      var qr = new Image();
      var url = URL.createObjectURL(qrBlob);
      qr.onload = function () {
        var canvas = document.createElement("canvas"), w = 750, hgt = 1200;
        canvas.width = w;
        canvas.height = hgt;
        var ctx = canvas.getContext("2d");
        var font = '"PingFang SC", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif';
        var gradient = ctx.createLinearGradient(0, 0, w, hgt);
        gradient.addColorStop(0, "#1d3557");
        gradient.addColorStop(1, "#2a5a8a");
        ctx.fillStyle = gradient;
        ctx.fillRect(0, 0, w, hgt);
        ctx.fillStyle = "#ffd166";
        ctx.font = "bold 34px " + font;
        ctx.fillText("新房顾问 · 好房推荐", 60, 110);
        ctx.fillStyle = "#ffffff";
        ctx.font = "bold 64px " + font;
        var title = link.project ? link.project.name : consultantName + " 的名片";
        ctx.fillText(title.length > 10 ? title.slice(0, 10) + "…" : title, 60, 220);
        ctx.font = "34px " + font;
        if (link.project) { ctx.fillText([link.project.city, link.project.district].filter(Boolean).join(" · "), 60, 285); }
        ctx.fillText("置业顾问 " + consultantName + " 为您服务", 60, 345);
        ctx.fillStyle = "#ffffff";
        ctx.fillRect(175, 450, 400, 400);
        ctx.drawImage(qr, 195, 470, 360, 360);
        ctx.font = "30px " + font;
        ctx.textAlign = "center";
        ctx.fillText("微信扫码，查看楼盘并预约看房", w / 2, 920);
        ctx.font = "24px " + font;
        ctx.fillStyle = "rgba(255,255,255,.75)";
        ctx.fillText("长按识别二维码 · 信息仅用于看房服务", w / 2, 970);
        URL.revokeObjectURL(url);
        try { resolve(canvas.toDataURL("image/png")); } catch (e) { reject(e); }
      };
      qr.onerror = function () { URL.revokeObjectURL(url); reject(new Error("qr")); };
      qr.src = url;
    });
  }

  pages.link = function () {
    Promise.all([api("/invite-links/" + OBJECT_ID), api("/invite-links/" + OBJECT_ID + "/stats")]).then(function (results) {
      var state = byId("link-state"), link = results[0];
      if (!link.ok) { state.className = "state error"; state.textContent = link.error.message; return; }
      var l = link.data;
      show(state, false);
      show(byId("link-body"), true);
      setText("link-title", (l.project ? l.project.name : "我的名片") + " · " + l.channel_label);
      var active = byId("link-active");
      active.textContent = l.active ? "使用中" : "已停用";
      active.className = "pill " + (l.active ? "ok" : "grey");
      setText("link-url", l.share_url);
      byId("link-open").setAttribute("href", l.share_url);
      byId("link-copy").addEventListener("click", function () { copyText(l.share_url); });
      if (results[1].ok) { statsBoxes(byId("link-stats"), results[1].data); }
      var posterState = byId("poster-state"), poster = byId("poster");
      apiImage(l.qr_png_url).then(function (blob) {
        return drawPoster(l, session.user.consultant_name || "", blob);
      }).then(function (dataUrl) {
        poster.src = dataUrl;
        show(poster, true);
        show(posterState, false);
      }, function () { posterState.className = "state error"; posterState.textContent = "海报生成失败，请刷新重试"; });
      var disable = byId("link-disable");
      show(disable, l.active);
      disable.addEventListener("click", function () {
        if (!window.confirm("停用后，打开链接将显示“链接已失效”，历史数据保留。确定停用吗？")) { return; }
        request("DELETE", "/invite-links/" + l.id).then(function (r) { if (r.ok) { location.reload(); } else { toast(r.error.message); } });
      });
    });
  };

  pages.handoffs = function () {
    var role = "received";

    function answer(item, li, path, body, done, error) {
      return function (event) {
        event.target.disabled = true;
        apiPost("/handoffs/" + item.id + "/" + path, body ? body() : undefined).then(function (r) {
          event.target.disabled = false;
          if (r.ok) { toast(done); li.parentNode.replaceChild(renderHandoff(r.data), li); return; }
          var fields = r.error.details && r.error.details.fields;
          error.textContent = r.error.message + (fields && fields.reason ? "：" + fields.reason : "");
        });
      };
    }

    function renderHandoff(item) {
      var li = h("li", {class: "item"});
      var error = h("div", {class: "field-error"});
      var actions = null;
      if (item.role === "received" && item.status === "offered") {
        var reason = h("input", {name: "reason", maxlength: "200", placeholder: "拒绝理由（选填）", "aria-label": "拒绝理由"});
        actions = h("div", {}, [
          h("div", {class: "actions"}, [
            h("button", {type: "button", class: "primary", text: "接收",
                         onclick: answer(item, li, "accept", null, "已接收，客户已报备到您名下", error)}),
            h("button", {type: "button", class: "plain", text: "拒绝",
                         onclick: answer(item, li, "decline", function () { return {reason: reason.value.trim() || null}; }, "已拒绝", error)})
          ]),
          h("div", {class: "actions"}, reason)
        ]);
      } else if (item.role === "sent" && item.status === "offered") {
        actions = h("div", {class: "actions"}, h("button", {type: "button", class: "plain", text: "撤回",
                                                            onclick: answer(item, li, "cancel", null, "已撤回", error)}));
      }
      var who = item.role === "received" ? "来自 " + item.sender.name + (item.via_pool ? "（客户池）" : "")
                                          : "交给 " + (item.receiver ? item.receiver.name : "平台客户池");
      [
        h("div", {class: "row"}, [h("span", {class: "title", text: item.buyer_name + " · " + item.project.name}), pill(item.status_label, HANDOFF_PILL[item.status])]),
        h("div", {class: "meta", text: item.buyer_phone + " · " + who}),
        item.note ? h("div", {class: "meta", text: "说明：" + item.note}) : null,
        item.status === "offered" && item.respond_by ? h("div", {class: "meta", text: "请于 " + fmtDateTime(item.respond_by) + " 前回应（" + timeLeft(item.respond_by) + "）"}) : null,
        item.decline_reason ? h("div", {class: "meta", text: "拒绝理由：" + item.decline_reason}) : null,
        item.registration_id && item.role === "received" && item.status === "accepted"
          ? h("a", {class: "button plain more", href: "/m/registrations/" + item.registration_id, text: "查看报备"}) : null,
        actions,
        error
      ].forEach(function (child) { if (child) { li.appendChild(child); } });
      return li;
    }

    var list = pagedList({list: "handoff-list", more: "handoff-more", path: "/handoffs", empty: "暂无转介", render: renderHandoff});
    $all("#role-tabs button").forEach(function (button) {
      button.addEventListener("click", function () {
        $all("#role-tabs button").forEach(function (b) { b.classList.toggle("on", b === button); });
        role = button.getAttribute("data-role");
        list.reload({role: role});
      });
    });
    list.reload({role: role});
  };

  pages.handoff_new = function () {
    var form = byId("handoff-form");
    bindPhoneInputs(form);
    loadProjectOptions(form.elements.project_id, {acceptingOnly: true});
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var to = formValue(form, "to_consultant_id");
      if (to && !/^\d+$/.test(to)) { fieldError(form, "to_consultant_id", "请输入同事的顾问编号（数字）"); return; }
      busy(form, true, "发送中…");
      apiPost("/handoffs", {
        project_id: form.elements.project_id.value ? parseInt(form.elements.project_id.value, 10) : null,
        buyer_name: formValue(form, "buyer_name"), buyer_phone: phoneDigits(formValue(form, "buyer_phone")) || formValue(form, "buyer_phone"),
        to_consultant_id: to ? parseInt(to, 10) : null, note: formValue(form, "note") || null
      }).then(function (r) {
        busy(form, false);
        if (r.ok) { toast("已发送转介"); location.href = "/m/handoffs"; return; }
        showErrors(form, r.error);
      });
    });
  };

  pages.deals = function () {
    var list = pagedList({
      list: "deal-list", more: "deal-more", path: "/deals", empty: "还没有成交",
      render: function (d) {
        return h("li", {}, h("a", {class: "item", href: "/m/deals/" + d.id}, [
          h("div", {class: "row"}, [h("span", {class: "title", text: d.project_name + " · " + d.unit}), pill(d.stage_label, d.stage === "cancelled" ? "off" : "ok")]),
          h("div", {class: "meta", text: d.buyer_name + " · " + yuan(d.price_cents) + " · 认购 " + fmtDate(d.subscribed_on)}),
          h("div", {class: "meta", text: d.commission_recognised ? "佣金已确认" : "佣金待确认"})
        ]));
      }
    });
    $all("#stage-tabs button").forEach(function (button) {
      button.addEventListener("click", function () {
        $all("#stage-tabs button").forEach(function (b) { b.classList.toggle("on", b === button); });
        list.reload({stage: button.getAttribute("data-stage")});
      });
    });
    list.reload({});
  };

  pages.deal = function () {
    Promise.all([api("/deals/" + OBJECT_ID), api("/deals/" + OBJECT_ID + "/commission")]).then(function (results) {
      var state = byId("deal-state"), deal = results[0], commission = results[1];
      if (!deal.ok) { state.className = "state error"; state.textContent = deal.error.message; return; }
      var d = deal.data;
      show(state, false);
      show(byId("deal-body"), true);
      setText("d-title", d.project_name + " · " + d.unit);
      var stage = byId("d-stage");
      stage.textContent = d.stage_label;
      stage.className = "pill " + (d.stage === "cancelled" ? "off" : "ok");
      setText("d-buyer", d.buyer_name);
      setText("d-price", yuan(d.price_cents));
      setText("d-subscribed", fmtDate(d.subscribed_on));
      setText("d-signed", fmtDate(d.signed_on));
      setText("d-due", fmtDate(d.due_on));
      var lines = byId("line-list");
      if (!commission.ok) { failed(lines, commission.error); return; }
      var c = commission.data;
      setText("d-total", yuan(c.total_cents));
      setText("d-recognised", c.recognised ? "佣金已确认，计入待回款；开发商回款后转为可提现。" : "尚未到结佣节点，以下为预计金额。");
      clear(lines);
      if (!c.lines.length) { lines.appendChild(stateItem("empty", "这笔成交中没有您的佣金")); }
      var STATUS = {recognised: ["已确认", "ok"], reversed: ["已冲回", "off"], expected: ["预计", "warn"]};
      c.lines.forEach(function (line) {
        var s = STATUS[line.status] || [line.status, "grey"];
        lines.appendChild(h("li", {class: "item"}, [
          h("div", {class: "row"}, [h("span", {class: "title", text: line.role_label + (line.level ? " L" + line.level : "")}),
                                    h("strong", {class: "money " + (line.amount_cents < 0 ? "minus" : "plus"), text: yuan(line.amount_cents)})]),
          h("div", {class: "meta", text: line.reason}),
          pill(s[0], s[1])
        ]));
      });
    });
  };

  var ACCOUNT_LABELS = {pending: "待回款", available: "可提现", owes: "欠款", paid: "已发放"};

  pages.earnings = function () {
    pagedList({
      list: "history-list", more: "history-more", path: "/earnings", empty: "还没有收支记录；成交确认佣金后会显示在这里",
      items: function (data) { return data.history; },
      onData: function (data) {
        $all("[data-money]", byId("balances")).forEach(function (el) { el.textContent = yuan(data[el.getAttribute("data-money")]); });
      },
      render: function (item) {
        return h("li", {}, h(item.deal_id ? "a" : "div", {class: "item", href: item.deal_id ? "/m/deals/" + item.deal_id : null}, [
          h("div", {class: "row"}, [h("span", {class: "title", text: item.description}),
                                    h("strong", {class: "money " + (item.amount_cents < 0 ? "minus" : "plus"), text: (item.amount_cents > 0 ? "+" : "") + yuan(item.amount_cents)})]),
          h("div", {class: "meta", text: fmtDateTime(item.at) + " · " + (ACCOUNT_LABELS[item.account] || item.account)})
        ]));
      }
    }).reload({});
  };

  pages.team = function () {
    api("/team").then(function (result) {
      if (!result.ok) { setText("team-gmv", result.error.message); return; }
      $all("[data-figure]", byId("team-stats")).forEach(function (el) { el.textContent = result.data[el.getAttribute("data-figure")]; });
      setText("team-gmv", "团队成交额 " + yuan(result.data.gmv_cents));
    });
    api("/consultants/me/invite-card").then(function (result) {
      var state = byId("invite-state");
      if (!result.ok) { state.className = "state error"; state.textContent = result.error.message; return; }
      show(state, false);
      show(byId("invite-body"), true);
      var url = location.origin + "/m/join?invite=" + encodeURIComponent(result.data.invite_code);
      setText("invite-code", result.data.invite_code);
      setText("invite-url", url);
      byId("invite-copy").addEventListener("click", function () { copyText(result.data.share_text + " " + url); });
    });
  };

  /* Where a message leads: the object its payload names, the most specific first. */
  var NOTIFICATION_TARGETS = [
    ["dispute_id", "/m/disputes/", "查看争议"], ["deal_request_id", "/m/deal-requests#request-", "查看申请并提出异议"],
    ["deal_id", "/m/deals/", "查看成交"], ["visit_id", "/m/visits/", "查看带看"],
    ["handoff_id", "/m/handoffs", "查看转介"], ["registration_id", "/m/registrations/", "查看报备"],
    ["client_id", "/m/clients/", "查看客户"]
  ];
  function notificationLink(payload) {
    for (var i = 0; i < NOTIFICATION_TARGETS.length; i++) {
      var t = NOTIFICATION_TARGETS[i], id = payload[t[0]];
      if (typeof id === "number" && id > 0) {
        return h("a", {class: "button plain more", href: t[1] + (t[1].slice(-1) === "/" || t[1].slice(-1) === "-" ? id : ""), text: t[2]});
      }
    }
    if (typeof payload.score === "number") { return h("a", {class: "button plain more", href: "/m/credit", text: "查看信用分"}); }
    return null;
  }

  pages.notifications = function () {
    var unreadOnly = "";
    var list = pagedList({
      list: "notification-list", more: "notification-more", path: "/notifications", empty: "暂无消息",
      onData: function (data) { setText("unread-tab-count", data.unread ? "(" + data.unread + ")" : ""); },
      render: function (n) {
        var item = h("li", {class: "item"}, [
          h("div", {class: "row"}, [h("span", {class: "title", text: n.title}), n.read ? null : pill("未读", "warn")]),
          h("p", {class: "small", text: n.body}),
          h("div", {class: "meta", text: fmtDateTime(n.created_at)}),
          notificationLink(n.payload || {})
        ]);
        if (!n.read) {
          item.addEventListener("click", function () {
            apiPost("/notifications/" + n.id + "/read").then(function (r) {
              if (r.ok) { var p = $(".pill", item); if (p) { p.parentNode.removeChild(p); } }
            });
          });
        }
        return item;
      }
    });
    $all("#read-tabs button").forEach(function (button) {
      button.addEventListener("click", function () {
        $all("#read-tabs button").forEach(function (b) { b.classList.toggle("on", b === button); });
        unreadOnly = button.getAttribute("data-unread");
        list.reload({unread_only: unreadOnly});
      });
    });
    byId("read-all").addEventListener("click", function () {
      apiPost("/notifications/read-all").then(function (r) { if (r.ok) { toast("已全部标记为已读"); list.reload({unread_only: unreadOnly}); } });
    });
    list.reload({});
  };

  pages.me = function () {
    api("/consultants/me").then(function (result) {
      var state = byId("me-state");
      if (!result.ok) { state.className = "state error"; state.textContent = result.error.message; return; }
      var c = result.data;
      show(state, false);
      show(byId("me-body"), true);
      setText("me-name", c.name);
      setText("me-status", c.status_label);
      setText("me-id", c.id);
      setText("me-phone", c.phone + (c.phone_verified ? "" : "（未验证）"));
      show(byId("me-verify"), c.phone_verified === false);
      setText("me-kind", c.kind_label + (c.company_name ? " · " + c.company_name : ""));
      setText("me-city", c.city);
      setText("me-code", c.invite_code);
      setText("me-inviter", c.inviter ? c.inviter.name : "无");
    });
    byId("sign-out").addEventListener("click", function () {
      if (!window.confirm("退出后需要重新登录，确定退出吗？")) { return; }
      postSession("sign-out").then(function () { location.replace("/m/signin"); });
    });
  };

  // --- boot: sign the page in, send people where their status lets them go, fill the page ------------

  var PUBLIC = {signin: true, missing: true};
  var JOINING = {join: true, agreement: true, status: true, me: true, notifications: true, phone: true};
  var READING = {deals: true, deal: true, earnings: true, team: true, disputes: true, dispute: true, credit: true,
                 deal_requests: true, visits: true, payout: true, statements: true, statement: true,
                 buyback: true, buyback_requests: true};

  function route(user) {
    if (!user.consultant_id) { return PAGE === "join" ? null : "/m/join"; }
    if (PAGE === "join" && user.consultant_status !== "rejected") { return "/m/join/status"; }
    if (user.operating || JOINING[PAGE]) { return null; }
    if (READING[PAGE] && user.consultant_status !== "pending" && user.consultant_status !== "rejected") { return null; }
    return "/m/join/status";
  }

  function boot() {
    if (PUBLIC[PAGE]) {
      if (PAGE === "signin") { pages.signin(); }
      return;
    }
    refreshToken().then(function (data) {
      var target = route(data.user);
      if (target && target !== location.pathname) { location.replace(target); return; }
      unreadBadge();
      if (pages[PAGE]) { pages[PAGE](); }
    }, function (error) {
      var main = byId("main");
      clear(main).appendChild(h("div", {class: "card state error"}, [(error && error.message) || "加载失败，请稍后重试",
        h("button", {type: "button", class: "block", text: "重试", onclick: function () { location.reload(); }})]));
    });
  }

  /* The helpers and pages the other page scripts (more.js …) build on; boot waits for them. */
  window.M = {
    $: $, $all: $all, byId: byId, h: h, clear: clear, setText: setText, show: show, toast: toast,
    fmtDate: fmtDate, fmtDateTime: fmtDateTime, todayShanghai: todayShanghai, addDays: addDays, timeLeft: timeLeft,
    yuan: yuan, phoneDigits: phoneDigits, phoneValid: phoneValid, bindPhoneInputs: bindPhoneInputs,
    api: api, apiPost: apiPost, request: request, query: query, readResponse: readResponse, networkError: networkError,
    refreshToken: refreshToken, session: session, API: API, PAGE: PAGE, OBJECT_ID: OBJECT_ID,
    stateItem: stateItem, loading: loading, failed: failed, pagedList: pagedList, pill: pill,
    clearErrors: clearErrors, showErrors: showErrors, showCodeErrors: showCodeErrors, fieldError: fieldError, busy: busy, formValue: formValue,
    smsCodeButton: smsCodeButton, pages: pages
  };

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", boot); }
  else { boot(); }
}());
