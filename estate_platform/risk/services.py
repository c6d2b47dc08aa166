"""The risk queue (风控预警队列): operations read the flags the nightly jobs raised,
dismiss one with a reason, or open a dispute from it (DESIGN §4; issue 11 §3).

A dispute from a flag goes through ``disputes.services.open_dispute`` with source
``risk_flag`` and key ``risk_flag:<id>``: asking twice opens one dispute. Who answers
depends on the kind (``rules.RESPONDENTS``): the flagged consultant for his own conduct,
the developer for its deal records (the deal's consultant then is the protected party).
A dispute needs a buyer; a flag over many buyers names the latest one it knows, and a
fishing flag whose refusals never looked a buyer up names none and cannot open one.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import paginate
from ..disputes import services as disputes
from ..errors import Conflict, NotFound, ValidationFailed
from ..identity.models import StaffUser
from . import jobs, rules
from .models import FLAG_KINDS, FLAG_STATUSES, RiskFlag

REASON_MAX = 500


class RiskFlagNotFound(NotFound):
    code, message = "risk_flag_not_found", "风控预警不存在"


class RiskFlagClosed(Conflict):
    code, message = "risk_flag_closed", "该预警已处理（已排除或已立案），不能再执行此操作"


class RiskFlagWithoutBuyer(Conflict):
    code, message = "risk_flag_without_buyer", "该预警没有可确定的客户，无法立案争议；请直接核查顾问"


def get_flag(session: Session, flag_id: int) -> RiskFlag:
    flag = session.get(RiskFlag, flag_id)
    if flag is None:
        raise RiskFlagNotFound()
    return flag


def list_flags(session: Session, *, kind: str | None = None, status: str | None = None, project_id: int | None = None,
               consultant_id: int | None = None, page: int = 1, per_page: int = 30) -> tuple[list[RiskFlag], int]:
    """Newest pattern first; the highest score first among equals."""
    query = select(RiskFlag)
    if kind:
        query = query.where(RiskFlag.kind == kind)
    if status:
        query = query.where(RiskFlag.status == status)
    if project_id:
        query = query.where(RiskFlag.project_id == project_id)
    if consultant_id:
        query = query.where(RiskFlag.consultant_id == consultant_id)
    return paginate(session, query, RiskFlag.occurred_at.desc(), RiskFlag.score.desc(), RiskFlag.id.desc(),
                    page=page, per_page=per_page)


def dismiss(session: Session, staff: StaffUser, flag_id: int, *, reason: str | None, now: datetime) -> RiskFlag:
    """排除: not a problem, with the reason. Dismissing a dismissed flag again changes nothing."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": ["请填写排除原因"]})
    if len(reason) > REASON_MAX:
        raise ValidationFailed({"reason": [f"排除原因不能超过 {REASON_MAX} 个字"]})
    flag = session.scalar(select(RiskFlag).where(RiskFlag.id == flag_id).with_for_update()
                          .execution_options(populate_existing=True))
    if flag is None:
        raise RiskFlagNotFound()
    if flag.status == "dismissed":
        return flag
    if flag.status != "open":
        raise RiskFlagClosed(details={"status": flag.status})
    flag.status, flag.dismissed_by_id, flag.dismissed_at, flag.dismiss_reason = "dismissed", staff.id, now, reason
    flag.updated_at = now
    session.flush()
    return flag


def _sale(flag: RiskFlag) -> tuple[int | None, date | None]:
    """A price cut: the dispute is about the price before it (what the buyer bought for)."""
    if flag.kind != "price_drop":
        return None, None
    evidence = flag.evidence or {}
    price, on = evidence.get("from_price_cents"), evidence.get("subscribed_on")
    if not isinstance(price, int) or not isinstance(on, str):
        return None, None
    return price, date.fromisoformat(on)


def open_dispute(session: Session, staff: StaffUser, flag_id: int, *, subject: str | None = None,
                 summary: str | None = None, now: datetime) -> tuple[RiskFlag, bool]:
    """立案: a dispute from the flag, once (``risk_flag:<id>``); ``(flag, created)``."""
    flag = session.scalar(select(RiskFlag).where(RiskFlag.id == flag_id).with_for_update()
                          .execution_options(populate_existing=True))
    if flag is None:
        raise RiskFlagNotFound()
    if flag.status == "dismissed":
        raise RiskFlagClosed(details={"status": flag.status})
    if flag.buyer_id is None:
        raise RiskFlagWithoutBuyer()
    label = rules.KIND_LABELS[flag.kind]
    respondent = rules.RESPONDENTS[flag.kind]
    sale_price_cents, sold_on = _sale(flag)
    dispute, created = disputes.open_dispute(
        session, source="risk_flag", source_key=f"risk_flag:{flag.id}", project_id=flag.project_id,
        buyer_id=flag.buyer_id, registration_id=flag.registration_id, deal_id=flag.deal_id,
        respondent_kind=respondent,
        respondent_consultant_id=flag.consultant_id if respondent == "consultant" else None,
        protected_consultant_id=flag.consultant_id if respondent == "developer" else None,
        subject=(subject or "").strip() or f"风控预警：{label}",
        summary=(summary or "").strip() or f"风控预警 #{flag.id}（{label}，评分 {flag.score}）：{flag.reason_zh}",
        opened_by_staff_id=staff.id, sale_price_cents=sale_price_cents, sold_on=sold_on, now=now)
    if flag.status != "disputed" or flag.dispute_id != dispute.id:
        flag.status, flag.dispute_id, flag.updated_at = "disputed", dispute.id, now
        session.flush()
    return flag, created


def run_now(session: Session, *, now: datetime, phone_key: str | None) -> dict[str, int]:
    """Operations run every job now (the same as the nightly task)."""
    return jobs.run_all(session, now=now, phone_key=phone_key)


__all__ = ["FLAG_KINDS", "FLAG_STATUSES", "RiskFlagClosed", "RiskFlagNotFound", "RiskFlagWithoutBuyer", "dismiss",
           "get_flag", "list_flags", "open_dispute", "run_now"]
