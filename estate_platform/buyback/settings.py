"""Buy-back prices and limits (回购参数, issue 13 §1): one platform row and per-developer terms.

The platform row is made with its defaults on first use. Requests lock it (``FOR UPDATE``)
while they check and reserve exposure, so the limits per developer, per consultant and for
the whole book hold under concurrent requests (the book limit spans developers, so one lock
serialises every reservation; approvals and releases do not take it).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..credit import rules as credit_rules
from ..db import among, bulk_insert
from ..errors import ValidationFailed
from ..projects.models import Developer
from ..projects.services import DeveloperNotFound
from .models import BuybackDeveloperTerms, BuybackSettings

DEFAULTS = {
    "annual_rate_bps": 1200,            # 12% a year
    "risk_premium_bps": 50,             # 0.5% of face
    "min_fee_cents": 5_000,             # ¥50 a line
    "advance_cap_bps": 9_000,           # at most 90% of face now
    "quote_valid_minutes": 30,
    "request_valid_hours": 72,
    "credit_threshold": credit_rules.LOW_CREDIT_THRESHOLD,
    "fallback_days": 90,
    "developer_limit_cents": 500_000_000,   # ¥5,000,000
    "consultant_limit_cents": 20_000_000,   # ¥200,000
    "book_limit_cents": 2_000_000_000,      # ¥20,000,000
    "second_approver_cents": 5_000_000,     # ¥50,000 and above: two finance users
}
RANGES = {
    "annual_rate_bps": (0, 10_000), "risk_premium_bps": (0, 10_000), "advance_cap_bps": (0, 10_000),
    "min_fee_cents": (0, 10 ** 9), "quote_valid_minutes": (1, 1440), "request_valid_hours": (1, 720),
    "credit_threshold": (0, 100), "fallback_days": (0, 730), "developer_limit_cents": (0, 10 ** 13),
    "consultant_limit_cents": (0, 10 ** 13), "book_limit_cents": (0, 10 ** 13), "second_approver_cents": (0, 10 ** 13),
}


def current(session: Session, *, now: datetime, lock: bool = False) -> BuybackSettings:
    query = select(BuybackSettings).where(BuybackSettings.id == 1)
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None:
        bulk_insert(session, BuybackSettings.__table__, [{"id": 1, **DEFAULTS, "updated_at": now}],
                    conflict_do_nothing=("id",))
        row = session.scalar(query.with_for_update() if lock else query)
    return row


def update(session: Session, changes: dict, *, staff_id: int, now: datetime) -> BuybackSettings:
    errors = {}
    for name, value in changes.items():
        low, high = RANGES[name]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            errors[name] = [f"请输入 {low} 到 {high} 之间的整数"]
    if errors:
        raise ValidationFailed(errors)
    row = current(session, now=now, lock=True)
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_by_id, row.updated_at = staff_id, now
    return row


@dataclass(frozen=True)
class DeveloperTerms:
    developer_id: int
    risk_premium_bps: int
    exposure_limit_cents: int
    own_premium: bool
    own_limit: bool


def developer_terms(session: Session, developer_ids, settings: BuybackSettings) -> dict[int, DeveloperTerms]:
    ids = sorted(set(developer_ids))
    rows = {r.developer_id: r for r in session.scalars(
        select(BuybackDeveloperTerms).where(among(session, BuybackDeveloperTerms.developer_id, ids)))} if ids else {}
    result = {}
    for developer_id in ids:
        row = rows.get(developer_id)
        premium = row.risk_premium_bps if row and row.risk_premium_bps is not None else None
        limit = row.exposure_limit_cents if row and row.exposure_limit_cents is not None else None
        result[developer_id] = DeveloperTerms(
            developer_id, settings.risk_premium_bps if premium is None else premium,
            settings.developer_limit_cents if limit is None else limit, premium is not None, limit is not None)
    return result


def set_developer_terms(session: Session, developer_id: int, *, risk_premium_bps: int | None,
                        exposure_limit_cents: int | None, staff_id: int, now: datetime) -> BuybackDeveloperTerms:
    if session.get(Developer, developer_id) is None:
        raise DeveloperNotFound()
    errors = {}
    if risk_premium_bps is not None and not 0 <= risk_premium_bps <= 10_000:
        errors["risk_premium_bps"] = ["请输入 0 到 10000 之间的整数（基点）"]
    if exposure_limit_cents is not None and not 0 <= exposure_limit_cents <= 10 ** 13:
        errors["exposure_limit_cents"] = ["额度不能为负数"]
    if errors:
        raise ValidationFailed(errors)
    row = session.get(BuybackDeveloperTerms, developer_id)
    if row is None:
        row = BuybackDeveloperTerms(developer_id=developer_id)
        session.add(row)
    row.risk_premium_bps, row.exposure_limit_cents = risk_premium_bps, exposure_limit_cents
    row.updated_by_id, row.updated_at = staff_id, now
    session.flush()
    return row
