"""Operations' view of registrations: masked phones, logged reveals, the evidence chain."""
from __future__ import annotations

from flask import Blueprint, abort, g, render_template, request

from estate_platform.db import db, utcnow
from estate_platform.evidence import services as evidence
from estate_platform.phones import mask_phone
from estate_platform.registrations import services as registrations
from estate_platform.registrations.models import REGISTRATION_STATUSES

from .pages import staff_page

bp = Blueprint("admin_registrations", __name__, url_prefix="/admin/registrations", template_folder="templates")

ROLES = ("admin", "operations")
STATUS_LABELS = {"reported": "已报备", "visited": "已到访", "expired": "已过期", "lost": "已失效", "cancelled": "已取消"}
EVENT_LABELS = {"registered": "报备", "visit_confirmed": "到访确认", "expired": "保护到期", "lost": "他人带看确认，失效",
                "cancelled": "取消", "revisit_outcome": "回访结果"}


@bp.app_context_processor
def _labels():
    return {"REGISTRATION_STATUS_LABELS": STATUS_LABELS, "EVENT_LABELS": EVENT_LABELS, "mask_phone": mask_phone}


@bp.route("/")
@staff_page(*ROLES)
def registration_list():
    status = request.args.get("status") or None
    if status not in (None, *REGISTRATION_STATUSES):
        abort(400)
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    items, total = registrations.list_all(db.session, status=status, project_id=request.args.get("project_id", type=int),
                                          consultant_id=request.args.get("consultant_id", type=int), page=page)
    return render_template("admin/registrations/list.html", items=items, total=total, page=page, per_page=30,
                           status=status, statuses=REGISTRATION_STATUSES)


@bp.route("/<int:registration_id>")
@staff_page(*ROLES)
def registration_detail(registration_id):
    registration = registrations.get_registration(db.session, registration_id)
    chain = evidence.chain(db.session, "registration", registration_id)
    return render_template("admin/registrations/detail.html", r=registration, chain=chain,
                           verified=evidence.verify(chain), revealed=None)


@bp.route("/<int:registration_id>/reveal-phone", methods=["POST"])
@staff_page(*ROLES)
def reveal_phone(registration_id):
    """Operations may need the full number for a revisit call (回访); every read is logged."""
    registration = registrations.get_registration(db.session, registration_id)
    full = registrations.reveal_phone(db.session, g.staff, registration, purpose="revisit_call", now=utcnow())
    chain = evidence.chain(db.session, "registration", registration_id)
    return render_template("admin/registrations/detail.html", r=registration, chain=chain,
                           verified=evidence.verify(chain), revealed=full)
