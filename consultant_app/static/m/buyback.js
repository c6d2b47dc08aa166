/* The consultant app's buy-back pages (佣金垫付, issue 17 on issue 13 §1): tick the lines he may
 * sell, get a quote with every fee shown in plain Chinese (rates arrive in basis points and are
 * shown as percentages), accept its terms and request it; then follow his requests, cancel one
 * before finance decides, and see what he owes when a bought deal was cancelled (追索).
 * Helpers from app.js (window.M).
 */
(function (M) {
  "use strict";
  if (!M) { return; }
  var h = M.h, byId = M.byId, setText = M.setText, show = M.show, pill = M.pill, pages = M.pages, yuan = M.yuan;
  var REQUEST_PILL = {requested: "warn", approved: "ok", rejected: "off", cancelled: "grey", expired: "grey"};
  var LINE_PILL = {reserved: "warn", purchased: "ok", collected: "ok", recourse: "off", released: "grey"};

  /* What each refusal means for the consultant, beyond the API's own message: what he can do. */
  var REFUSAL_ADVICE = {
    buyback_line_not_found: "请刷新页面后重新选择。",
    buyback_deal_not_live: "只有已网签、未退房且佣金已确认的成交可以垫付，请取消勾选标出的佣金。",
    buyback_line_not_pending: "开发商已开始回款的佣金会按回款转为可提现，无需垫付。",
    buyback_line_taken: "标出的佣金已在垫付申请中或已被平台购买，可在“我的垫付申请”中查看。",
    buyback_consultant_not_operating: "请先完成入驻审核并签署最新协议；如账号被暂停，请联系平台运营。",
    buyback_open_dispute: "争议处理完毕后即可申请，可在“我的争议”中查看并提交陈述。",
    buyback_credit_too_low: "信用分可在“我的信用分”中查看，按时带看、如实报备会逐步提高。",
    buyback_developer_limit: "该开发商回款后额度会释放。",
    buyback_consultant_limit: "已垫付的佣金开发商回款后，额度会释放。",
    buyback_book_limit: "平台总额度会随开发商回款释放，请稍后再试。",
    buyback_quote_expired: "请重新获取报价，费用按最新情况计算。",
    buyback_quote_used: "这份报价已提交过申请，请在“我的垫付申请”中查看。"
  };
  /* Short reasons shown on each line the refusal names. */
  var LINE_REASONS = {
    buyback_line_not_found: "不存在或不属于您", buyback_deal_not_live: "成交未网签、已退房或佣金未确认",
    buyback_line_not_pending: "开发商已开始回款", buyback_line_taken: "已在申请中或已售出"
  };
  var REFUSAL_LINKS = {buyback_open_dispute: ["/m/disputes", "查看我的争议"], buyback_credit_too_low: ["/m/credit", "查看信用分"],
                       buyback_line_taken: ["/m/buyback/requests", "我的垫付申请"], buyback_quote_used: ["/m/buyback/requests", "我的垫付申请"]};

  /* 1234 bps → "12.34%": integers only, never a float in between. */
  function percent(bps) {
    if (bps === null || bps === undefined) { return "—"; }
    var whole = Math.floor(bps / 100), part = bps % 100;
    return whole + "." + (part < 10 ? "0" : "") + part + "%";
  }

  function countdown(iso) {
    var seconds = Math.floor((new Date(iso).getTime() - Date.now()) / 1000);
    if (seconds <= 0) { return null; }
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return "剩 " + m + " 分 " + (s < 10 ? "0" : "") + s + " 秒";
  }

  /* The refusal in full: the API's message, what to do, the amount still available where the API says. */
  function refusalText(error) {
    var details = error.details || {};
    var text = error.message;
    if (typeof details.available_cents === "number") { text += "（当前可用额度 " + yuan(details.available_cents) + "）"; }
    if (typeof details.score === "number" && typeof details.threshold === "number" && error.message.indexOf(String(details.threshold)) < 0) {
      text += "（您的信用分 " + details.score + "，要求 " + details.threshold + "）";
    }
    return REFUSAL_ADVICE[error.code] ? text + "。" + REFUSAL_ADVICE[error.code] : text;
  }

  function showRefusal(form, error) {
    M.showErrors(form, {code: error.code, message: refusalText(error), details: error.details && error.details.fields ? error.details : {}});
    var link = REFUSAL_LINKS[error.code], alert = M.$("[data-form-error]", form);
    if (link && alert) { alert.appendChild(h("a", {class: "button plain block", href: link[0], text: link[1]})); }
  }

  // --- /m/buyback: pick, quote, request ---------------------------------------------------------------

  pages.buyback = function () {
    var form = byId("bb-form"), list = byId("bb-lines"), quoteBox = byId("bb-quote");
    var requestForm = byId("bb-request-form"), requote = byId("bb-requote");
    var items = [], quote = null, timer = null;

    function picked() {
      return M.$all("input[name=line_id]:checked", list).map(function (input) { return parseInt(input.value, 10); });
    }

    function updatePicked() {
      var ids = picked();
      var sum = items.filter(function (i) { return ids.indexOf(i.line_id) >= 0; })
        .reduce(function (total, i) { return total + i.amount_cents; }, 0);
      setText("bb-picked", ids.length ? "已选 " + ids.length + " 笔，面值合计" : "未选择");
      setText("bb-picked-sum", ids.length ? yuan(sum) : "");
      byId("bb-get-quote").disabled = !ids.length;
    }

    function lineItem(item) {
      return h("li", {class: "item", "data-line-id": item.line_id}, [
        h("label", {class: "check"}, [
          h("input", {type: "checkbox", name: "line_id", value: item.line_id, onchange: function () { dropQuote(); updatePicked(); }}),
          h("span", {class: "grow"}, [h("span", {class: "title", text: item.project_name + " · " + item.unit})])
        ]),
        h("div", {class: "row"}, [h("span", {class: "meta", text: item.role_label}), h("strong", {class: "money", text: yuan(item.amount_cents)})]),
        h("div", {class: "meta", text: item.reason}),
        h("div", {class: "meta", text: "开发商约定付款日 " + M.fmtDate(item.due_on)}),
        h("div", {class: "field-error", "data-line-error": item.line_id})
      ]);
    }

    function markLines(error) {
      M.$all("[data-line-error]", list).forEach(function (el) { el.textContent = ""; });
      var ids = (error && error.details && error.details.line_ids) || [];
      ids.forEach(function (id) {
        var slot = M.$('[data-line-error="' + id + '"]', list);
        if (slot) { slot.textContent = LINE_REASONS[error.code] || error.message; }
      });
    }

    function load() {
      M.loading(list);
      return M.api("/buyback/lines").then(function (result) {
        M.clear(list);
        if (!result.ok) { M.failed(list, result.error); byId("bb-get-quote").disabled = true; return; }
        items = result.data.items;
        var refusal = result.data.refusal;
        show(setText("bb-refusal", refusal ? refusalText(refusal) : ""), !!refusal);
        if (!items.length) {
          list.appendChild(M.stateItem("empty", "暂无可垫付的佣金：成交网签、佣金确认后，待开发商回款的佣金会显示在这里",
                                       h("a", {class: "button plain", href: "/m/deals", text: "查看我的成交"})));
        }
        items.forEach(function (item) { list.appendChild(lineItem(item)); });
        updatePicked();
      });
    }

    function stopTimer() { if (timer) { clearInterval(timer); timer = null; } }

    function dropQuote() {
      stopTimer();
      quote = null;
      show(quoteBox, false);
    }

    function tick() {
      var left = quote && countdown(quote.expires_at);
      setText("q-left", left || "已过期");
      if (!left) {
        stopTimer();
        byId("q-left").className = "pill off";
        show(requestForm, false);
        show(requote, true);
      }
    }

    function quoteLine(line) {
      var item = items.filter(function (i) { return i.line_id === line.line_id; })[0];
      return h("li", {class: "item"}, [
        h("div", {class: "row"}, [h("span", {class: "title", text: item ? item.project_name + " · " + item.unit : "佣金 #" + line.line_id}),
                                  h("strong", {class: "money", text: yuan(line.face_cents)})]),
        h("div", {class: "meta", text: "约 " + line.days + " 天后回款（预计 " + M.fmtDate(line.expected_on) + "）· 风险溢价 " + percent(line.risk_premium_bps)}),
        h("div", {class: "meta", text: "折价 " + yuan(line.discount_cents) + "（时间 " + yuan(line.time_discount_cents) + " + 风险 " + yuan(line.premium_cents) + "）"}),
        h("div", {class: "meta", text: "垫付 " + yuan(line.advance_cents) + " · 尾款 " + yuan(line.remainder_cents) + " · 折合年化 " + percent(line.equivalent_annual_bps)})
      ]);
    }

    function renderQuote(q) {
      quote = q;
      var days = q.lines.map(function (l) { return l.days; });
      var latest = q.lines.reduce(function (a, l) { return !a || l.expected_on > a ? l.expected_on : a; }, null);
      var least = Math.min.apply(null, days), most = Math.max.apply(null, days);
      var sumOf = function (name) { return q.lines.reduce(function (t, l) { return t + l[name]; }, 0); };
      setText("q-face", yuan(q.face_cents));
      setText("q-days", (least === most ? "约 " + most + " 天后" : "约 " + least + "–" + most + " 天后") + "（最晚 " + M.fmtDate(latest) + "）");
      setText("q-discount", "-" + yuan(q.discount_cents));
      setText("q-parts", yuan(sumOf("time_discount_cents")) + " / " + yuan(sumOf("premium_cents")));
      setText("q-min-fee", yuan(q.min_fee_cents) + " / 笔");
      setText("q-advance", yuan(q.advance_cents));
      setText("q-remainder", yuan(q.remainder_cents));
      setText("q-annual", percent(q.equivalent_annual_bps));
      setText("q-rates", "年化 " + percent(q.annual_rate_bps) + " · 最多垫付面值的 " + percent(q.advance_cap_bps));
      setText("q-expires", M.fmtDateTime(q.expires_at));
      setText("q-terms", q.terms);
      var lines = M.clear(byId("q-lines"));
      q.lines.forEach(function (line) { lines.appendChild(quoteLine(line)); });
      byId("q-left").className = "pill warn";
      requestForm.reset();
      M.clearErrors(requestForm);
      show(requestForm, true);
      show(requote, false);
      show(quoteBox, true);
      stopTimer();
      tick();
      timer = setInterval(tick, 1000);
      quoteBox.scrollIntoView({block: "start"});
    }

    function getQuote() {
      var ids = picked();
      M.clearErrors(form);
      markLines(null);
      if (!ids.length) { M.fieldError(form, "line_ids", "请至少选择一笔佣金"); return; }
      M.busy(form, true, "计算报价…");
      dropQuote();
      M.apiPost("/buyback/quotes", {line_ids: ids}).then(function (r) {
        M.busy(form, false);
        updatePicked();
        if (!r.ok) {
          markLines(r.error);
          if (r.error.details && r.error.details.fields && r.error.details.fields.line_ids) { M.showErrors(form, r.error); }
          else { showRefusal(form, r.error); }
          return;
        }
        renderQuote(r.data);
      });
    }

    form.addEventListener("submit", function (event) { event.preventDefault(); getQuote(); });
    requote.addEventListener("click", getQuote);

    requestForm.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!quote) { return; }
      if (!byId("q-agree").checked) { M.fieldError(requestForm, "agree", "请先阅读并同意条款"); return; }
      M.busy(requestForm, true, "提交中…");
      M.apiPost("/buyback/requests", {quote_id: quote.id}).then(function (r) {
        M.busy(requestForm, false);
        if (!r.ok) {
          markLines(r.error);
          showRefusal(requestForm, r.error);
          if (r.error.code === "buyback_quote_expired") { show(requote, true); }
          return;
        }
        stopTimer();
        M.toast("已提交垫付申请，等待财务审核");
        location.href = "/m/buyback/requests#request-" + r.data.id;
      });
    });
    load();
  };

  // --- /m/buyback/requests: status, amounts, cancel, recourse -------------------------------------------

  pages.buyback_requests = function () {
    var owedBox = byId("bb-owed");
    var list;

    function cancel(r, item) {
      if (!window.confirm("取消垫付申请 #" + r.id + "（垫付 " + yuan(r.advance_cents) + "）？取消后额度释放，如需垫付须重新报价。")) { return; }
      var button = M.$("button", item), error = M.$(".field-error", item);
      button.disabled = true;
      M.apiPost("/buyback/requests/" + r.id + "/cancel").then(function (result) {
        button.disabled = false;
        if (!result.ok) { error.textContent = result.error.message; return; }
        M.toast("已取消垫付申请 #" + r.id);
        list.reload();
      });
    }

    function render(r) {
      var recourse = r.recourse_cents > 0;
      var item = h("li", {class: "item", id: "request-" + r.id, "data-request-id": r.id}, [
        h("div", {class: "row"}, [h("span", {class: "title", text: "垫付申请 #" + r.id}), pill(r.status_label, REQUEST_PILL[r.status])]),
        h("div", {class: "row"}, [h("span", {class: "meta", text: "面值 " + yuan(r.face_cents) + " · 折价 " + yuan(r.discount_cents)}),
                                  h("strong", {class: "money", text: "垫付 " + yuan(r.advance_cents)})]),
        h("div", {class: "meta", text: "尾款 " + yuan(r.remainder_cents) + "（已付 " + yuan(r.remainder_paid_cents) + "）· 折合年化 " + percent(r.equivalent_annual_bps)}),
        h("div", {class: "meta", text: "申请于 " + M.fmtDateTime(r.created_at) + (r.status === "requested" ? " · 财务须在 " + M.fmtDateTime(r.expires_at) + " 前审核，否则自动过期" :
                                                                                  r.decided_at ? " · 处理于 " + M.fmtDateTime(r.decided_at) : "")}),
        r.reject_reason ? h("div", {class: "meta", text: "未通过原因：" + r.reject_reason}) : null,
        recourse ? h("div", {class: "alert", text: "成交退房，已垫付款项转为欠款（追索）" + yuan(r.recourse_cents) + "，从以后的佣金中抵扣"}) : null,
        h("ul", {class: "list sub"}, r.lines.map(function (l) {
          return h("li", {class: "row"}, [h("span", {class: "meta", text: "佣金 #" + l.line_id + " · 成交 #" + l.deal_id + " · " + yuan(l.face_cents)}),
                                          pill(l.status_label, LINE_PILL[l.status])]);
        })),
        r.status === "requested" ? h("div", {class: "actions"}, [h("button", {type: "button", class: "danger", text: "取消申请", onclick: function () { cancel(r, item); }})]) : null,
        h("div", {class: "field-error"})
      ]);
      return item;
    }

    list = M.pagedList({
      list: "bb-request-list", more: "bb-request-more", path: "/buyback/requests",
      empty: "还没有垫付申请",
      emptyAction: function () { return h("a", {class: "button plain", href: "/m/buyback", text: "选择佣金获取报价"}); },
      render: render
    });
    list.reload({}).then(function () {
      var target = location.hash && byId(location.hash.slice(1));
      if (target) { target.scrollIntoView({block: "center"}); }
    });
    M.api("/earnings").then(function (result) {
      if (!result.ok || !result.data.owed_cents) { return; }
      owedBox.textContent = "您当前欠平台 " + yuan(result.data.owed_cents) + "（含退房追索），将从以后的佣金中抵扣。";
      show(owedBox, true);
    });
  };
}(window.M));
