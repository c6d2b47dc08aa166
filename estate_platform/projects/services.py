"""Projects (楼盘) with the registration rules (报备规则; developers themselves: ``developers``),
and whether a buyer is one of a sales office's existing customers (案场老客户; marking them:
``existing_customers``) (DESIGN §2).

Site staff (案场) work for one developer: every function that takes ``staff``
shows them only that developer's projects; any other project looks like it does
not exist (404). Other staff roles see everything their role allows.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from ..clock import local_date
from ..credit.rules import LOW_CREDIT_THRESHOLD
from ..errors import Conflict, NotFound, ValidationFailed, on_constraint
from ..identity.models import StaffUser
from .models import (PHONE_DISCLOSURES, PROJECT_STATUSES, PROTECTION_MODES, RISK_THRESHOLD_DEFAULTS,
                     RISK_THRESHOLD_RANGES, Developer, ExistingCustomer, Project)

NOT_ACCEPTING_REASONS = {
    "paused": "楼盘已暂停合作报备",
    "sold_out": "楼盘已售罄",
    "ended": "楼盘合作已结束",
    "cooperation_not_started": "楼盘合作尚未开始",
    "cooperation_ended": "楼盘合作期已结束",
}
STATUS_LABELS = {"on_sale": "在售", "paused": "暂停报备", "sold_out": "已售罄", "ended": "合作结束"}
MODE_LABELS = {"report_visit_deal": "报备→到访→成交", "report_deal": "报备→成交", "visit_deal": "到访为王"}
DISCLOSURE_LABELS = {"full": "完整号码", "first3_last4": "前三后四（138****5678）",
                     "first4_last3": "前四后三（1381****678）"}

MAX_PRICE_CENTS = 10 ** 12          # 100 亿元: far above any unit, far below BIGINT
MAX_WINDOW_HOURS = 10 * 365 * 24    # ten years
MAX_DAILY_LIMIT = 100
MAX_ATTRIBUTION_DAYS = 3650


class ProjectNotFound(NotFound):
    code, message = "project_not_found", "楼盘不存在"


class ProjectNotAccepting(Conflict):
    code, message = "project_not_accepting", "该楼盘当前不接受报备"


class DeveloperNotFound(NotFound):
    code, message = "developer_not_found", "开发商不存在"


@on_constraint("uq_developers_name", "developers.name")
class DeveloperNameTaken(Conflict):
    code, message = "developer_name_taken", "已有同名开发商"


@on_constraint("uq_existing_customers_project_id_phone", "existing_customers.project_id, existing_customers.phone")
class AlreadyExistingCustomer(Conflict):
    code, message = "already_existing_customer", "该客户已是本楼盘的案场老客户"


class BuyerUnderRegistration(Conflict):
    """The developer may not claim a buyer a consultant registered first: that is a
    dispute for operations, not something site staff settle by marking him."""
    code, message = "buyer_under_registration", "该客户已被顾问报备且在保护期内，不能标记为老客户；如有异议请联系平台运营"


class ExistingCustomerNotFound(NotFound):
    code, message = "existing_customer_not_found", "该老客户记录不存在"


# --- accepting registrations -------------------------------------------------------------

def get_project(session: Session, project_id: int) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        raise ProjectNotFound()
    return project


def not_accepting_reason(project: Project, now: datetime) -> str | None:
    """Why the project accepts no registrations right now, or None when it does."""
    if project.status != "on_sale":
        return project.status
    today = local_date(now)
    if project.cooperation_start and today < project.cooperation_start:
        return "cooperation_not_started"
    if project.cooperation_end and today > project.cooperation_end:
        return "cooperation_ended"
    return None


def _accepting_clause(today: date):
    """``not_accepting_reason(p, now) is None`` as SQL, for filtering lists."""
    return and_(Project.status == "on_sale",
                or_(Project.cooperation_start.is_(None), Project.cooperation_start <= today),
                or_(Project.cooperation_end.is_(None), Project.cooperation_end >= today))


def require_accepting(project: Project, now: datetime) -> None:
    reason = not_accepting_reason(project, now)
    if reason:
        raise ProjectNotAccepting(NOT_ACCEPTING_REASONS[reason], details={"reason": reason})


def is_existing_customer(session: Session, project_id: int, phone: str) -> bool:
    return session.scalar(select(ExistingCustomer.id).where(ExistingCustomer.project_id == project_id,
                                                            ExistingCustomer.phone == phone)) is not None


@dataclass(frozen=True)
class ProjectView:
    """A project as of one instant: whether it accepts registrations and why not.
    Reads through to the project's own attributes."""
    project: Project
    not_accepting_reason: str | None

    @property
    def accepting_registrations(self) -> bool:
        return self.not_accepting_reason is None

    @property
    def not_accepting_message(self) -> str | None:
        return NOT_ACCEPTING_REASONS.get(self.not_accepting_reason or "")

    def __getattr__(self, name: str):
        return getattr(self.project, name)


def view(project: Project, now: datetime) -> ProjectView:
    return ProjectView(project, not_accepting_reason(project, now))


# --- the rules in plain Chinese -------------------------------------------------------------

def duration_text(hours: int) -> str:
    """72 → "3天", 36 → "36小时"."""
    return f"{hours // 24}天" if hours and hours % 24 == 0 else f"{hours}小时"


def protection_summary(project: Project) -> str:
    """One line, e.g. "报备→到访（30天内）→成交（90天内）"."""
    visit, deal = duration_text(project.visit_window_hours), duration_text(project.deal_window_hours)
    if project.protection_mode == "report_deal":
        return f"报备→成交（{deal}内）"
    if project.protection_mode == "visit_deal":
        return f"到访为王：报备→到访确认（{visit}内）→成交（{deal}内）"
    return f"报备→到访（{visit}内）→成交（{deal}内）"


def rule_lines(project: Project) -> list[str]:
    """The project's registration rules as sentences a consultant or site staff can read."""
    visit, deal = duration_text(project.visit_window_hours), duration_text(project.deal_window_hours)
    if project.protection_mode == "report_deal":
        lines = [f"报备成功即锁定客户，保护期{deal}，期内成交归属报备顾问。"]
    elif project.protection_mode == "visit_deal":
        lines = ["到访为王：报备不锁定客户，多位顾问可报备同一客户；最先经案场确认到访的顾问锁定该客户，其他报备随即失效。",
                 f"报备后{visit}内未到访，报备过期；到访确认后成交保护期{deal}。"]
    else:
        lines = [f"报备成功即锁定客户，客户须在报备后{visit}内到访；到访确认后成交保护期{deal}。"]
    lines.append(f"案场看到的客户手机号：{DISCLOSURE_LABELS[project.phone_disclosure]}。")
    lines.append(f"同一客户每天最多可被报备到 {project.daily_buyer_project_limit} 个楼盘。")
    if project.reregister_cooldown_hours:
        lines.append(f"报备过期后，同一顾问须等待{duration_text(project.reregister_cooldown_hours)}才能再次报备该客户。")
    else:
        lines.append("报备过期后，同一顾问可立即再次报备该客户。")
    if project.remind_before_hours:
        lines.append(f"保护期结束前{duration_text(project.remind_before_hours)}提醒顾问。")
    lines.append("案场老客户不能报备。")
    lines.append(f"信用分低于 {LOW_CREDIT_THRESHOLD} 分的顾问每天最多在本楼盘报备 "
                 f"{project.daily_consultant_registration_cap_low_credit} 位客户。")
    return lines


# --- who sees what -----------------------------------------------------------------------------

def _scope(staff: StaffUser | None) -> int | None:
    """The one developer a site staff member works for; None for everyone else."""
    if staff is not None and staff.role == "site_staff":
        return staff.developer_id if staff.developer_id is not None else -1
    return None


def visible_project(session: Session, project_id: int, staff: StaffUser | None = None) -> Project:
    """The project if ``staff`` (None: a consultant or the system) may see it, else 404."""
    project = session.get(Project, project_id)
    developer_id = _scope(staff)
    if project is None or (developer_id is not None and project.developer_id != developer_id):
        raise ProjectNotFound()
    return project


# --- projects ------------------------------------------------------------------------------------

PROJECT_FIELDS = (
    "developer_id", "name", "city", "district", "address", "description", "price_min_cents", "price_max_cents",
    "status", "cooperation_start", "cooperation_end", "protection_mode", "visit_window_hours", "deal_window_hours",
    "phone_disclosure", "daily_buyer_project_limit", "reregister_cooldown_hours", "remind_before_hours",
    "attribution_window_days", "daily_consultant_registration_cap_low_credit", *RISK_THRESHOLD_RANGES,
    "notify_buyer_on_registration",
)
PROJECT_DEFAULTS = {
    "district": None, "address": None, "description": None, "price_min_cents": 0, "price_max_cents": 0,
    "status": "on_sale", "cooperation_start": None, "cooperation_end": None, "protection_mode": "report_visit_deal",
    "visit_window_hours": 30 * 24, "deal_window_hours": 90 * 24, "phone_disclosure": "first3_last4",
    "daily_buyer_project_limit": 3, "reregister_cooldown_hours": 72, "remind_before_hours": 72,
    "attribution_window_days": 30, "daily_consultant_registration_cap_low_credit": 5, **RISK_THRESHOLD_DEFAULTS,
    "notify_buyer_on_registration": True,
}
# The risk jobs' thresholds (risk.rules), as people read them.
RISK_THRESHOLD_LABELS = {
    "risk_visit_within_minutes": "防截客：登记后多少分钟内确认到访即预警",
    "risk_deal_within_hours": "短周期成交：登记后多少小时内认购即预警",
    "risk_collision_consultants": "撞单：同一客户被多少位顾问报备或尝试报备即预警",
    "risk_collision_days": "撞单：统计期（天）",
    "risk_velocity_count": "高频报备：同一顾问报备或尝试报备多少次即预警",
    "risk_velocity_minutes": "高频报备：统计期（分钟）",
    "risk_fishing_refusals": "试探老客户：因案场老客户被拒多少次即预警",
    "risk_fishing_days": "试探老客户：统计期（天）",
    "risk_price_drop_bps": "成交价下调：降幅达到多少（基点，100 = 1%）即预警",
    "risk_rerecord_days": "退房后换客重签：退房后多少天内为他人认购即预警",
}
_TEXTS = {"name": (100, "楼盘名称", True), "city": (50, "城市", True), "district": (50, "区域", False),
          "address": (200, "地址", False), "description": (2000, "楼盘介绍", False)}


def _known(values: dict, names: tuple[str, ...]) -> dict:
    unknown = set(values) - set(names)
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")
    return values


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_project(session: Session, values: dict) -> dict:
    """Every field checked, every problem reported at once; returns the cleaned values."""
    errors: dict[str, list[str]] = {}
    clean = dict(values)

    def bad(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    for field, (max_length, label, required) in _TEXTS.items():
        raw = values.get(field)
        if raw is not None and not isinstance(raw, str):
            bad(field, f"{label}须为文字")
            continue
        text = (raw or "").strip()
        clean[field] = text or None
        if required and not text:
            bad(field, f"请填写{label}")
        elif len(text) > max_length:
            bad(field, f"{label}不能超过 {max_length} 个字")

    developer_id = values.get("developer_id")
    if not _is_int(developer_id):
        bad("developer_id", "请选择开发商")
    elif session.get(Developer, developer_id) is None:
        bad("developer_id", "开发商不存在")

    low, high = values.get("price_min_cents"), values.get("price_max_cents")
    for field, value, label in (("price_min_cents", low, "最低价"), ("price_max_cents", high, "最高价")):
        if not _is_int(value):
            bad(field, f"请填写{label}（以分为单位的整数）")
        elif not 0 <= value <= MAX_PRICE_CENTS:
            bad(field, f"{label}须在 0 到 100 亿元之间")
    if _is_int(low) and _is_int(high) and high < low and "price_max_cents" not in errors:
        bad("price_max_cents", "最高价不能低于最低价")

    for field, choices, label in (("status", PROJECT_STATUSES, "状态"), ("protection_mode", PROTECTION_MODES, "保护模式"),
                                  ("phone_disclosure", PHONE_DISCLOSURES, "号码显示规则")):
        if values.get(field) not in choices:
            bad(field, f"{label}须为以下之一：{'、'.join(choices)}")

    start, end = values.get("cooperation_start"), values.get("cooperation_end")
    for field, value in (("cooperation_start", start), ("cooperation_end", end)):
        if value is not None and (not isinstance(value, date) or isinstance(value, datetime)):
            bad(field, "请填写有效的日期")
    if isinstance(start, date) and isinstance(end, date) and end < start and not errors.get("cooperation_end"):
        bad("cooperation_end", "合作结束日期不能早于开始日期")

    for field, low_bound, high_bound, message in (
            ("visit_window_hours", 1, MAX_WINDOW_HOURS, "到访期限须大于 0（不超过 10 年）"),
            ("deal_window_hours", 1, MAX_WINDOW_HOURS, "成交期限须大于 0（不超过 10 年）"),
            ("daily_buyer_project_limit", 1, MAX_DAILY_LIMIT, f"每日报备楼盘数须在 1 到 {MAX_DAILY_LIMIT} 之间"),
            ("reregister_cooldown_hours", 0, MAX_WINDOW_HOURS, "重新报备冷却期不能为负数（不超过 10 年）"),
            ("remind_before_hours", 0, MAX_WINDOW_HOURS, "到期提醒时间不能为负数（不超过 10 年）"),
            ("attribution_window_days", 1, MAX_ATTRIBUTION_DAYS, f"邀请归属期须在 1 到 {MAX_ATTRIBUTION_DAYS} 天之间"),
            ("daily_consultant_registration_cap_low_credit", 0, MAX_DAILY_LIMIT,
             f"低信用顾问每日报备上限须在 0 到 {MAX_DAILY_LIMIT} 之间"),
            *((field, low, high, f"{RISK_THRESHOLD_LABELS[field]}：须在 {low} 到 {high} 之间")
              for field, (low, high) in RISK_THRESHOLD_RANGES.items())):
        value = values.get(field)
        if not _is_int(value) or not low_bound <= value <= high_bound:
            bad(field, message)

    if not isinstance(values.get("notify_buyer_on_registration"), bool):
        bad("notify_buyer_on_registration", "请选择是否短信告知被报备的客户")

    if errors:
        raise ValidationFailed(errors)
    return clean


def _apply(project: Project, values: dict, now: datetime) -> None:
    for field in PROJECT_FIELDS:
        setattr(project, field, values[field])
    project.updated_at = now


def create_project(session: Session, values: dict, *, now: datetime) -> ProjectView:
    """A new project. ``values``: PROJECT_FIELDS (developer_id, name and city required;
    prices in integer cents; windows in hours); missing ones take the defaults."""
    merged = {**PROJECT_DEFAULTS, "developer_id": None, "name": None, "city": None,
              **_known(values, PROJECT_FIELDS)}
    clean = _validate_project(session, merged)
    project = Project(created_at=now)
    _apply(project, clean, now)
    session.add(project)
    session.flush()
    return view(project, now)


def update_project(session: Session, project_id: int, changes: dict, *, now: datetime) -> ProjectView:
    """Change any of PROJECT_FIELDS; the whole resulting project is validated."""
    project = get_project(session, project_id)
    current = {field: getattr(project, field) for field in PROJECT_FIELDS}
    clean = _validate_project(session, {**current, **_known(changes, PROJECT_FIELDS)})
    _apply(project, clean, now)
    session.flush()
    return view(project, now)


def change_status(session: Session, project_id: int, status: str, *, now: datetime) -> ProjectView:
    """On sale (在售) / paused (暂停报备) / sold out (已售罄) / cooperation ended (合作结束)."""
    return update_project(session, project_id, {"status": status}, now=now)


def project_detail(session: Session, project_id: int, *, now: datetime,
                   staff: StaffUser | None = None) -> ProjectView:
    return view(visible_project(session, project_id, staff), now)


def list_projects(session: Session, *, now: datetime, staff: StaffUser | None = None, city: str | None = None,
                  district: str | None = None, status: str | None = None, developer_id: int | None = None,
                  accepting_only: bool = False, q: str | None = None, page: int = 1,
                  per_page: int = 20) -> tuple[list[ProjectView], int]:
    """Projects, newest first, each with whether it accepts registrations now."""
    query = select(Project)
    scope = _scope(staff)
    if scope is not None:
        query = query.where(Project.developer_id == scope)
    if city:
        query = query.where(Project.city == city.strip())
    if district:
        query = query.where(Project.district == district.strip())
    if status:
        query = query.where(Project.status == status)
    if developer_id:
        query = query.where(Project.developer_id == developer_id)
    if accepting_only:
        query = query.where(_accepting_clause(local_date(now)))
    if q and q.strip():
        query = query.where(Project.name.contains(q.strip(), autoescape=True))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(query.options(selectinload(Project.developer))
                           .order_by(Project.created_at.desc(), Project.id.desc())
                           .offset((page - 1) * per_page).limit(per_page)).all()
    return [view(project, now) for project in rows], total


def city_choices(session: Session, staff: StaffUser | None = None) -> list[str]:
    query = select(Project.city).distinct().order_by(Project.city)
    scope = _scope(staff)
    if scope is not None:
        query = query.where(Project.developer_id == scope)
    return list(session.scalars(query))
