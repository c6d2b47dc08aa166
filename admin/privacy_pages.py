"""Admin pages: buyers' personal data (个人信息, issue 15 §1).

The erasure queue (record a request for a buyer, approve, reject), the objections buyers
sent from the registration SMS, and, for admins, the log of full-phone reveals by staff
member. A buyer's data copy downloads as JSON (logged).
"""
from __future__ import annotations

import json

from flask import Blueprint, Response, abort, current_app, flash, g, redirect, render_template, request, url_for

from estate_platform.db import db, utcnow
from estate_platform.errors import DomainError
from estate_platform.identity.models import StaffUser
from estate_platform.phones import mask_phone
from estate_platform.privacy import access, notices, reveals
from estate_platform.privacy import services as privacy
from estate_platform.privacy.models import REQUEST_STATUSES

from .pages import staff_page

bp = Blueprint("admin_privacy", __name__, url_prefix="/admin/privacy", template_folder="templates")

KEEPERS = ("operations", "admin")
AUDITORS = ("admin",)
PER_PAGE = 30


@bp.context_processor
def _labels():
    return {"PRIVACY_STATUS_LABELS": privacy.STATUS_LABELS, "HOLD_LABELS": privacy.HOLD_LABELS,
            "CHANNEL_LABELS": privacy.CHANNEL_LABELS, "mask_phone": mask_phone}


def _page_arg() -> int:
    page = request.args.get("page", 1, type=int) or 1
    if not 1 <= page <= 100000:
        abort(400)
    return page


@bp.route("/requests")
@staff_page(*KEEPERS)
def request_list():
    status = request.args.get("status") or None
    if status not in (None, *REQUEST_STATUSES):
        abort(400)
    page = _page_arg()
    items, total = privacy.list_requests(db.session, status=status, page=page, per_page=PER_PAGE)
    return render_template("admin/privacy/requests.html", items=items, total=total, page=page, per_page=PER_PAGE,
                           status=status, statuses=REQUEST_STATUSES)


def _back(message: str, category: str):
    flash(message, category)
    target = request.form.get("next") or ""
    if not target.startswith("/admin/privacy/requests") or "//" in target or "\\" in target:
        target = url_for("admin_privacy.request_list")  # never elsewhere: no open redirect
    return redirect(target)


@bp.route("/requests", methods=["POST"])
@staff_page(*KEEPERS)
def request_add():
    buyer_id = request.form.get("buyer_id", type=int)
    if not buyer_id or not 1 <= buyer_id <= 2**31 - 1:
        return _back("请填写购房者编号", "error")
    try:
        buyer = privacy.get_buyer(db.session, buyer_id)
        made = privacy.request_erasure(db.session, buyer, channel="operations", staff=g.staff,
                                       note=request.form.get("note"), now=utcnow())
    except DomainError as exc:
        db.session.rollback()
        return _back(exc.message, "error")
    return _back(f"已登记删除申请 #{made.id}，待审批", "success")


@bp.route("/requests/<int:erasure_request_id>/approve", methods=["POST"])
@staff_page(*KEEPERS)
def request_approve(erasure_request_id):
    try:
        privacy.approve(db.session, erasure_request_id, staff=g.staff, now=utcnow(),
                        settings=privacy.Settings.from_config(current_app.config))
    except privacy.ErasureHeld as exc:
        g.keep_changes = True  # the refusal and its reason are kept
        labels = "、".join(privacy.HOLD_LABELS[h] for h in exc.details["holds"])
        return _back(f"申请 #{erasure_request_id} 未执行：{labels}", "error")
    except DomainError as exc:
        db.session.rollback()
        return _back(exc.message, "error")
    return _back(f"申请 #{erasure_request_id} 已执行：该购房者的姓名与手机号已在各处删除", "success")


@bp.route("/requests/<int:erasure_request_id>/reject", methods=["POST"])
@staff_page(*KEEPERS)
def request_reject(erasure_request_id):
    note = (request.form.get("note") or "").strip()
    if not note:
        return _back("驳回须填写原因", "error")
    try:
        privacy.reject(db.session, erasure_request_id, staff=g.staff, note=note, now=utcnow())
    except DomainError as exc:
        db.session.rollback()
        return _back(exc.message, "error")
    return _back(f"申请 #{erasure_request_id} 已驳回", "success")


@bp.route("/buyers/<int:buyer_id>/export.json")
@staff_page(*KEEPERS)
def buyer_export(buyer_id):
    buyer = privacy.get_buyer(db.session, buyer_id)
    now = utcnow()
    privacy.log_export(db.session, buyer.id, actor_type="staff", actor_id=g.staff.id, now=now)
    body = json.dumps(access.export(db.session, buyer, now=now), ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": f"attachment; filename=buyer-{buyer.id}-data.json"})


@bp.route("/reveals")
@staff_page(*AUDITORS)
def reveal_list():
    staff_user_id = request.args.get("staff_user_id", type=int)
    if staff_user_id is not None and not 1 <= staff_user_id <= 2**31 - 1:
        abort(400)
    page = _page_arg()
    items, total = reveals.list_reveals(db.session, staff_user_id=staff_user_id, page=page, per_page=PER_PAGE)
    counts = reveals.reveal_counts_by_staff(db.session)
    names = {s.id: s for s, _ in counts}
    missing = {r.staff_user_id for r in items} - set(names)
    if missing:
        names.update({s.id: s for s in db.session.query(StaffUser).filter(StaffUser.id.in_(missing))})
    return render_template("admin/privacy/reveals.html", items=items, total=total, page=page, per_page=PER_PAGE,
                           counts=counts, names=names, staff_user_id=staff_user_id)


@bp.route("/objections")
@staff_page(*KEEPERS)
def objection_list():
    page = _page_arg()
    items, total = notices.list_objections(db.session, page=page, per_page=PER_PAGE)
    return render_template("admin/privacy/objections.html", items=items, total=total, page=page, per_page=PER_PAGE)
