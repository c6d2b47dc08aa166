"""Admin pages: developers (开发商), projects (楼盘) and their registration rules,
existing customers (案场老客户).

The form speaks the staff's units: prices in 万元 (converted exactly to integer
cents, never through a float), windows in 天 or 小时 (converted to hours). The
service validates the whole project; its field errors are shown beside each input.
"""
from __future__ import annotations

import re
from datetime import date

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from estate_platform.db import db, utcnow
from estate_platform.errors import DomainError, ValidationFailed
from estate_platform.phones import PHONE_INPUT_MAX_LENGTH, mask_phone, national
from estate_platform.privacy import reveals
from estate_platform.projects import developers as developer_book, existing_customers, services as projects
from estate_platform.projects.models import PHONE_DISCLOSURES, PROJECT_STATUSES, PROTECTION_MODES

from .pages import staff_page

bp = Blueprint("admin_projects", __name__, url_prefix="/admin/projects", template_folder="templates")

MANAGERS = ("admin", "operations")
READERS = ("admin", "operations", "finance", "site_staff")
DEVELOPER_READERS = ("admin", "operations", "finance")
CUSTOMER_KEEPERS = ("admin", "operations", "site_staff")
PER_PAGE = 20

CENTS_PER_WAN = 1_000_000  # 1 万元 = 10 000 元 = 1 000 000 分
UNIT_HOURS = {"days": 24, "hours": 1}
# form input (value, unit) → service field in hours
DURATIONS = {"visit_window": "visit_window_hours", "deal_window": "deal_window_hours",
             "reregister_cooldown": "reregister_cooldown_hours", "remind_before": "remind_before_hours"}
PRICES = {"price_min": "price_min_cents", "price_max": "price_max_cents"}
TEXTS = ("name", "city", "district", "address", "description")
# Tell the buyer by SMS when a consultant registers him (privacy.notices; on by default).
NOTIFY_BUYER = "notify_buyer_on_registration"
_AMOUNT = re.compile(r"^(\d{1,9})(?:\.(\d+))?$")


# --- units -------------------------------------------------------------------------------------

def wan_to_cents(text: str) -> int:
    """"350.5" (万元) → 350 500 000 分, exactly; ValueError for anything else."""
    match = _AMOUNT.fullmatch(text.strip())
    if not match:
        raise ValueError("not an amount")
    whole, fraction = match.group(1), match.group(2) or ""
    if len(fraction) > 6:
        raise ValueError("finer than a cent")
    return int(whole) * CENTS_PER_WAN + int(fraction.ljust(6, "0"))


def cents_to_wan(cents: int) -> str:
    """350 500 000 分 → "350.5" (万元), exactly."""
    whole, rest = divmod(cents, CENTS_PER_WAN)
    return str(whole) if not rest else f"{whole}.{rest:06d}".rstrip("0")


def split_hours(hours: int) -> tuple[str, str]:
    """Hours shown as whole days when they are."""
    return (str(hours // 24), "days") if hours % 24 == 0 else (str(hours), "hours")


@bp.app_template_filter("wan")
def _wan_filter(cents: int) -> str:
    return cents_to_wan(cents)


@bp.app_template_filter("price_range")
def _price_range(project) -> str:
    if not project.price_min_cents and not project.price_max_cents:
        return "价格待定"
    low, high = cents_to_wan(project.price_min_cents), cents_to_wan(project.price_max_cents)
    return f"{low} 万元" if low == high else f"{low}–{high} 万元"


def _labels() -> dict:
    return {"PROJECT_STATUS_LABELS": projects.STATUS_LABELS, "MODE_LABELS": projects.MODE_LABELS,
            "DISCLOSURE_LABELS": projects.DISCLOSURE_LABELS, "PROJECT_STATUSES": PROJECT_STATUSES,
            "PROTECTION_MODES": PROTECTION_MODES, "PHONE_DISCLOSURES": PHONE_DISCLOSURES,
            "protection_summary": projects.protection_summary}


# --- the project form ----------------------------------------------------------------------------

def form_from_project(project) -> dict[str, str]:
    values = {name: getattr(project, name) or "" for name in TEXTS}
    values.update({
        "developer_id": str(project.developer_id), "status": project.status,
        "protection_mode": project.protection_mode, "phone_disclosure": project.phone_disclosure,
        "daily_buyer_project_limit": str(project.daily_buyer_project_limit),
        "attribution_window_days": str(project.attribution_window_days),
        "cooperation_start": project.cooperation_start.isoformat() if project.cooperation_start else "",
        "cooperation_end": project.cooperation_end.isoformat() if project.cooperation_end else "",
        NOTIFY_BUYER: "1" if project.notify_buyer_on_registration else "",
    })
    for field, column in PRICES.items():
        cents = getattr(project, column)
        values[field] = cents_to_wan(cents) if cents else ""
    for field, column in DURATIONS.items():
        values[field], values[f"{field}_unit"] = split_hours(getattr(project, column))
    return values


def blank_form() -> dict[str, str]:
    values = {name: "" for name in (*TEXTS, "developer_id", "cooperation_start", "cooperation_end", *PRICES)}
    defaults = projects.PROJECT_DEFAULTS
    values.update({"status": defaults["status"], "protection_mode": defaults["protection_mode"],
                   "phone_disclosure": defaults["phone_disclosure"],
                   "daily_buyer_project_limit": str(defaults["daily_buyer_project_limit"]),
                   "attribution_window_days": str(defaults["attribution_window_days"]),
                   NOTIFY_BUYER: "1" if defaults[NOTIFY_BUYER] else ""})
    for field, column in DURATIONS.items():
        values[field], values[f"{field}_unit"] = split_hours(defaults[column])
    return values


def parse_project_form(form) -> tuple[dict, dict[str, list[str]]]:
    """The form in service units, and what could not be read. An unreadable input is
    passed on as typed, so the service refuses it too and every problem shows at once."""
    values: dict = {name: form.get(name, "") for name in (*TEXTS, "status", "protection_mode", "phone_disclosure")}
    errors: dict[str, list[str]] = {}

    def read(column: str, text: str, convert, message: str):
        try:
            return convert(text.strip())
        except ValueError:
            errors[column] = [message]
            return text

    def whole(text: str) -> int:
        if not (text.isdigit() and len(text) <= 9):
            raise ValueError(text)
        return int(text)

    values["developer_id"] = read("developer_id", form.get("developer_id", ""), whole, "请选择开发商")
    for field, column in PRICES.items():
        values[column] = read(column, form.get(field, ""), lambda t: wan_to_cents(t) if t else 0,
                              "请输入以万元为单位的金额，最多精确到分（如 350 或 350.5）")
    for field in ("cooperation_start", "cooperation_end"):
        values[field] = read(field, form.get(field, ""), lambda t: date.fromisoformat(t) if t else None,
                             "请填写有效的日期（YYYY-MM-DD）")
    for field, column in DURATIONS.items():
        unit = UNIT_HOURS.get(form.get(f"{field}_unit", ""))
        amount = read(column, form.get(field, ""), whole, "请填写整数")
        if unit is None:
            errors[column] = ["请选择单位：天或小时"]
        values[column] = amount * unit if isinstance(amount, int) and unit else f"{amount} {unit}"
    for column in ("daily_buyer_project_limit", "attribution_window_days"):
        values[column] = read(column, form.get(column, ""), whole, "请填写整数")
    if form.get(f"{NOTIFY_BUYER}_shown"):  # an unchecked box sends nothing: only a form that showed it may clear it
        values[NOTIFY_BUYER] = form.get(NOTIFY_BUYER) == "1"
    return values, errors


def _render_form(project=None, form=None, errors=None, status: int = 200):
    return render_template("admin/projects/form.html", project=project,
                           form=form or (form_from_project(project) if project else blank_form()),
                           errors=errors or {}, developers=developer_book.developer_choices(db.session),
                           **_labels()), status


def _refused(exc: ValidationFailed, parse_errors: dict, project=None):
    """The form again, each input with its problem (ours are more precise than the service's)."""
    return _render_form(project, request.form, {**exc.details.get("fields", {}), **parse_errors}, 422)


# --- projects --------------------------------------------------------------------------------------

@bp.route("/")
@staff_page(*READERS)
def project_list():
    status = request.args.get("status") or None
    if status not in (None, *PROJECT_STATUSES):
        abort(400)
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    developer_id = request.args.get("developer_id", type=int) or None
    city = (request.args.get("city") or "").strip()[:50] or None
    q = (request.args.get("q") or "").strip()[:50] or None
    items, total = projects.list_projects(db.session, now=utcnow(), staff=g.staff, city=city, status=status,
                                          developer_id=developer_id, q=q, page=page, per_page=PER_PAGE)
    developers = developer_book.developer_choices(db.session) if g.staff.role != "site_staff" else []
    return render_template("admin/projects/list.html", items=items, total=total, page=page, per_page=PER_PAGE,
                           status=status, city=city or "", q=q or "", developer_id=developer_id,
                           cities=projects.city_choices(db.session, g.staff), developers=developers, **_labels())


@bp.route("/new", methods=["GET", "POST"])
@staff_page(*MANAGERS)
def project_new():
    if request.method == "GET":
        return _render_form()
    values, parse_errors = parse_project_form(request.form)
    try:
        created = projects.create_project(db.session, values, now=utcnow())
    except ValidationFailed as exc:
        return _refused(exc, parse_errors)
    flash(f"已创建楼盘「{created.name}」", "success")
    return redirect(url_for("admin_projects.project_detail", project_id=created.id))


@bp.route("/<int:project_id>/edit", methods=["GET", "POST"])
@staff_page(*MANAGERS)
def project_edit(project_id):
    project = projects.get_project(db.session, project_id)
    if request.method == "GET":
        return _render_form(project)
    values, parse_errors = parse_project_form(request.form)
    try:
        projects.update_project(db.session, project_id, values, now=utcnow())
    except ValidationFailed as exc:
        return _refused(exc, parse_errors, project)
    flash("已保存", "success")
    return redirect(url_for("admin_projects.project_detail", project_id=project_id))


def _render_detail(project_id: int, *, customer_form=None, customer_error: str | None = None, status: int = 200,
                   revealed: dict | None = None):
    project = projects.project_detail(db.session, project_id, now=utcnow(), staff=g.staff)
    customers, customer_total = ([], 0)
    if g.staff.role in CUSTOMER_KEEPERS:
        customers, customer_total = existing_customers.list_existing_customers(db.session, project_id, staff=g.staff,
                                                                     per_page=200)
    return render_template("admin/projects/detail.html", p=project, rules=projects.rule_lines(project.project),
                           summary=projects.protection_summary(project.project), customers=customers,
                           customer_total=customer_total, customer_form=customer_form or {},
                           customer_error=customer_error, can_manage=g.staff.role in MANAGERS,
                           can_keep_customers=g.staff.role in CUSTOMER_KEEPERS, revealed=revealed or {},
                           mask_phone=mask_phone, **_labels()), status


@bp.route("/<int:project_id>")
@staff_page(*READERS)
def project_detail(project_id):
    return _render_detail(project_id)


@bp.route("/<int:project_id>/status", methods=["POST"])
@staff_page(*MANAGERS)
def project_status(project_id):
    try:
        result = projects.change_status(db.session, project_id, request.form.get("status", ""), now=utcnow())
    except ValidationFailed as exc:
        flash(_first_message(exc), "error")
        return redirect(url_for("admin_projects.project_detail", project_id=project_id))
    flash(f"状态已改为「{projects.STATUS_LABELS[result.status]}」", "success")
    return redirect(url_for("admin_projects.project_detail", project_id=project_id))


@bp.route("/<int:project_id>/existing-customers", methods=["POST"])
@staff_page(*CUSTOMER_KEEPERS)
def existing_customer_add(project_id):
    form = {"phone": request.form.get("phone", "")[:PHONE_INPUT_MAX_LENGTH + 1],
            "name": request.form.get("name", "")[:50]}
    try:
        customer = existing_customers.mark_existing_customer(db.session, project_id, phone=form["phone"], name=form["name"],
                                                   staff=g.staff, now=utcnow())
    except DomainError as exc:
        if exc.status == 404:
            raise
        return _render_detail(project_id, customer_form=form, customer_error=_first_message(exc),
                              status=exc.status)
    flash(f"已标记老客户 {customer.name or ''}（{mask_phone(customer.phone)}），此后不能再报备到本楼盘", "success")
    return redirect(url_for("admin_projects.project_detail", project_id=project_id) + "#existing-customers")


@bp.route("/<int:project_id>/existing-customers/<int:customer_id>/reveal-phone", methods=["POST"])
@staff_page(*CUSTOMER_KEEPERS)
def existing_customer_reveal(project_id, customer_id):
    """The full number for a stated purpose, logged in phone_reveals (issue 15 §1)."""
    try:
        phone = reveals.reveal_existing_customer(db.session, g.staff, project_id, customer_id,
                                                 purpose=request.form.get("purpose"), now=utcnow())
    except ValidationFailed as exc:
        db.session.rollback()
        return _render_detail(project_id, customer_error=_first_message(exc), status=exc.status)
    return _render_detail(project_id, revealed={customer_id: phone})


@bp.route("/<int:project_id>/existing-customers/<int:customer_id>/delete", methods=["POST"])
@staff_page(*CUSTOMER_KEEPERS)
def existing_customer_remove(project_id, customer_id):
    existing_customers.unmark_existing_customer(db.session, project_id, customer_id, staff=g.staff, now=utcnow())
    flash("已取消老客户标记", "success")
    return redirect(url_for("admin_projects.project_detail", project_id=project_id) + "#existing-customers")


# --- developers ---------------------------------------------------------------------------------------

def _developer_values() -> dict:
    return {name: request.form.get(name, "") for name in developer_book.DEVELOPER_FIELDS}


def _render_developers(form=None, error: str | None = None, errors=None, status: int = 200):
    q = (request.args.get("q") or "").strip()[:50] or None
    developers, total = developer_book.list_developers(db.session, q=q, per_page=100)
    return render_template("admin/projects/developers.html", developers=developers, total=total, q=q or "",
                           form=form or {}, error=error, errors=errors or {},
                           can_manage=g.staff.role in MANAGERS), status


@bp.route("/developers", methods=["GET"])
@staff_page(*DEVELOPER_READERS)
def developer_list():
    return _render_developers()


@bp.route("/developers", methods=["POST"])
@staff_page(*MANAGERS)
def developer_create():
    form = _developer_values()
    try:
        developer = developer_book.create_developer(db.session, developer_book.DeveloperInput(**form), now=utcnow())
    except (ValidationFailed, projects.DeveloperNameTaken) as exc:
        return _render_developers(form, _first_message(exc), exc.details.get("fields"), exc.status)
    flash(f"已添加开发商「{developer.name}」", "success")
    return redirect(url_for("admin_projects.developer_list"))


@bp.route("/developers/<int:developer_id>/edit", methods=["GET", "POST"])
@staff_page(*MANAGERS)
def developer_edit(developer_id):
    developer = developer_book.get_developer(db.session, developer_id)
    if request.method == "GET":
        form = {"name": developer.name, "contact_name": developer.contact_name or "",
                "contact_phone": national(developer.contact_phone) if developer.contact_phone else ""}
        return render_template("admin/projects/developer_form.html", developer=developer, form=form, errors={})
    form = _developer_values()
    try:
        developer_book.update_developer(db.session, developer_id, form, now=utcnow())
    except (ValidationFailed, projects.DeveloperNameTaken) as exc:
        return render_template("admin/projects/developer_form.html", developer=developer, form=form,
                               errors=exc.details.get("fields", {})), exc.status
    flash("已保存", "success")
    return redirect(url_for("admin_projects.developer_list"))


def _first_message(exc: DomainError) -> str:
    fields = exc.details.get("fields") if exc.details else None
    if fields:
        return "；".join(msg for msgs in fields.values() for msg in msgs)
    return exc.message
