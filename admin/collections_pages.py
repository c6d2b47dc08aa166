"""Admin pages for collections from developers (回款, issue 12 §1), for finance: the list with its
filters and export, the record form (oldest due first, or chosen deals), one collection's
allocation and its undo (撤销, a correcting transaction), and each developer's unapplied cash
with 「核销」. They mirror ``collections_api`` over the same services; a refusal rolls the
attempt back and says why.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from estate_platform.clock import local_date
from estate_platform.db import db, utcnow
from estate_platform.errors import DomainError
from estate_platform.receivables import services as collections
from estate_platform.receivables.queries import developer_choices, invoice_choices

from .forms import Unreadable, day, field_errors, refusal_message, yuan_to_cents
from .pages import staff_page

bp = Blueprint("admin_collections", __name__, url_prefix="/admin/collections", template_folder="templates")

FINANCE = ("finance", "admin")
PER_PAGE = 30
STATUS_LABELS = {"standing": "有效", "reversed": "已撤销"}


def _filters() -> dict:
    args = request.args
    values = {"developer_id": args.get("developer_id", type=int) or None, "status": args.get("status") or None,
              "received_from": None, "received_to": None}
    if values["status"] not in (None, *STATUS_LABELS):
        abort(400)
    for name in ("received_from", "received_to"):
        if args.get(name):
            try:
                values[name] = day(args[name])
            except Unreadable:
                abort(400)
    return values


@bp.route("/")
@staff_page(*FINANCE)
def collection_list():
    filters = _filters()
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    items, total = collections.list_collections(db.session, page=page, per_page=PER_PAGE, **filters)
    query = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in filters.items() if v}
    return render_template("admin/receivables/collections.html", items=items, total=total, page=page,
                           per_page=PER_PAGE, filters=filters, query=query, developers=developer_choices(db.session),
                           STATUS_LABELS=STATUS_LABELS, applied_cents=collections.applied_cents)


def _render_form(form: dict, errors: dict | None = None, error: str | None = None, status: int = 200):
    developer_id = form.get("developer_id")
    receivables = collections.open_receivables(db.session, int(developer_id)) if developer_id else []
    return render_template("admin/receivables/collection_new.html", form=form, errors=errors or {}, error=error,
                           developers=developer_choices(db.session), receivables=receivables,
                           invoices=invoice_choices(db.session, int(developer_id)) if developer_id else [],
                           today=local_date(utcnow())), status


@bp.route("/new", methods=["GET", "POST"])
@staff_page(*FINANCE)
def collection_new():
    if request.method == "GET":
        return _render_form({"developer_id": request.args.get("developer_id", type=int),
                             "received_on": local_date(utcnow()).isoformat()})
    form = request.form.to_dict()
    form["deal_ids"] = request.form.getlist("deal_ids")
    form["dispute_ids"] = request.form.getlist("dispute_ids")
    errors: dict[str, list[str]] = {}
    values: dict = {}
    for name, parse in (("developer_id", lambda t: int(t) if t.isdigit() and len(t) < 10 else None),
                        ("amount_cents", lambda t: yuan_to_cents(t)), ("received_on", day)):
        raw = form.get("amount" if name == "amount_cents" else name, "") or ""
        try:
            values[name] = parse(raw)
        except Unreadable as exc:
            errors[name] = [str(exc)]
        if values.get(name) is None and name not in errors:
            errors[name] = ["请填写此项"]
    invoice = form.get("invoice_id") or ""
    deal_ids = [int(d) for d in form["deal_ids"] if d.isdigit() and len(d) < 10]
    dispute_ids = [int(d) for d in form["dispute_ids"] if d.isdigit() and len(d) < 10]
    if errors:
        return _render_form(form, errors, "请检查标红的项目", 422)
    try:
        collection = collections.record_collection(
            db.session, g.staff, developer_id=values["developer_id"], amount_cents=values["amount_cents"],
            received_on=values["received_on"], bank_reference=form.get("bank_reference", ""),
            invoice_id=int(invoice) if invoice.isdigit() and len(invoice) < 10 else None,
            deal_ids=deal_ids or None, dispute_ids=dispute_ids or None, note=form.get("note"), now=utcnow())
    except DomainError as exc:
        db.session.rollback()
        return _render_form(form, field_errors(exc), refusal_message(exc), exc.status)
    flash(f"已登记回款 #{collection.id}", "success")
    return redirect(url_for("admin_collections.collection_detail", collection_id=collection.id))


@bp.route("/<int:collection_id>")
@staff_page(*FINANCE)
def collection_detail(collection_id):
    collection = collections.get_collection(db.session, collection_id)
    return render_template("admin/receivables/collection_detail.html", c=collection,
                           applied=collections.applied_cents(collection), STATUS_LABELS=STATUS_LABELS,
                           deals=_deal_labels(collection))


def _deal_labels(collection) -> dict[int, str]:
    from estate_platform.receivables.queries import deal_labels
    return deal_labels(db.session, [a.deal_id for a in collection.allocations if a.deal_id is not None])


@bp.route("/<int:collection_id>/reverse", methods=["POST"])
@staff_page(*FINANCE)
def collection_reverse(collection_id):
    try:
        collections.reverse_collection(db.session, g.staff, collection_id, reason=request.form.get("reason", ""),
                                       now=utcnow())
    except DomainError as exc:
        db.session.rollback()
        flash(refusal_message(exc), "error")
    else:
        flash("回款已撤销：已记冲正交易，相关佣金已转回待回款", "success")
    return redirect(url_for("admin_collections.collection_detail", collection_id=collection_id))


@bp.route("/unapplied")
@staff_page(*FINANCE)
def unapplied():
    rests = collections.unapplied_of(db.session)
    names = dict(developer_choices(db.session))
    rows = [(developer_id, names.get(developer_id, f"#{developer_id}"), sum(r.values()), len(r))
            for developer_id, r in sorted(rests.items())]
    return render_template("admin/receivables/unapplied.html", rows=rows)


@bp.route("/unapplied/<int:developer_id>/apply", methods=["POST"])
@staff_page(*FINANCE)
def apply_unapplied(developer_id):
    try:
        parts = collections.apply_unapplied(db.session, g.staff, developer_id, now=utcnow())
    except DomainError as exc:
        db.session.rollback()
        flash(refusal_message(exc), "error")
    else:
        flash(f"已核销 {parts} 笔应收", "success")
    return redirect(url_for("admin_collections.unapplied"))
