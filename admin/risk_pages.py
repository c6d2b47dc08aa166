"""Admin pages for the risk queue (/admin/risk/): operations and admins see the flags the
nightly jobs raised, filter them, dismiss one with a reason, open a dispute from it, run
the jobs now, and set a project's thresholds. The same services as /admin/api/v1/risk-flags.
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for

from estate_platform.db import db, utcnow
from estate_platform.errors import DomainError
from estate_platform.phones import mask_phone
from estate_platform.projects import services as projects
from estate_platform.projects.models import RISK_THRESHOLD_DEFAULTS, RISK_THRESHOLD_RANGES
from estate_platform.risk import rules
from estate_platform.risk import services as risk
from estate_platform.risk.models import FLAG_KINDS, FLAG_STATUSES

from .forms import refusal_message
from .pages import staff_page

bp = Blueprint("admin_risk", __name__, url_prefix="/admin/risk", template_folder="templates")

WORKERS = ("operations", "admin")
PER_PAGE = 30


def _labels() -> dict:
    return {"KIND_LABELS": rules.KIND_LABELS, "STATUS_LABELS": rules.STATUS_LABELS, "RESPONDENTS": rules.RESPONDENTS,
            "FLAG_KINDS": FLAG_KINDS, "FLAG_STATUSES": FLAG_STATUSES, "mask_phone": mask_phone}


def _int_arg(name: str) -> int | None:
    text = (request.args.get(name) or "").strip()
    if not text:
        return None
    if not (text.isdigit() and len(text) <= 9):
        abort(400)
    return int(text)


@bp.route("/")
@staff_page(*WORKERS)
def flag_list():
    kind = request.args.get("kind") or None
    status = request.args.get("status", "open") or None
    if kind not in (None, *FLAG_KINDS) or status not in (None, *FLAG_STATUSES):
        abort(400)
    project_id, consultant_id = _int_arg("project_id"), _int_arg("consultant_id")
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    items, total = risk.list_flags(db.session, kind=kind, status=status, project_id=project_id,
                                   consultant_id=consultant_id, page=page, per_page=PER_PAGE)
    filters = {"kind": kind, "status": status or "", "project_id": project_id, "consultant_id": consultant_id}
    return render_template("admin/risk/list.html", items=items, total=total, page=page, per_page=PER_PAGE,
                           filters=filters, projects=projects.list_projects(db.session, now=utcnow(),
                                                                            per_page=100)[0],
                           **_labels())


@bp.route("/run", methods=["POST"])
@staff_page(*WORKERS)
def flag_run():
    created = risk.run_now(db.session, now=utcnow(), phone_key=current_app.config["SECRET_KEY"])
    total = sum(created.values())
    detail = "，".join(f"{rules.KIND_LABELS[k]} {n} 条" for k, n in created.items() if n)
    flash(f"风控任务已运行：新增预警 {total} 条" + (f"（{detail}）" if detail else ""), "success")
    return redirect(url_for("admin_risk.flag_list"))


def _render_detail(flag_id: int, *, error: str | None = None, status: int = 200):
    flag = risk.get_flag(db.session, flag_id)
    return render_template("admin/risk/detail.html", f=flag, error=error, **_labels()), status


@bp.route("/<int:risk_flag_id>")
@staff_page(*WORKERS)
def flag_detail(risk_flag_id):
    return _render_detail(risk_flag_id)


def _act(flag_id: int, success: str, action):
    """One change; a refusal shows the flag again with the reason (and keeps nothing)."""
    try:
        action()
    except DomainError as exc:
        if exc.status == 404 or exc.status >= 500:
            raise
        db.session.rollback()
        return _render_detail(flag_id, error=refusal_message(exc), status=exc.status)
    flash(success, "success")
    return redirect(url_for("admin_risk.flag_detail", risk_flag_id=flag_id))


@bp.route("/<int:risk_flag_id>/dismiss", methods=["POST"])
@staff_page(*WORKERS)
def flag_dismiss(risk_flag_id):
    reason = request.form.get("reason", "")[:risk.REASON_MAX + 1]
    return _act(risk_flag_id, "预警已排除", lambda: risk.dismiss(db.session, g.staff, risk_flag_id, reason=reason,
                                                             now=utcnow()))


@bp.route("/<int:risk_flag_id>/dispute", methods=["POST"])
@staff_page(*WORKERS)
def flag_dispute(risk_flag_id):
    subject = request.form.get("subject", "")[:201]
    summary = request.form.get("summary", "")[:5001]
    return _act(risk_flag_id, "已据此预警立案争议", lambda: risk.open_dispute(
        db.session, g.staff, risk_flag_id, subject=subject, summary=summary, now=utcnow()))


# --- a project's thresholds --------------------------------------------------------------------------------

def _render_thresholds(project_id: int, *, form: dict | None = None, errors: dict | None = None,
                       error: str | None = None, status: int = 200):
    project = projects.get_project(db.session, project_id)
    values = form or {name: str(getattr(project, name)) for name in RISK_THRESHOLD_RANGES}
    return render_template("admin/risk/thresholds.html", project=project, form=values, errors=errors or {},
                           error=error, LABELS=projects.RISK_THRESHOLD_LABELS, RANGES=RISK_THRESHOLD_RANGES,
                           DEFAULTS=RISK_THRESHOLD_DEFAULTS), status


@bp.route("/thresholds/<int:project_id>")
@staff_page(*WORKERS)
def thresholds(project_id):
    return _render_thresholds(project_id)


@bp.route("/thresholds/<int:project_id>", methods=["POST"])
@staff_page(*WORKERS)
def thresholds_save(project_id):
    form = {name: request.form.get(name, "")[:12].strip() for name in RISK_THRESHOLD_RANGES}
    # Unreadable numbers go on as typed: the service refuses them with every other problem.
    changes = {name: int(text) if text.isdigit() else text for name, text in form.items()}
    try:
        projects.update_project(db.session, project_id, changes, now=utcnow())
    except DomainError as exc:
        if exc.status == 404 or exc.status >= 500:
            raise
        db.session.rollback()
        return _render_thresholds(project_id, form=form, errors=(exc.details or {}).get("fields") or {},
                                  error=refusal_message(exc), status=exc.status)
    flash("风控阈值已保存，下次运行风控任务时生效", "success")
    return redirect(url_for("admin_risk.thresholds", project_id=project_id))
