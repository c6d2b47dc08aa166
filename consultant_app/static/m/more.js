/* The consultant app's pages for disputes, credit, visits, deal-change objections, the phone
 * check and the leaderboard (issue 17), on the helpers app.js exports as window.M.
 * Same rules as app.js: ES2017 without modules or optional chaining, no framework, no CDN.
 */
(function (M) {
  "use strict";
  if (!M) { return; }
  var h = M.h, byId = M.byId, setText = M.setText, show = M.show, pill = M.pill, pages = M.pages;

  function tabs(id, attribute, onChange) {
    M.$all("#" + id + " button").forEach(function (button) {
      button.addEventListener("click", function () {
        M.$all("#" + id + " button").forEach(function (b) { b.classList.toggle("on", b === button); });
        onChange(button.getAttribute(attribute));
      });
    });
  }

  function loadFailed(stateId, error) {
    var state = byId(stateId);
    state.className = "state error";
    state.textContent = (error && error.message) || "加载失败，请稍后重试";
  }

  /* POST multipart (a statement with its files) with the bearer token; one retry after a 401. */
  function apiForm(path, formData, retried) {
    return fetch(M.API + path, {method: "POST", credentials: "omit", body: formData,
                                headers: {"Accept": "application/json", "Authorization": "Bearer " + M.session.token}})
      .then(M.readResponse, M.networkError)
      .then(function (result) {
        if (result.status === 401 && !retried) { return M.refreshToken().then(function () { return apiForm(path, formData, true); }); }
        return result;
      });
  }

  // --- his visits ------------------------------------------------------------------------------

  var VISIT_PILL = {scheduled: "warn", confirmed: "ok", invalid: "off", cancelled: "grey"};

  pages.visits = function () {
    var today = M.todayShanghai();
    var FILTERS = {
      today: {date_from: today, date_to: today},
      upcoming: {status: "scheduled", date_from: today},
      confirmed: {status: "confirmed"},
      all: {}
    };
    var EMPTY = {today: "今天没有预约的带看", upcoming: "没有待到访的带看", confirmed: "还没有已到访的带看", all: "还没有带看"};
    var current = "today";
    var list = M.pagedList({
      list: "visits-list", more: "visits-more", path: "/visits", empty: EMPTY.today,
      render: function (v) {
        return h("li", {}, h("a", {class: "item", href: "/m/visits/" + v.id}, [
          h("div", {class: "row"}, [h("span", {class: "title", text: v.buyer_name + " · " + v.project.name}), pill(v.status_label, VISIT_PILL[v.status])]),
          h("div", {class: "meta", text: M.fmtDateTime(v.scheduled_at) + " · 核销码 " + v.check_in_code})
        ]));
      }
    });
    function reload() {
      // pagedList's empty text is fixed when it is made; the tab decides it here.
      list.reload(FILTERS[current]).then(function () {
        var empty = M.$(".state.empty", byId("visits-list"));
        if (empty) { empty.textContent = EMPTY[current]; }
      });
    }
    tabs("visit-tabs", "data-filter", function (value) { current = value; reload(); });
    reload();
  };

  // --- disputes --------------------------------------------------------------------------------------

  var DISPUTE_PILL = {open: "warn", investigating: "warn", upheld: "off", dismissed: "grey", withdrawn: "grey"};
  var ROLE_LABELS = {respondent: "被投诉方", claimant: "投诉人", protected: "受保护顾问"};

  pages.disputes = function () {
    var list = M.pagedList({
      list: "dispute-list", more: "dispute-more", path: "/disputes", empty: "没有与您有关的争议",
      render: function (d) {
        return h("li", {}, h("a", {class: "item", href: "/m/disputes/" + d.id}, [
          h("div", {class: "row"}, [h("span", {class: "title", text: d.subject}), pill(d.status_label, DISPUTE_PILL[d.status])]),
          h("div", {class: "meta", text: "#" + d.id + " · " + d.project.name + " · " + d.buyer_name + " · " + ROLE_LABELS[d.my_role]}),
          d.can_answer ? h("div", {class: "meta"}, [pill("请于 " + M.fmtDateTime(d.deadline_at) + " 前陈述", "warn")]) : null
        ]));
      }
    });
    tabs("dispute-tabs", "data-status", function (status) { list.reload({status: status}); });
    list.reload({});
  };

  function fileNames(input) {
    return Array.prototype.slice.call(input.files || []).map(function (f) { return f.name; }).join("、");
  }

  pages.dispute = function () {
    var form = byId("statement-form"), withdrawForm = byId("withdraw-form");
    var fileInput = form.elements.file;
    fileInput.addEventListener("change", function () { setText("s-file-list", fileNames(fileInput)); M.clearErrors(form); });

    function render(d) {
      show(byId("dispute-state"), false);
      show(byId("dispute-body"), true);
      setText("page-title", "争议 #" + d.id);
      setText("dp-subject", d.subject);
      var status = byId("dp-status");
      status.textContent = d.status_label;
      status.className = "pill " + (DISPUTE_PILL[d.status] || "");
      setText("dp-summary", d.summary);
      setText("dp-id", "#" + d.id);
      setText("dp-source", d.source_label);
      setText("dp-project", d.project.name);
      setText("dp-buyer", d.buyer_name + " " + d.buyer_phone);
      setText("dp-role", ROLE_LABELS[d.my_role] || d.my_role);
      setText("dp-other", d.other_side);
      setText("dp-deadline", M.fmtDateTime(d.deadline_at) + (d.can_answer ? "（" + M.timeLeft(d.deadline_at) + "）" : ""));
      if (d.outcome) {
        show(byId("dp-outcome-card"), true);
        setText("dp-outcome", d.outcome.outcome_label);
        setText("dp-reason", d.outcome.reason);
        setText("dp-decided", M.fmtDateTime(d.outcome.decided_at));
        show(byId("dp-penalty-row"), d.outcome.penalty_cents > 0);
        setText("dp-penalty", M.yuan(d.outcome.penalty_cents));
        show(byId("dp-stake-row"), d.outcome.stake_cents > 0);
        setText("dp-stake", M.yuan(d.outcome.stake_cents));
      }
      var statements = M.clear(byId("statement-list"));
      if (!d.my_statements.length) { statements.appendChild(M.stateItem("empty", "您还没有提交陈述")); }
      d.my_statements.forEach(function (s) {
        statements.appendChild(h("li", {class: "item"}, [
          h("div", {class: "meta", text: M.fmtDateTime(s.created_at)}),
          h("p", {text: s.text}),
          s.attachments.length ? h("div", {class: "meta"}, s.attachments.map(function (a) {
            return pill(a.filename + "（" + Math.max(1, Math.round(a.size_bytes / 1024)) + " KB）", "grey");
          })) : null
        ]));
      });
      show(form, d.can_answer);
      var closed = byId("statement-closed");
      show(closed, !d.can_answer);
      closed.textContent = ["open", "investigating"].indexOf(d.status) >= 0 ? "陈述截止时间已过，不能再提交陈述。" : "争议已结案，不能再提交陈述。";
      var events = M.clear(byId("event-list"));
      d.events.forEach(function (e) {
        events.appendChild(h("li", {class: "item"}, [h("div", {class: "row"}, [h("span", {class: "title", text: e.label}), h("span", {class: "meta", text: M.fmtDateTime(e.created_at)})])]));
      });
      show(withdrawForm, d.can_withdraw);
    }

    function load() {
      return M.api("/disputes/" + M.OBJECT_ID).then(function (result) {
        if (!result.ok) { loadFailed("dispute-state", result.error); return; }
        render(result.data);
      });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = M.formValue(form, "text");
      if (!text) { M.fieldError(form, "text", "请填写陈述内容"); return; }
      var files = Array.prototype.slice.call(fileInput.files || []);
      if (files.length > 5) { M.fieldError(form, "file", "每次陈述最多上传 5 个附件"); return; }
      var big = files.filter(function (f) { return f.size > 5 * 1024 * 1024; });
      if (big.length) { M.fieldError(form, "file", big[0].name + " 超过 5 MB，请压缩后再上传"); return; }
      var data = new FormData();
      data.append("text", text);
      files.forEach(function (f) { data.append("file", f, f.name); });
      M.busy(form, true, "提交中…");
      apiForm("/disputes/" + M.OBJECT_ID + "/statement", data).then(function (r) {
        M.busy(form, false);
        if (!r.ok) { M.showErrors(form, r.error); return; }
        form.reset();
        setText("s-file-list", "");
        M.clearErrors(form);
        M.toast("陈述已提交");
        load();
      });
    });

    withdrawForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var reason = M.formValue(withdrawForm, "reason");
      if (!reason) { M.fieldError(withdrawForm, "reason", "请填写撤回原因"); return; }
      if (!window.confirm("撤回后争议结案，不能恢复。确定撤回吗？")) { return; }
      M.busy(withdrawForm, true, "撤回中…");
      M.apiPost("/disputes/" + M.OBJECT_ID + "/withdraw", {reason: reason}).then(function (r) {
        M.busy(withdrawForm, false);
        if (!r.ok) { M.showErrors(withdrawForm, r.error); return; }
        M.toast("投诉已撤回");
        render(r.data);
      });
    });
    load();
  };

  pages.dispute_new = function () {
    var form = byId("complaint-form"), select = form.elements.registration_id;
    var wanted = document.body.getAttribute("data-registration");
    M.api("/registrations?per_page=100").then(function (result) {
      M.clear(select);
      if (!result.ok) { select.appendChild(h("option", {value: "", text: "加载失败，请刷新重试"})); return; }
      select.appendChild(h("option", {value: "", text: result.data.items.length ? "请选择客户" : "您还没有报备客户"}));
      result.data.items.forEach(function (r) {
        select.appendChild(h("option", {value: r.id, text: r.buyer_name + " · " + r.project.name + "（" + r.status_label + "）"}));
      });
      if (wanted) { select.value = wanted; }
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!select.value) { M.fieldError(form, "registration_id", "请选择被截走的客户"); return; }
      M.busy(form, true, "提交中…");
      M.apiPost("/disputes", {registration_id: parseInt(select.value, 10), against: form.elements.against.value,
                              subject: M.formValue(form, "subject"), summary: M.formValue(form, "summary")}).then(function (r) {
        M.busy(form, false);
        if (!r.ok) { M.showErrors(form, r.error); return; }
        M.toast(r.status === 201 ? "投诉已立案" : "该报备已投诉过，已为您打开原争议");
        location.href = "/m/disputes/" + r.data.id;
      });
    });
  };

  // --- credit ----------------------------------------------------------------------------------------

  pages.credit = function () {
    M.pagedList({
      list: "credit-list", more: "credit-more", path: "/credit", empty: "信用分还没有变动",
      items: function (data) { return data.events; },
      onData: function (data) {
        setText("credit-score", data.score);
        setText("credit-note", "满分 100 分；低于 " + data.threshold + " 分时，每个楼盘每天的报备数量受限");
        var low = byId("credit-low");
        show(low, data.low);
        low.textContent = "您的信用分低于 " + data.threshold + " 分，每个楼盘每天的报备数量受限。按规则报备、配合回访可逐步恢复。";
      },
      render: function (e) {
        return h("li", {class: "item"}, [
          h("div", {class: "row"}, [h("span", {class: "title", text: e.reason_label}),
                                    h("strong", {class: "money " + (e.delta < 0 ? "minus" : "plus"), text: (e.delta > 0 ? "+" : "") + e.delta})]),
          h("div", {class: "meta", text: e.reason_text}),
          h("div", {class: "meta", text: M.fmtDateTime(e.created_at) + " · 变动后 " + e.score_after + " 分"})
        ]);
      }
    }).reload({});
  };

  // --- objections to a deal change (退房、补录) ---------------------------------------------------------

  function requestItem(r, onDealPage) {
    var li = h("li", {class: "item", id: "request-" + r.id});
    var form = h("form", {novalidate: true});
    var text = h("textarea", {name: "text", maxlength: "1000", "aria-label": "异议内容", placeholder: "说明您为什么不同意，如：客户并未退房"});
    text.value = r.objection || "";
    [text, h("div", {class: "field-error", "data-error-for": "text"}), h("div", {class: "alert", "data-form-error": true, hidden: true}),
     h("button", {class: "primary block", type: "submit", text: r.objection ? "修改异议" : "提出异议"})]
      .forEach(function (el) { form.appendChild(el); });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!text.value.trim()) { M.fieldError(form, "text", "请填写异议内容"); return; }
      M.busy(form, true, "提交中…");
      M.apiPost("/deal-requests/" + r.id + "/objection", {text: text.value.trim()}).then(function (result) {
        M.busy(form, false);
        if (!result.ok) { M.showErrors(form, result.error); return; }
        M.toast("异议已提交，审核人会先看到您的异议");
        li.parentNode.replaceChild(requestItem(result.data, onDealPage), li);
      });
    });
    [
      h("div", {class: "row"}, [h("span", {class: "title", text: r.kind_label + " · " + r.project_name + (r.unit ? " " + r.unit : "")}),
                                pill(r.status_label, r.status === "pending" ? "warn" : r.status === "approved" ? "off" : "grey")]),
      h("div", {class: "meta", text: r.buyer_name + (r.price_cents ? " · " + M.yuan(r.price_cents) : "") + " · 申请于 " + M.fmtDateTime(r.created_at)}),
      h("p", {class: "small", text: "案场原因：" + r.reason}),
      r.objection && r.status !== "pending" ? h("p", {class: "small", text: "我的异议：" + r.objection}) : null,
      r.decision_note ? h("p", {class: "small", text: "平台意见：" + r.decision_note}) : null,
      r.status === "pending" ? form : null,
      r.deal_id && !onDealPage ? h("a", {class: "button plain more", href: "/m/deals/" + r.deal_id, text: "查看成交"}) : null
    ].forEach(function (el) { if (el) { li.appendChild(el); } });
    return li;
  }

  pages.deal_requests = function () {
    var list = M.pagedList({list: "request-list", more: "request-more", path: "/deal-requests", empty: "没有待审核的申请", render: function (r) { return requestItem(r, false); }});
    tabs("request-tabs", "data-status", function (status) { list.reload({status: status}); });
    list.reload({status: "pending"}).then(function () {
      var target = location.hash && byId(location.hash.slice(1));
      if (target && target.scrollIntoView) { target.scrollIntoView(); }
    });
  };

  var dealPage = pages.deal;
  pages.deal = function () {
    dealPage();
    M.api("/deal-requests?status=pending&per_page=100").then(function (result) {
      if (!result.ok) { return; }
      var mine = result.data.items.filter(function (r) { return String(r.deal_id) === String(M.OBJECT_ID); });
      if (!mine.length) { return; }
      show(byId("deal-requests-card"), true);
      var list = M.clear(byId("deal-request-list"));
      mine.forEach(function (r) { list.appendChild(requestItem(r, true)); });
    });
  };

  // --- verifying his phone ---------------------------------------------------------------------------

  pages.phone = function () {
    var form = byId("phone-form"), next = document.body.getAttribute("data-next") || "/m/";
    M.api("/consultants/me").then(function (result) {
      if (!result.ok) { setText("phone-number", result.error.message); return; }
      setText("phone-number", result.data.phone);
      show(byId("phone-done"), result.data.phone_verified);
      show(form, !result.data.phone_verified);
    });
    M.smsCodeButton(byId("phone-send"), form, function () { return M.apiPost("/consultants/me/phone/send"); },
                    "code", "phone-sms-status");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!/^\d{6}$/.test(M.formValue(form, "code"))) { M.fieldError(form, "code", "请输入 6 位验证码"); return; }
      M.busy(form, true, "验证中…");
      M.apiPost("/consultants/me/phone/verify", {code: M.formValue(form, "code")}).then(function (r) {
        M.busy(form, false);
        if (!r.ok) { M.showCodeErrors(form, r.error, "code"); return; }
        M.toast("手机号已验证");
        show(form, false);
        show(byId("phone-done"), true);
        setTimeout(function () { location.href = next; }, 800);
      });
    });
  };

  // --- the leaderboard on the team page ------------------------------------------------------------------

  var teamPage = pages.team;
  pages.team = function () {
    teamPage();
    var list = byId("board-list");
    function load(period) {
      M.loading(list);
      setText("board-me", "");
      M.api("/team/leaderboard" + M.query({period: period})).then(function (result) {
        if (!result.ok) { M.failed(list, result.error); return; }
        var b = result.data;
        setText("board-me", b.me ? b.period_label + "您排第 " + b.me.rank + " 名，成交 " + b.me.deals + " 套，成交额 " + M.yuan(b.me.gmv_cents)
                                 : b.period_label + "您还没有成交，成交后即可上榜");
        M.clear(list);
        if (!b.items.length) { list.appendChild(M.stateItem("empty", b.period_label + "还没有成交")); }
        b.items.forEach(function (row) {
          list.appendChild(h("li", {class: "item" + (row.me ? " me" : "")}, [
            h("span", {class: "rank", text: row.rank}),
            h("div", {class: "grow"}, [h("div", {class: "title", text: row.name + (row.me ? "（我）" : "")}), h("div", {class: "meta", text: row.city})]),
            h("strong", {text: row.deals + " 套"})
          ]));
        });
      });
    }
    tabs("board-tabs", "data-period", load);
    load("month");
  };
}(window.M));
