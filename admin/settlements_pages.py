"""Admin pages for settlement (结算, finance; Chinese): the batch list with the prepare form,
a batch with its items and the approve form (another finance user than the maker), the
provider file download and the results import, the failures queue, payout accounts
(masked; a full read is logged) and a printable statement. They mirror ``settlements_api``.
"""
from __future__ import annotations

import uuid
from io import BytesIO

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, send_file, url_for

from estate_platform.db import db, utcnow
from estate_platform.errors import DomainError
from estate_platform.money import yuan
from estate_platform.settlement import accounts, batches, limits, payouts, secrets, statements
from estate_platform.settlement.invoices import invoice_of
from estate_platform.settlement.models import ACCOUNT_STATUSES, BATCH_STATUSES, CHANNELS, ITEM_STATUSES
from web_common.api import client_ip

from .forms import Unreadable, cents_text, refusal_message, yuan_to_cents
from .pages import staff_page
from .settlements_api import XLSX, queue_send

bp = Blueprint("admin_settlements", __name__, url_prefix="/admin/settlements", template_folder="templates")

FINANCE = ("finance", "admin")  # admins may do what finance does; the maker is never the checker
READERS = ("finance", "admin")
PER_PAGE = 50
BATCH_LABELS = {"prepared": "待审批", "approved": "已审批", "completed": "已完成"}
CHANNEL_LABELS = {"gateway": "支付通道（Stripe Connect）", "provider": "灵活用工平台"}
ACCOUNT_LABELS = {"pending_verification": "待短信验证", "verified": "已验证", "replaced": "已更换", "abandoned": "已放弃"}


def _labels() -> dict:
    return {"BATCH_LABELS": BATCH_LABELS, "CHANNEL_LABELS": CHANNEL_LABELS, "ITEM_LABELS": statements.STATUS_LABELS,
            "WITHHELD_LABELS": statements.WITHHELD_LABELS, "ACCOUNT_LABELS": ACCOUNT_LABELS, "yuan": yuan,
            "mask": secrets.mask, "mask_id": secrets.mask_id_number, "can_work": g.staff.role in FINANCE}


def _refused(exc: DomainError, target):
    if exc.status == 404:
        raise exc
    db.session.rollback()
    flash(refusal_message(exc), "error")
    return redirect(target)


def _page() -> int:
    return max(request.args.get("page", 1, type=int) or 1, 1)


@bp.route("/")
@staff_page(*READERS)
def batch_list():
    status = request.args.get("status") or None
    if status not in (None, *BATCH_STATUSES):
        abort(400)
    page = _page()
    items, total = batches.list_batches(db.session, status=status, page=page, per_page=PER_PAGE)
    return render_template("admin/settlement/list.html", items=items, total=total, page=page, per_page=PER_PAGE,
                           status=status, statuses=BATCH_STATUSES, channels=CHANNELS, key=uuid.uuid4().hex,
                           limits=limits.current(db.session, current_app.config), **_labels())


@bp.route("/prepare", methods=["POST"])
@staff_page(*FINANCE)
def batch_prepare():
    channel = request.form.get("channel", "gateway")
    if channel not in CHANNELS:
        abort(400)
    key = (request.form.get("key") or uuid.uuid4().hex)[:64]
    try:
        batch, created = batches.prepare(db.session, key=key, channel=channel, staff=g.staff,
                                         limits=limits.current(db.session, current_app.config), now=utcnow(),
                                         note=request.form.get("note", "")[:500] or None)
    except DomainError as exc:
        return _refused(exc, url_for("admin_settlements.batch_list"))
    flash(f"已制单：结算批次 #{batch.id}，{batch.item_count} 笔，实发合计 {yuan(batch.net_cents)}。请另一位财务人员审批。"
          if created else f"该表单已提交过：结算批次 #{batch.id}", "ok")
    return redirect(url_for("admin_settlements.batch_detail", batch_id=batch.id))


@bp.route("/<int:batch_id>")
@staff_page(*READERS)
def batch_detail(batch_id: int):
    batch = batches.get_batch(db.session, batch_id)
    status = request.args.get("status") or None
    if status not in (None, *ITEM_STATUSES):
        abort(400)
    page = _page()
    items, total = batches.items_of(db.session, batch_id, status=status, page=page, per_page=PER_PAGE)
    names = batches.party_names(db.session, items)
    waiting_second = batch.status == "approved" and bool(batches.items_of(
        db.session, batch_id, status="awaiting_second_approval", per_page=1)[1])
    return render_template("admin/settlement/detail.html", batch=batch, items=items, total=total, page=page,
                           per_page=PER_PAGE, status=status, statuses=ITEM_STATUSES, names=names,
                           waiting_second=waiting_second, **_labels())


@bp.route("/<int:batch_id>/approve", methods=["POST"])
@staff_page(*FINANCE)
def batch_approve(batch_id: int):
    target = url_for("admin_settlements.batch_detail", batch_id=batch_id)
    try:
        batch = batches.approve(db.session, batch_id, g.staff, limits=limits.current(db.session, current_app.config),
                                now=utcnow())
    except DomainError as exc:
        return _refused(exc, target)
    queue_send(batch)
    flash("已审批：款项已记账并提交付款。" if batch.channel == "gateway" else "已审批：请下载灵活用工付款文件提交平台。", "ok")
    return redirect(target)


@bp.route("/<int:batch_id>/provider-file")
@staff_page(*FINANCE)
def provider_file(batch_id: int):
    try:
        content = payouts.provider_file(db.session, batch_id, encryption_key=current_app.config["PAYOUT_ENCRYPTION_KEY"],
                                        staff_id=g.staff.id, now=utcnow(), ip=client_ip())
    except DomainError as exc:
        return _refused(exc, url_for("admin_settlements.batch_detail", batch_id=batch_id))
    return send_file(BytesIO(content), mimetype=XLSX, as_attachment=True,
                     download_name=f"provider-batch-{batch_id}.xlsx")


@bp.route("/<int:batch_id>/provider-results", methods=["POST"])
@staff_page(*FINANCE)
def provider_results(batch_id: int):
    target = url_for("admin_settlements.batch_detail", batch_id=batch_id)
    file = request.files.get("file")
    if file is None or not file.filename:
        flash("请选择灵活用工平台返回的结果文件", "error")
        return redirect(target)
    try:
        counts = payouts.import_results(db.session, batch_id, file.read(), staff_id=g.staff.id, now=utcnow())
    except DomainError as exc:
        return _refused(exc, target)
    flash(f"已导入：成功 {counts['paid']} 笔，失败 {counts['failed']} 笔（已退回余额），已处理过 {counts['skipped']} 笔", "ok")
    return redirect(target)


@bp.route("/limits", methods=["GET", "POST"])
@staff_page(*READERS)
def limit_settings():
    """付款限额: the limits in force, the defaults, and every change (who, when, old, new)."""
    form, errors = {}, {}
    if request.method == "POST":
        if g.staff.role not in FINANCE:
            abort(403)
        form = {name: request.form.get(name, "")[:40] for name in ("min", "max", "daily_max")}
        values = {}
        for name in form:
            try:
                values[name] = yuan_to_cents(form[name])
            except Unreadable as exc:
                errors[f"{name}_cents"] = [str(exc)]
        if not errors:
            try:
                row = limits.change(db.session, g.staff, current_app.config, min_cents=values["min"],
                                    max_cents=values["max"], daily_max_cents=values["daily_max"],
                                    note=request.form.get("note", "")[:600], now=utcnow())
            except DomainError as exc:
                db.session.rollback()
                flash(refusal_message(exc), "error")
                return redirect(url_for("admin_settlements.limit_settings"))
            flash("付款限额已修改，之后的制单与审批按新限额执行。" if row else "与现行限额相同，未修改。", "ok")
            return redirect(url_for("admin_settlements.limit_settings"))
        flash("；".join(m for ms in errors.values() for m in ms), "error")
    changes, _ = limits.history(db.session, per_page=PER_PAGE)
    now = limits.current(db.session, current_app.config)
    form = form or {"min": cents_text(now.min_cents), "max": cents_text(now.max_cents),
                    "daily_max": cents_text(now.daily_max_cents)}
    return render_template("admin/settlement/limits.html", current=now, defaults=limits.defaults(current_app.config),
                           changes=changes, form=form, **_labels()), 422 if errors else 200


@bp.route("/failures")
@staff_page(*READERS)
def failures():
    page = _page()
    items, total = batches.failures(db.session, page=page, per_page=PER_PAGE)
    return render_template("admin/settlement/failures.html", items=items, total=total, page=page, per_page=PER_PAGE,
                           names=batches.party_names(db.session, items), **_labels())


@bp.route("/statements/<int:item_id>")
@staff_page(*READERS)
def statement(item_id: int):
    s = statements.staff_statement(db.session, item_id)
    names = batches.party_names(db.session, [s.item])
    return render_template("h5/statement_print.html", s=s, party_name=names.get((s.item.party_type, s.item.party_id)),
                           invoice=invoice_of(db.session, item_id))


@bp.route("/accounts")
@staff_page(*FINANCE)
def account_list():
    party_type = request.args.get("party_type") or None
    status = request.args.get("status") or None
    if party_type not in (None, "consultant", "buyer") or status not in (None, *ACCOUNT_STATUSES):
        abort(400)
    page = _page()
    items, total = accounts.list_accounts(db.session, party_type=party_type, status=status, page=page,
                                          per_page=PER_PAGE)
    return render_template("admin/settlement/accounts.html", items=items, total=total, page=page, per_page=PER_PAGE,
                           party_type=party_type, status=status, statuses=ACCOUNT_STATUSES, revealed=None,
                           **_labels())


@bp.route("/accounts/<int:account_id>/reveal", methods=["POST"])
@staff_page(*FINANCE)
def account_reveal(account_id: int):
    account = accounts.staff_account(db.session, account_id)
    full = accounts.reveal(db.session, account, encryption_key=current_app.config["PAYOUT_ENCRYPTION_KEY"],
                           actor_type="staff", actor_id=g.staff.id, now=utcnow(), ip=client_ip())
    return render_template("admin/settlement/reveal.html", account=account, full=full, **_labels())
