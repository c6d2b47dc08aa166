"""Admin pages: visits (到访核销) for the developer's site staff and operations.

The site staff type (or scan) the consultant's check-in code, check the visit
against the buyer in front of them, and confirm it or judge it invalid with a
reason; they can upload the signed 来访确认单. The check-in code itself is never
shown to staff: it is the proof that the consultant or buyer is really there.
"""
from __future__ import annotations

import os
from datetime import date

from flask import (Blueprint, abort, current_app, flash, g, redirect, render_template, request, send_file,
                   url_for)

from estate_platform.clock import SHANGHAI
from estate_platform.db import db, utcnow
from estate_platform.errors import DomainError
from estate_platform.privacy import reveals
from estate_platform.visits import attachments
from estate_platform.visits import services as visits

from .pages import staff_page
from .visits_api import FIRST_DAY, LAST_DAY

bp = Blueprint("admin_visits", __name__, url_prefix="/admin/visits", template_folder="templates")

VISIT_ROLES = ("admin", "operations", "site_staff")
REGISTRATION_LABELS = {"reported": "已报备", "visited": "已到访", "expired": "已过期", "lost": "已失效（他人带看）",
                       "cancelled": "已取消"}
MODE_LABELS = {"report_visit_deal": "报备→到访→成交", "report_deal": "报备→成交", "visit_deal": "到访为王"}


def uploads_dir() -> str:
    return os.path.join(current_app.config["INSTANCE_PATH"], "uploads")


@bp.context_processor
def _visit_labels():
    return {"VISIT_STATUS_LABELS": visits.STATUS_LABELS, "CONFIRMED_BY_LABELS": visits.CONFIRMED_BY_LABELS,
            "REGISTRATION_LABELS": REGISTRATION_LABELS, "MODE_LABELS": MODE_LABELS,
            # Masked for every staff member; the full number is a logged reveal (privacy.reveals).
            "phone_for_site_staff": reveals.masked_for_registration,
            "may_reveal_phone": lambda r: g.staff.role in reveals.PLATFORM_REVEALERS
            or r.project.phone_disclosure == "full"}


def _day_arg() -> date | None:
    raw = request.args.get("date") or ""
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        abort(400)
    if not FIRST_DAY <= day <= LAST_DAY:  # the first days of year 1 begin before year 1 in UTC
        abort(400)
    return day


def _index(error: str | None = None, code: str = ""):
    now = utcnow()
    day = _day_arg() or now.astimezone(SHANGHAI).date()
    items = visits.visits_on(db.session, g.staff, day, now=now)
    codes = visits.presence_codes(db.session, g.staff, secret=current_app.config["SECRET_KEY"], now=now)
    return render_template("admin/visits/index.html", items=items, day=day, error=error, code=code,
                           presence_codes=codes)


def _refused(exc: DomainError, target: str):
    """A refusal on a form: nothing of the attempt is kept; the reason is shown on the page."""
    if exc.status == 404:
        raise exc
    db.session.rollback()
    fields = (exc.details or {}).get("fields")
    flash("；".join(m for ms in fields.values() for m in ms) if fields else exc.message, "error")
    return redirect(target)


@bp.route("/")
@staff_page(*VISIT_ROLES)
def index():
    return _index()


@bp.route("/lookup")
@staff_page(*VISIT_ROLES)
def lookup():
    code = (request.args.get("code") or "").strip()[:20]
    try:
        visit = visits.staff_visit_by_code(db.session, g.staff, code)
    except visits.VisitNotFound as exc:
        return _index(error=exc.message, code=code), exc.status
    return redirect(url_for("admin_visits.detail", visit_id=visit.id, code=code))


def _detail(visit_id: int, revealed: str | None = None):
    visit = visits.staff_visit(db.session, g.staff, visit_id)
    return render_template("admin/visits/detail.html", visit=visit, r=visit.registration,
                           attachments=attachments.attachments_of(db.session, visit),
                           code=(request.args.get("code") or "")[:20], revealed=revealed,
                           max_mb=attachments.MAX_ATTACHMENT_BYTES >> 20)


@bp.route("/<int:visit_id>")
@staff_page(*VISIT_ROLES)
def detail(visit_id):
    return _detail(visit_id)


@bp.route("/<int:visit_id>/reveal-phone", methods=["POST"])
@staff_page(*VISIT_ROLES)
def reveal_phone(visit_id):
    """The full number, for a purpose; logged in phone_reveals (issue 15 §1)."""
    try:
        phone = reveals.reveal_visit_phone(db.session, g.staff, visit_id, purpose=request.form.get("purpose"),
                                           now=utcnow())
    except DomainError as exc:
        return _refused(exc, url_for("admin_visits.detail", visit_id=visit_id))
    return _detail(visit_id, revealed=phone)


@bp.route("/check-in", methods=["POST"])
@staff_page(*VISIT_ROLES)
def check_in():
    code = (request.form.get("code") or "")[:20]
    try:
        visit = visits.confirm_by_code(db.session, g.staff, code, now=utcnow())
    except DomainError as exc:
        return _refused(exc, url_for("admin_visits.lookup", code=code))
    until = visit.registration.protected_until.astimezone(SHANGHAI).strftime("%Y-%m-%d")
    flash(f"已确认到访，报备保护至 {until}", "success")
    return redirect(url_for("admin_visits.detail", visit_id=visit.id))


@bp.route("/<int:visit_id>/invalid", methods=["POST"])
@staff_page(*VISIT_ROLES)
def mark_invalid(visit_id):
    try:
        visits.mark_invalid(db.session, g.staff, visit_id=visit_id, reason=request.form.get("reason"),
                            now=utcnow())
    except DomainError as exc:
        return _refused(exc, url_for("admin_visits.detail", visit_id=visit_id))
    flash("已判为无效，并已通知顾问", "success")
    return redirect(url_for("admin_visits.detail", visit_id=visit_id))


@bp.route("/<int:visit_id>/attachments", methods=["POST"])
@staff_page(*VISIT_ROLES)
def upload(visit_id):
    file = request.files.get("file")
    upload = attachments.Upload(file.filename, file.mimetype, file.stream) if file else None
    try:
        attachments.attach_by_staff(db.session, g.staff, visit_id, upload, storage_dir=uploads_dir(), now=utcnow())
    except DomainError as exc:
        return _refused(exc, url_for("admin_visits.detail", visit_id=visit_id))
    flash("来访确认单已上传", "success")
    return redirect(url_for("admin_visits.detail", visit_id=visit_id))


@bp.route("/attachments/<int:attachment_id>")
@staff_page(*VISIT_ROLES)
def attachment(attachment_id):
    found = attachments.staff_attachment(db.session, g.staff, attachment_id, storage_dir=uploads_dir())
    response = send_file(attachments.attachment_path(uploads_dir(), found), mimetype=found.content_type,
                         as_attachment=found.content_type == "application/pdf", download_name=found.filename,
                         conditional=False, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
