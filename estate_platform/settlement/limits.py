"""Payout limits (付款限额, issue 12 §2): the minimum payout, the per-payout and the per-day
platform maximum.

Finance sets them in the settlement admin; every change is a new ``PayoutLimitChange`` row
(who, when, old and new values), never an edit. Until the first change the configured
``PAYOUT_MIN_CENTS`` / ``PAYOUT_MAX_CENTS`` / ``PAYOUT_DAILY_MAX_CENTS`` are in force. Every
batch path (the page, the JSON API, the monthly beat) reads them through :func:`current`, the
one place.
"""
from __future__ import annotations

from datetime import datetime
from typing import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..db import advisory_lock, paginate
from ..errors import ValidationFailed
from ..identity.models import StaffUser
from .batches import Limits
from .models import PayoutLimitChange

LOCK_PAYOUT_LIMITS = 1_202
MAX_LIMIT_CENTS = 10**12  # 100 亿元
NOTE_MAX = 500


def defaults(config: Mapping) -> Limits:
    return Limits(int(config["PAYOUT_MIN_CENTS"]), int(config["PAYOUT_MAX_CENTS"]),
                  int(config["PAYOUT_DAILY_MAX_CENTS"]))


def _latest(session: Session) -> PayoutLimitChange | None:
    return session.scalar(select(PayoutLimitChange).order_by(PayoutLimitChange.id.desc()).limit(1))


def current(session: Session, config: Mapping) -> Limits:
    """The limits in force: finance's last change, else the configured defaults."""
    row = _latest(session)
    if row is None:
        return defaults(config)
    return Limits(row.min_cents, row.max_cents, row.daily_max_cents)


def change(session: Session, staff: StaffUser, config: Mapping, *, min_cents: int, max_cents: int,
           daily_max_cents: int, note: str | None, now: datetime) -> PayoutLimitChange | None:
    """Set the limits; returns the recorded change, or None when nothing changed."""
    errors: dict[str, list[str]] = {}
    for field, value in (("min_cents", min_cents), ("max_cents", max_cents), ("daily_max_cents", daily_max_cents)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_LIMIT_CENTS:
            errors[field] = ["金额须为 1 分到 100 亿元之间的整数（分）"]
    if not errors and max_cents < min_cents:
        errors["max_cents"] = ["单笔上限不能低于最低付款额"]
    if not errors and daily_max_cents < max_cents:
        errors["daily_max_cents"] = ["单日上限不能低于单笔上限"]
    note = (note or "").strip() or None
    if note and len(note) > NOTE_MAX:
        errors["note"] = [f"说明不超过 {NOTE_MAX} 字"]
    if errors:
        raise ValidationFailed(errors)
    advisory_lock(session, LOCK_PAYOUT_LIMITS)  # two changes at once: the second sees the first as "old"
    old = current(session, config)
    if (old.min_cents, old.max_cents, old.daily_max_cents) == (min_cents, max_cents, daily_max_cents):
        return None
    row = PayoutLimitChange(min_cents=min_cents, max_cents=max_cents, daily_max_cents=daily_max_cents,
                            previous_min_cents=old.min_cents, previous_max_cents=old.max_cents,
                            previous_daily_max_cents=old.daily_max_cents, note=note, changed_by_id=staff.id,
                            changed_at=now)
    session.add(row)
    session.flush()
    return row


def history(session: Session, *, page: int = 1, per_page: int = 50) -> tuple[list[PayoutLimitChange], int]:
    query = select(PayoutLimitChange).options(selectinload(PayoutLimitChange.changed_by))
    return paginate(session, query, PayoutLimitChange.id.desc(), page=page, per_page=per_page)
