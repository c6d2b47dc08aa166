"""Admin pages for staff accounts (/admin/staff/), admins only: the list with its filters
and the create form, one member's page with every action, and the audit log.
The same services as /admin/api/v1/staff (estate_platform.identity.staff)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from estate_platform.db import db, utcnow
from estate_platform.errors import DomainError
from estate_platform.identity import staff as accounts
from estate_platform.identity.models import STAFF_ROLES
from estate_platform.identity.passwords import MIN_LENGTH
from estate_platform.projects import developers as developer_book

from .forms import field_errors, refusal_message
from .pages import staff_page

bp = Blueprint("admin_staff", __name__, url_prefix="/admin/staff", template_folder="templates")

ADMINS = ("admin",)
PER_PAGE = 20
ACTIVE_FILTERS = {"": None, "active": True, "inactive": False}


def _developer_id(role: str, text: str | None) -> int | None:
    """The form's developer choice, which only site staff keep (the select stays on the form
    whatever the role); an unreadable one becomes an id no developer has, so it is refused."""
    text = (text or "").strip()
    if role != "site_staff" or not text:
        return None
    return int(text) if text.isdigit() and len(text) <= 9 else 0


def _labels() -> dict:
    return {"ACTION_LABELS": accounts.ACTION_LABELS, "CHANNEL_LABELS": accounts.CHANNEL_LABELS,
            "STAFF_ROLES": STAFF_ROLES, "PASSWORD_MIN_LENGTH": MIN_LENGTH, "now": utcnow()}


def _render_list(form=None, errors=None, error: str | None = None, status: int = 200):
    role = request.args.get("role") or None
    active_key = request.args.get("active", "")
    if role not in (None, *STAFF_ROLES) or active_key not in ACTIVE_FILTERS:
        abort(400)
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    q = (request.args.get("q") or "").strip()[:50] or None
    items, total = accounts.list_staff(db.session, role=role, active=ACTIVE_FILTERS[active_key], q=q, page=page,
                                       per_page=PER_PAGE)
    log, _ = accounts.audit_log(db.session, per_page=20)
    developers = developer_book.developer_choices(db.session)
    return render_template("admin/staff/list.html", items=items, total=total, page=page, per_page=PER_PAGE,
                           role=role, active=active_key, q=q or "", log=log, form=form or {}, errors=errors or {},
                           error=error, developers=developers, developer_names={d.id: d.name for d in developers},
                           **_labels()), status


@bp.route("/", methods=["GET"])
@staff_page(*ADMINS)
def staff_list():
    return _render_list()


@bp.route("/", methods=["POST"])
@staff_page(*ADMINS)
def staff_create():
    form = {name: request.form.get(name, "")[:100] for name in ("username", "display_name", "role", "developer_id")}
    data = accounts.NewStaff(username=form["username"], display_name=form["display_name"], role=form["role"],
                             developer_id=_developer_id(form["role"], form["developer_id"]),
                             password=request.form.get("password", "")[:200])
    try:
        user = accounts.create_staff(db.session, data, actor=g.staff, channel="page", now=utcnow())
    except DomainError as exc:
        if exc.status >= 500:
            raise
        db.session.rollback()
        return _render_list(form, field_errors(exc), refusal_message(exc), exc.status)
    flash(f"已创建员工账号 {user.username}", "success")
    return redirect(url_for("admin_staff.staff_detail", staff_id=user.id))


def _render_detail(staff_id: int, *, error: str | None = None, errors=None, status: int = 200):
    account = accounts.get_staff(db.session, staff_id)
    log, log_total = accounts.audit_log(db.session, target_id=staff_id, per_page=100)
    developers = developer_book.developer_choices(db.session)
    return render_template("admin/staff/detail.html", a=account, s=account.user, log=log, log_total=log_total,
                           developers=developers, developer_names={d.id: d.name for d in developers},
                           is_self=account.user.id == g.staff.id, error=error, errors=errors or {},
                           **_labels()), status


@bp.route("/<int:staff_id>")
@staff_page(*ADMINS)
def staff_detail(staff_id):
    return _render_detail(staff_id)


def _act(staff_id: int, success: str, action):
    """Run one change; a refusal shows the member's page again with the reason."""
    try:
        action()
    except DomainError as exc:
        if exc.status == 404 or exc.status >= 500:
            raise
        db.session.rollback()
        return _render_detail(staff_id, error=refusal_message(exc), errors=field_errors(exc), status=exc.status)
    flash(success, "success")
    return redirect(url_for("admin_staff.staff_detail", staff_id=staff_id))


@bp.route("/<int:staff_id>/role", methods=["POST"])
@staff_page(*ADMINS)
def staff_role(staff_id):
    role = request.form.get("role", "")[:20]
    return _act(staff_id, "角色已更新", lambda: accounts.change_role(
        db.session, staff_id, role, _developer_id(role, request.form.get("developer_id")), actor=g.staff,
        channel="page", now=utcnow()))


@bp.route("/<int:staff_id>/<any(deactivate, reactivate):action>", methods=["POST"])
@staff_page(*ADMINS)
def staff_active(staff_id, action):
    reason = request.form.get("reason", "")[:500]
    return _act(staff_id, "账号已停用，所有登录已失效" if action == "deactivate" else "账号已重新启用",
                lambda: accounts.set_active(db.session, staff_id, action == "reactivate", actor=g.staff,
                                            channel="page", now=utcnow(), reason=reason))


@bp.route("/<int:staff_id>/password", methods=["POST"])
@staff_page(*ADMINS)
def staff_password(staff_id):
    password = request.form.get("password", "")[:200]
    if password != request.form.get("password_confirm", "")[:200]:
        return _render_detail(staff_id, error="两次输入的密码不一致", errors={"password": ["两次输入的密码不一致"]},
                              status=422)
    return _act(staff_id, "密码已重置，该员工须用新密码重新登录", lambda: accounts.reset_password(
        db.session, staff_id, password, actor=g.staff, channel="page", now=utcnow()))


@bp.route("/<int:staff_id>/sign-out", methods=["POST"])
@staff_page(*ADMINS)
def staff_sign_out(staff_id):
    return _act(staff_id, "已强制下线：该员工所有设备上的登录均已失效", lambda: accounts.sign_out_everywhere(
        db.session, staff_id, actor=g.staff, channel="page", now=utcnow()))


@bp.route("/<int:staff_id>/unlock", methods=["POST"])
@staff_page(*ADMINS)
def staff_unlock(staff_id):
    return _act(staff_id, "已解除登录限制", lambda: accounts.unlock(
        db.session, staff_id, actor=g.staff, channel="page", now=utcnow()))


@bp.route("/audit")
@staff_page(*ADMINS)
def staff_audit():
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    items, total = accounts.audit_log(db.session, page=page, per_page=50)
    return render_template("admin/staff/audit.html", items=items, total=total, page=page, per_page=50, **_labels())
