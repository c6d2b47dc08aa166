"""Admin pages for receivables (应收, issue 12 §1-2), for finance: aging (账龄) with its chart and
table, the platform's invoices to developers (发票), developer statements (对账函: printable page,
XLSX, the developer's confirmation or objection) and each developer's payable-when rule
(结算条件). They mirror ``receivables_api`` and ``collections_api`` over the same services.
"""
from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for

from estate_platform.clock import local_date
from estate_platform.db import db, utcnow
from estate_platform.errors import DomainError
from estate_platform.receivables import contracts, invoices, statements
from estate_platform.receivables.allocation import AGING_BUCKETS, AGING_LABELS
from estate_platform.receivables.queries import developer_choices

from .charts import Series, bar_chart
from .forms import Unreadable, day, field_errors, percent_to_bps, refusal_message, yuan_to_cents
from .pages import staff_page

bp = Blueprint("admin_receivables", __name__, url_prefix="/admin/receivables", template_folder="templates")

FINANCE = ("finance", "admin")
PER_PAGE = 30
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.route("/aging")
@staff_page(*FINANCE)
def aging():
    developer_id = request.args.get("developer_id", type=int) or None
    rows = statements.aging(db.session, now=utcnow(), developer_id=developer_id)
    totals = statements.aging_totals(rows)
    by_developer: dict[str, dict[str, int]] = {}
    for row in rows:
        buckets = by_developer.setdefault(row.developer_name, {b: 0 for b in AGING_BUCKETS})
        for bucket in AGING_BUCKETS:
            buckets[bucket] += row.buckets[bucket]
    names = list(by_developer)[:12]
    chart = bar_chart(names, [Series(AGING_LABELS[b], [by_developer[n][b] for n in names]) for b in AGING_BUCKETS],
                      title="应收账龄（按开发商）", desc="各开发商未回款佣金按逾期天数分段", value_format="cents",
                      stacked=True, empty_text="暂无未回款的应收")
    unapplied = statements.aging_unapplied(db.session, developer_id=developer_id)
    return render_template("admin/receivables/aging.html", rows=rows, totals=totals, chart=chart, unapplied=unapplied,
                           buckets=AGING_BUCKETS, AGING_LABELS=AGING_LABELS, developer_id=developer_id,
                           developers=developer_choices(db.session), today=local_date(utcnow()))


def _render_invoices(form: dict | None = None, errors: dict | None = None, error: str | None = None,
                     status: int = 200):
    developer_id = request.args.get("developer_id", type=int) or None
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    rows, total = invoices.list_invoices(db.session, developer_id=developer_id, page=page, per_page=PER_PAGE)
    return render_template("admin/receivables/invoices.html", rows=rows, total=total, page=page, per_page=PER_PAGE,
                           developer_id=developer_id, developers=developer_choices(db.session),
                           form=form or {"issued_on": local_date(utcnow()).isoformat(), "tax_rate": "6"},
                           errors=errors or {}, error=error), status


@bp.route("/invoices", methods=["GET", "POST"])
@staff_page(*FINANCE)
def invoice_list():
    if request.method == "GET":
        return _render_invoices()
    form = request.form.to_dict()
    errors: dict[str, list[str]] = {}
    parsed: dict = {}
    for field, source, parse in (("amount_cents", "amount", yuan_to_cents), ("tax_rate_bps", "tax_rate", percent_to_bps),
                                 ("issued_on", "issued_on", day)):
        try:
            parsed[field] = parse(form.get(source, ""))
        except Unreadable as exc:
            errors[field] = [str(exc)]
    developer = form.get("developer_id", "")
    if not (developer.isdigit() and len(developer) < 10):
        errors["developer_id"] = ["请选择开发商"]
    if errors:
        return _render_invoices(form, errors, "请检查标红的项目", 422)
    try:
        invoice = invoices.create_invoice(db.session, g.staff, developer_id=int(developer), number=form.get("number", ""),
                                          stripe_invoice_id=form.get("stripe_invoice_id"), note=form.get("note"),
                                          now=utcnow(), **parsed)
    except DomainError as exc:
        db.session.rollback()
        return _render_invoices(form, field_errors(exc), refusal_message(exc), exc.status)
    flash(f"已登记发票 {invoice.number}", "success")
    return redirect(url_for("admin_receivables.invoice_list"))


def _period() -> tuple[int | None, date, date]:
    today = local_date(utcnow())
    developer_id = request.values.get("developer_id", type=int) or None
    try:
        start = day(request.values["period_from"]) if request.values.get("period_from") else today.replace(day=1)
        end = day(request.values["period_to"]) if request.values.get("period_to") else today
    except Unreadable:
        abort(400)
    return developer_id, start, end


@bp.route("/statements")
@staff_page(*FINANCE)
def statement_page():
    developer_id, start, end = _period()
    current = None
    error = None
    if developer_id:
        try:
            current = statements.statement(db.session, developer_id, start, end)
        except DomainError as exc:
            error = refusal_message(exc)
    return render_template("admin/receivables/statement.html", st=current, developer_id=developer_id,
                           period_from=start, period_to=end, developers=developer_choices(db.session), error=error,
                           RESPONSE_LABELS=statements.RESPONSE_LABELS, today=local_date(utcnow()),
                           printable=request.args.get("print") == "1")


@bp.route("/statements.xlsx")
@staff_page(*FINANCE)
def statement_xlsx():
    developer_id, start, end = _period()
    if not developer_id:
        abort(400)
    current = statements.statement(db.session, developer_id, start, end)
    name = f"statement-{developer_id}-{start:%Y%m%d}-{end:%Y%m%d}.xlsx"
    return Response(statements.statement_xlsx(current), mimetype=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/statements/respond", methods=["POST"])
@staff_page(*FINANCE)
def statement_respond():
    developer_id, start, end = _period()
    if not developer_id:
        abort(400)
    try:
        responded_on = day(request.form.get("responded_on", ""))
        statements.record_response(db.session, g.staff, developer_id, period_from=start, period_to=end,
                                   response=request.form.get("response", ""), responded_on=responded_on,
                                   note=request.form.get("note"), now=utcnow())
    except Unreadable as exc:
        flash(str(exc), "error")
    except DomainError as exc:
        db.session.rollback()
        flash(refusal_message(exc), "error")
    else:
        flash("已记录开发商回函", "success")
    return redirect(url_for("admin_receivables.statement_page", developer_id=developer_id,
                            period_from=start.isoformat(), period_to=end.isoformat()))


@bp.route("/contracts", methods=["GET", "POST"])
@staff_page(*FINANCE)
def contract_list():
    if request.method == "POST":
        developer = request.form.get("developer_id", "")
        days = request.form.get("advance_days", "").strip()
        if not (developer.isdigit() and len(developer) < 10) or (days and not (days.isdigit() and len(days) < 4)):
            flash("请填写有效的开发商与天数", "error")
        else:
            try:
                contracts.set_contract(db.session, g.staff, int(developer),
                                       payable_when=request.form.get("payable_when", ""),
                                       advance_days=int(days) if days else None, now=utcnow())
            except DomainError as exc:
                db.session.rollback()
                flash(refusal_message(exc), "error")
            else:
                flash("结算条件已保存", "success")
        return redirect(url_for("admin_receivables.contract_list"))
    developers = developer_choices(db.session)
    from estate_platform.receivables.releases import contract_terms
    terms = contract_terms(db.session, [d for d, _ in developers])
    return render_template("admin/receivables/contracts.html", developers=developers, terms=terms,
                           LABELS=contracts.PAYABLE_WHEN_LABELS)


