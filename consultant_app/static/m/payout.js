/* The consultant app's payout pages (issue 17, on issue 12's API): his payout account (masked,
 * confirmed by SMS code, payable 24 hours later) and his statements (list, detail with the
 * withholding lines, XLSX download, printable, invoice upload). Helpers from app.js (window.M).
 */
(function (M) {
  "use strict";
  if (!M) { return; }
  var h = M.h, byId = M.byId, setText = M.setText, show = M.show, pill = M.pill, pages = M.pages;
  var ACCOUNT_PILL = {pending_verification: "warn", verified: "ok", replaced: "grey", abandoned: "grey"};
  var STATEMENT_PILL = {paid: "ok", failed: "off", held: "off", awaiting_invoice: "warn"};

  /* A file the API serves only to its owner: fetched with the token, saved through a blob link. */
  function download(path, filename) {
    return fetch(M.API + path, {credentials: "omit", headers: {"Authorization": "Bearer " + M.session.token}})
      .then(function (response) {
        if (response.status === 401) { return M.refreshToken().then(function () { return download(path, filename); }); }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.blob().then(function (blob) {
          var url = URL.createObjectURL(blob);
          var link = h("a", {href: url, download: filename, hidden: true});
          document.body.appendChild(link);
          link.click();
          setTimeout(function () { URL.revokeObjectURL(url); document.body.removeChild(link); }, 1000);
        });
      });
  }

  function postForm(path, data, retried) {
    return fetch(M.API + path, {method: "POST", credentials: "omit", body: data,
                                headers: {"Accept": "application/json", "Authorization": "Bearer " + M.session.token}})
      .then(M.readResponse, M.networkError)
      .then(function (result) {
        if (result.status === 401 && !retried) { return M.refreshToken().then(function () { return postForm(path, data, true); }); }
        return result;
      });
  }

  // --- the payout account -------------------------------------------------------------------------

  pages.payout = function () {
    var form = byId("account-form"), codeForm = byId("code-form"), list = byId("account-list");
    var pendingId = null;

    function accountItem(a) {
      return h("li", {class: "item"}, [
        h("div", {class: "row"}, [h("span", {class: "title", text: a.bank_name}), pill(a.status_label, ACCOUNT_PILL[a.status])]),
        h("div", {class: "meta mono", text: a.holder_name + " · " + a.account_number_masked + (a.id_number_masked ? " · 身份证 " + a.id_number_masked : "")}),
        a.status === "verified" && a.payable_from ? h("div", {class: "meta", text: new Date(a.payable_from).getTime() > Date.now()
          ? "等待期中，" + M.fmtDateTime(a.payable_from) + " 后可用于付款" : "可用于付款（" + M.fmtDateTime(a.payable_from) + " 起）"}) : null
      ]);
    }

    function load() {
      M.loading(list);
      return Promise.all([M.api("/payout-accounts"), M.api("/consultants/me")]).then(function (results) {
        var accounts = results[0], me = results[1];
        if (!accounts.ok) { M.failed(list, accounts.error); return; }
        M.clear(list);
        var shown = accounts.data.items.filter(function (a) { return a.status !== "abandoned"; });
        if (!shown.length) { list.appendChild(M.stateItem("empty", "还没有收款账户，请在下方添加")); }
        shown.forEach(function (a) { list.appendChild(accountItem(a)); });
        var pending = accounts.data.items.filter(function (a) { return a.status === "pending_verification"; })[0];
        pendingId = pending ? pending.id : null;
        show(codeForm, !!pending);
        if (pending) { setText("code-account", pending.bank_name + " " + pending.account_number_masked + "（待验证）"); }
        var verified = accounts.data.items.some(function (a) { return a.status === "verified"; });
        setText("account-form-title", verified ? "更换收款账户" : "添加收款账户");
        if (me.ok) {
          var corporate = me.data.kind !== "independent";
          show(byId("id-box"), !corporate);
          if (!form.elements.holder_name.value) { form.elements.holder_name.value = corporate ? (me.data.company_name || "") : me.data.name; }
        }
      });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      M.busy(form, true, "提交中…");
      var idBox = byId("id-box");
      M.apiPost("/payout-accounts", {
        holder_name: M.formValue(form, "holder_name"), bank_name: M.formValue(form, "bank_name"),
        account_number: M.formValue(form, "account_number").replace(/\s+/g, ""),
        id_number: idBox.hidden ? null : (M.formValue(form, "id_number").toUpperCase() || null)
      }).then(function (r) {
        M.busy(form, false);
        if (!r.ok) { M.showErrors(form, r.error); return; }
        form.elements.account_number.value = "";
        form.elements.id_number.value = "";
        M.clearErrors(form);
        M.toast("请用短信验证码确认新账户");
        load().then(function () { codeForm.elements.code.focus(); });
      });
    });

    M.smsCodeButton(byId("account-send"), codeForm, function () {
      return M.apiPost("/payout-accounts/" + pendingId + "/send-code").then(function (r) {
        if (!r.ok && r.error.code === "phone_unverified") {
          r.error = {code: r.error.code, message: r.error.message, details: {fields: {code: [r.error.message + "（我的 → 手机号 → 去验证）"]}}};
        }
        return r;
      });
    }, "code", "account-sms-status");
    codeForm.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!/^\d{6}$/.test(M.formValue(codeForm, "code"))) { M.fieldError(codeForm, "code", "请输入 6 位验证码"); return; }
      M.busy(codeForm, true, "确认中…");
      M.apiPost("/payout-accounts/" + pendingId + "/verify", {code: M.formValue(codeForm, "code")}).then(function (r) {
        M.busy(codeForm, false);
        if (!r.ok) { M.showCodeErrors(codeForm, r.error, "code"); return; }
        codeForm.reset();
        M.toast("账户已确认，24 小时后可用于付款");
        load();
      });
    });
    load();
  };

  // --- statements --------------------------------------------------------------------------------------

  pages.statements = function () {
    M.pagedList({
      list: "statement-list", more: "statement-more", path: "/statements", empty: "还没有对账单；结算后每个批次会生成一份",
      render: function (s) {
        return h("li", {}, h("a", {class: "item", href: "/m/statements/" + s.id}, [
          h("div", {class: "row"}, [h("span", {class: "title", text: "结算批次 #" + s.batch_id + " · " + s.tax_month}), pill(s.status_label, STATEMENT_PILL[s.status])]),
          h("div", {class: "row"}, [h("span", {class: "meta", text: "应发 " + M.yuan(s.gross_cents)}), h("strong", {class: "money", text: "实发 " + M.yuan(s.net_cents)})]),
          s.invoice_required ? h("div", {class: "meta"}, [pill("待上传发票", "warn")]) : null
        ]));
      }
    }).reload({});
  };

  pages.statement = function () {
    var invoiceForm = byId("invoice-form");
    var inWechat = /MicroMessenger/i.test(navigator.userAgent);

    function render(s) {
      show(byId("statement-state"), false);
      show(byId("statement-body"), true);
      setText("st-title", "结算批次 #" + s.batch_id + " 对账单");
      var status = byId("st-status");
      status.textContent = s.status_label;
      status.className = "pill " + (STATEMENT_PILL[s.status] || "");
      setText("st-name", (M.session.user && M.session.user.consultant_name || "") + " · 生成于 " + M.fmtDateTime(s.created_at));
      var lines = M.clear(byId("st-lines"));
      s.lines.forEach(function (line) {
        lines.appendChild(h("div", {class: "kv"}, [h("span", {text: line.label}), h("span", {class: "money" + (line.amount_cents < 0 ? " minus" : ""), text: M.yuan(line.amount_cents)})]));
      });
      // The statement's own last line is usually 实发: then it is the total, not repeated below it.
      var last = s.lines.length ? s.lines[s.lines.length - 1] : null;
      if (last && last.amount_cents === s.net_cents) { lines.lastChild.className = "kv total"; }
      show(byId("st-net-row"), !(last && last.amount_cents === s.net_cents));
      setText("st-net", M.yuan(s.net_cents));
      setText("st-withholding", s.withholding_note);
      setText("st-account", s.account);
      setText("st-month", s.tax_month);
      show(byId("st-settled-row"), !!s.settled_at);
      setText("st-settled", M.fmtDateTime(s.settled_at));
      var problem = s.failure_reason || s.hold_reason;
      show(setText("st-problem", problem ? (s.failure_reason ? "付款失败：" : "暂缓付款：") + problem : ""), !!problem);
      show(invoiceForm, s.invoice_required);
      if (s.invoice_required && !invoiceForm.elements.amount.value) { invoiceForm.elements.amount.value = (s.net_cents / 100).toFixed(2); }
    }

    function load() {
      return M.api("/statements/" + M.OBJECT_ID).then(function (result) {
        if (!result.ok) { var state = byId("statement-state"); state.className = "state error"; state.textContent = result.error.message; return; }
        render(result.data);
      });
    }

    show(byId("st-xlsx-hint"), inWechat);
    byId("st-xlsx").addEventListener("click", function () {
      download("/statements/" + M.OBJECT_ID + "/xlsx", "对账单-" + M.OBJECT_ID + ".xlsx")
        .catch(function () { M.toast("下载失败，请稍后重试"); });
    });
    byId("st-print").addEventListener("click", function () { window.print(); });

    invoiceForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var amount = M.formValue(invoiceForm, "amount");
      if (!/^\d+(\.\d{1,2})?$/.test(amount)) { M.fieldError(invoiceForm, "amount", "请输入金额，如 12345.67"); return; }
      var parts = amount.split(".");
      var cents = parseInt(parts[0], 10) * 100 + (parts[1] ? parseInt((parts[1] + "0").slice(0, 2), 10) : 0);
      var file = invoiceForm.elements.file.files[0];
      if (!file) { M.fieldError(invoiceForm, "file", "请选择发票文件"); return; }
      if (file.size > 5 * 1024 * 1024) { M.fieldError(invoiceForm, "file", "文件超过 5 MB，请压缩后再上传"); return; }
      var data = new FormData();
      data.append("invoice_number", M.formValue(invoiceForm, "invoice_number"));
      data.append("amount_cents", String(cents));
      data.append("file", file, file.name);
      M.busy(invoiceForm, true, "上传中…");
      postForm("/statements/" + M.OBJECT_ID + "/invoice", data).then(function (r) {
        M.busy(invoiceForm, false);
        if (!r.ok) { M.showErrors(invoiceForm, r.error, {amount_cents: "amount"}); return; }
        M.toast("发票已上传");
        load();
      });
    });
    load();
  };
}(window.M));
