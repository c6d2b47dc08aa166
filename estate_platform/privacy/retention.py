"""Retention (保存期限, PIPL art. 19, issue 15 §1): buyers who never bought are anonymised
after a period without activity.

A buyer qualifies when he has no deal, no open registration, no open dispute, no money of
his own on the ledger, and nothing happened to him (created, signed in, a registration
changed) for ``BUYER_RETENTION_DAYS``. The period must outlast reconciliation: a developer's
sales list may arrive ``SALES_LIST_DELAY_DAYS`` after a sale made at the very end of the
longest protection window, and a buyer already anonymised could no longer be matched, so
跑单 could not be proven. ``config.check_retention`` refuses a configured period shorter than
``PROTECTION_WINDOW_MAX_DAYS + SALES_LIST_DELAY_DAYS``; the job also reads the longest window
any project really has and never uses a shorter period than that plus the delay.

Batches (``limit``), each buyer once: an erased buyer no longer qualifies, so a re-run
anonymises nobody twice.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from ..deals.models import Deal
from ..disputes.models import Dispute
from ..identity.models import Buyer
from ..ledger.models import Account
from ..projects.models import Project
from ..registrations.models import OPEN_STATUSES, Registration
from . import erasure
from .models import PrivacyEvent, PrivacyRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionSettings:
    retention_days: int
    protection_window_max_days: int
    sales_list_delay_days: int

    @classmethod
    def from_config(cls, config) -> "RetentionSettings":
        return cls(retention_days=int(config.get("BUYER_RETENTION_DAYS", 365)),
                   protection_window_max_days=int(config.get("PROTECTION_WINDOW_MAX_DAYS", 120)),
                   sales_list_delay_days=int(config.get("SALES_LIST_DELAY_DAYS", 90)))

    def problems(self) -> list[str]:
        floor = self.protection_window_max_days + self.sales_list_delay_days
        if min(self.retention_days, self.protection_window_max_days, self.sales_list_delay_days) < 1:
            return ["BUYER_RETENTION_DAYS, PROTECTION_WINDOW_MAX_DAYS and SALES_LIST_DELAY_DAYS must be positive"]
        if self.retention_days < floor:
            return [f"BUYER_RETENTION_DAYS ({self.retention_days}) must be at least PROTECTION_WINDOW_MAX_DAYS + "
                    f"SALES_LIST_DELAY_DAYS ({floor}): reconciliation must still find the buyer"]
        return []


def effective_days(session: Session, settings: RetentionSettings) -> int:
    """The configured period, lengthened if a project's real window is longer than the setting."""
    longest_hours = session.scalar(select(func.max(Project.visit_window_hours + Project.deal_window_hours))) or 0
    floor = -(-longest_hours // 24) + settings.sales_list_delay_days
    if floor > settings.retention_days:
        log.warning("retention period %s days is shorter than the longest protection window plus the sales-list "
                    "delay (%s days); using the latter", settings.retention_days, floor)
    return max(settings.retention_days, floor)


def due_buyers(session: Session, *, now: datetime, days: int, limit: int) -> list[int]:
    cutoff = now - timedelta(days=days)
    query = (select(Buyer.id).where(
        Buyer.erased_at.is_(None), Buyer.created_at < cutoff,
        or_(Buyer.last_login_at.is_(None), Buyer.last_login_at < cutoff),
        ~exists().where(Deal.buyer_id == Buyer.id),
        ~exists().where(Registration.buyer_id == Buyer.id,
                        or_(Registration.status.in_(OPEN_STATUSES), Registration.updated_at >= cutoff)),
        ~exists().where(Dispute.buyer_id == Buyer.id, Dispute.status.in_(("open", "investigating"))),
        ~exists().where(Account.party_type == "buyer", Account.party_id == Buyer.id))
        .order_by(Buyer.id).limit(limit))
    return list(session.scalars(query))


def anonymise_due(session: Session, *, now: datetime, settings: RetentionSettings, limit: int = 200) -> int:
    """One batch: anonymise up to ``limit`` qualifying buyers; returns how many."""
    ids = due_buyers(session, now=now, days=effective_days(session, settings), limit=limit)
    for buyer in session.scalars(select(Buyer).where(Buyer.id.in_(ids)).order_by(Buyer.id)) if ids else []:
        erasure.anonymise(session, buyer, now=now)
        request = PrivacyRequest(buyer_id=buyer.id, status="erased", channel="retention", decided_at=now,
                                 created_at=now)
        session.add(request)
        session.flush()
        session.add(PrivacyEvent(buyer_id=buyer.id, request_id=request.id, action="erased", actor_type="system",
                                 detail="保存期满", created_at=now))
    session.flush()
    return len(ids)
