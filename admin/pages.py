"""Server-rendered admin pages (Chinese) for operations, finance and site staff.

Staff sign in with a password; the session cookie is HttpOnly and SameSite;
every form carries a CSRF token; each page declares the roles it allows.
"""
from __future__ import annotations

import hmac
import secrets
from functools import wraps
from urllib.parse import urlparse

from flask import (Blueprint, abort, current_app, flash, g, redirect, render_template, request, session,
                   url_for)

from estate_platform.consultants import services as consultants
from estate_platform.consultants.models import CONSULTANT_STATUSES
from estate_platform.contracts import services as contracts
from estate_platform.db import db, utcnow
from estate_platform.errors import DomainError
from estate_platform.identity import services as identity
from estate_platform.identity.models import StaffUser
from estate_platform.phones import national
from web_common.api import client_ip

from .roles import ROLE_LABELS, check_role

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates",
               static_folder="static", static_url_path="/static")

CONSULTANT_ROLES = ("admin", "operations")
ALL_ROLES = ("admin", "finance", "operations", "site_staff")


class CsrfFailed(DomainError):
    code, status, message = "csrf_failed", 400, "页面已过期，请刷新后重试"


def csrf_token() -> str:
    if "csrf_token" not in session:
        session["csrf_token"] = secrets.token_urlsafe(32)
    return session["csrf_token"]


@bp.app_context_processor
def _template_globals():
    return {"csrf_token": csrf_token, "current_staff": g.get("staff"), "ROLE_LABELS": ROLE_LABELS,
            "STATUS_LABELS": consultants.STATUS_LABELS, "KIND_LABELS": consultants.KIND_LABELS,
            "national": national}


def check_csrf():
    """Every admin page form (any admin blueprint) carries the session's CSRF token."""
    if request.path.startswith("/admin/api/") or not request.path.startswith("/admin"):
        return
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        sent = request.form.get("csrf_token", "")
        expected = session.get("csrf_token", "")
        if not expected or not hmac.compare_digest(sent, expected):
            raise CsrfFailed()


def staff_page(*roles: str):
    """Require a signed-in staff member with one of ``roles``; declared on the view."""
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            staff_id = session.get("staff_id")
            staff = db.session.get(StaffUser, staff_id) if staff_id else None
            if (staff is None or not staff.is_active
                    or session.get("staff_token_version") != staff.token_version):
                session.pop("staff_id", None)
                return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
            g.staff = staff
            check_role(staff, roles)
            return view(*args, **kwargs)
        wrapper.allowed_roles = roles
        return wrapper
    return decorator


def public_page(view):
    view.allowed_roles = ("public",)
    return view


def render_error(status: int, code: str, message: str, details: dict):
    return render_template("admin/error.html", status=status, code=code, message=message, details=details)


def _safe_next(target: str | None) -> str:
    if target and urlparse(target).netloc == "" and target.startswith("/admin"):
        return target
    return url_for("admin.dashboard")


@bp.route("/login", methods=["GET", "POST"])
@public_page
def login():
    error = None
    if request.method == "POST":
        config = current_app.config
        try:
            staff = identity.sign_in_staff(
                db.session, request.form.get("username", ""), request.form.get("password", ""),
                ip=client_ip(), now=utcnow(), rules=identity.ThrottleRules.from_config(config))
        except (identity.InvalidCredentials, identity.LoginThrottled) as exc:
            g.keep_changes = True  # the failure is counted toward the throttle
            if exc.retry_after:
                error = f"登录尝试过于频繁，请 {_wait_text(exc.retry_after)}后再试"
                headers = {"Retry-After": str(exc.retry_after)}
            else:
                error, headers = exc.message, {}
            return render_template("admin/login.html", error=error), exc.status, headers
        session.clear()
        session.permanent = True
        session["staff_id"] = staff.id
        session["staff_token_version"] = staff.token_version
        csrf_token()
        return redirect(_safe_next(request.args.get("next")))
    return render_template("admin/login.html", error=error)


def _wait_text(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} 分 {rest} 秒" if minutes and rest else (f"{minutes} 分钟" if minutes else f"{rest} 秒")


@bp.route("/logout", methods=["POST"])
@public_page
def logout():
    session.clear()
    return redirect(url_for("admin.login"))


@bp.route("/")
@staff_page(*ALL_ROLES)
def dashboard():
    counts = consultants.status_counts(db.session)
    return render_template("admin/dashboard.html", counts=counts)


@bp.route("/consultants")
@staff_page(*CONSULTANT_ROLES)
def consultant_list():
    status = request.args.get("status") or None
    if status not in (None, *CONSULTANT_STATUSES):
        abort(400)
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    q = (request.args.get("q") or "").strip()[:50] or None
    items, total = consultants.list_consultants(db.session, status=status, search=q, page=page, per_page=20)
    return render_template("admin/consultants.html", items=items, total=total, page=page, per_page=20,
                           status=status, q=q or "", counts=consultants.status_counts(db.session),
                           statuses=CONSULTANT_STATUSES)


@bp.route("/consultants/<int:consultant_id>")
@staff_page(*CONSULTANT_ROLES)
def consultant_detail(consultant_id):
    consultant = consultants.get_consultant(db.session, consultant_id)
    return render_template("admin/consultant_detail.html", c=consultant,
                           history=consultants.status_history(db.session, consultant_id),
                           signatures=contracts.signatures_of(db.session, consultant_id),
                           current_signature=contracts.signature_of_current(db.session, consultant_id),
                           transitions=consultants.TRANSITIONS)


ACTION_LABELS = {"approve": "审核通过", "reject": "驳回", "suspend": "暂停", "reinstate": "恢复",
                 "terminate": "终止合作"}


@bp.route("/consultants/<int:consultant_id>/<any(approve, reject, suspend, reinstate, terminate):action>",
          methods=["POST"])
@staff_page(*CONSULTANT_ROLES)
def consultant_action(consultant_id, action):
    try:
        consultants.change_status(db.session, consultant_id, action, staff_id=g.staff.id,
                                  reason=request.form.get("reason"), now=utcnow())
    except DomainError as exc:
        if exc.status == 404:
            raise
        flash(_first_message(exc), "error")
        return redirect(url_for("admin.consultant_detail", consultant_id=consultant_id))
    flash(f"已{ACTION_LABELS[action]}", "success")
    return redirect(url_for("admin.consultant_detail", consultant_id=consultant_id))


@bp.route("/agreements", methods=["GET"])
@staff_page("admin", "operations")
def agreement_list():
    return render_template("admin/agreements.html", agreements=contracts.list_agreements(db.session))


@bp.route("/agreements", methods=["POST"])
@staff_page("admin")
def agreement_publish():
    try:
        agreement = contracts.publish_agreement(db.session, title=request.form.get("title", ""),
                                                text=request.form.get("text", ""), staff_id=g.staff.id,
                                                now=utcnow())
    except DomainError as exc:
        flash(_first_message(exc), "error")
        return render_template("admin/agreements.html", agreements=contracts.list_agreements(db.session),
                               form=request.form), exc.status
    flash(f"已发布第 {agreement.version} 版协议，所有顾问须重新签署", "success")
    return redirect(url_for("admin.agreement_list"))


def _first_message(exc: DomainError) -> str:
    fields = exc.details.get("fields") if exc.details else None
    if fields:
        return "；".join(msg for msgs in fields.values() for msg in msgs)
    return exc.message


@bp.app_template_filter("shanghai")
def shanghai_time(value) -> str:
    """Times are stored in UTC and shown in Asia/Shanghai."""
    if value is None:
        return "—"
    from zoneinfo import ZoneInfo
    return value.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
