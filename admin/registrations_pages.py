"""Operations' view of registrations: masked phones, reveals that name their purpose (logged), the evidence chain."""
from __future__ import annotations

from flask import Blueprint, abort, g, render_template, request

from estate_platform.db import db, utcnow
from estate_platform.errors import DomainError
from estate_platform.evidence import services as evidence
from estate_platform.phones import mask_phone
from estate_platform.privacy import reveals
from estate_platform.registrations import services as registrations
from estate_platform.registrations.models import REGISTRATION_STATUSES

from .forms import refusal_message
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


def _render_detail(registration, *, revealed: str | None = None, purpose: str = "", purpose_error: str | None = None,
                   status: int = 200):
    chain = evidence.chain(db.session, "registration", registration.id)
    return render_template("admin/registrations/detail.html", r=registration, chain=chain,
                           verified=evidence.verify(chain), revealed=revealed, purpose=purpose,
                           purpose_error=purpose_error, purpose_max=reveals.PURPOSE_MAX_LENGTH), status


@bp.route("/<int:registration_id>")
@staff_page(*ROLES)
def registration_detail(registration_id):
    return _render_detail(registrations.get_registration(db.session, registration_id))


@bp.route("/<int:registration_id>/reveal-phone", methods=["POST"])
@staff_page(*ROLES)
def reveal_phone(registration_id):
    """The full number for the purpose the staff member states; every read is logged (issue 15 §1)."""
    registration = registrations.get_registration(db.session, registration_id)
    purpose = request.form.get("purpose", "")[:reveals.PURPOSE_MAX_LENGTH + 1]
    try:
        full = reveals.reveal_registration_phone(db.session, g.staff, registration_id, purpose=purpose, now=utcnow())
    except DomainError as exc:
        db.session.rollback()
        return _render_detail(registration, purpose=purpose, purpose_error=refusal_message(exc), status=exc.status)
    return _render_detail(registration, revealed=full)
