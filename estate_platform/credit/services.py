"""Changing and reading a consultant's credit score (信用分, DESIGN §4).

``adjust`` is the one way the score moves: it appends a ``CreditEvent`` for a cause
(``ref``) and updates ``Consultant.rating`` in the same transaction, clamped to 0–100.
A cause counts once: a second call with the same ``ref`` (a retry, a re-run task, a
concurrent caller) changes nothing — the unique (consultant, ref) decides under
concurrency. The consultant is told when his score changes.

Other areas call the named functions: ``dispute_upheld`` (disputes), ``revisit_confirmed``
(revisits), ``risk_flagged`` (risk jobs); ``award_tenure`` runs daily from beat.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..clock import local_date
from ..consultants.models import Consultant
from ..db import paginate
from ..notifications.services import notify
from . import rules
from .models import CreditEvent


def adjust(session: Session, consultant_id: int, delta: int, *, reason_code: str, reason_text: str, ref: str,
           now: datetime) -> CreditEvent | None:
    """Apply ``delta`` for the cause ``ref``; None when that cause was counted before."""
    consultant = session.scalar(select(Consultant).where(Consultant.id == consultant_id).with_for_update()
                                .execution_options(populate_existing=True))
    if consultant is None:
        raise ValueError(f"no consultant {consultant_id}")
    before = consultant.rating if consultant.rating is not None else rules.INITIAL_SCORE
    after = rules.clamp(before + delta)
    event = CreditEvent(consultant_id=consultant_id, delta=after - before, score_after=after,
                        reason_code=reason_code, reason_text=reason_text, ref=ref, created_at=now)
    try:
        with session.begin_nested():
            session.add(event)
    except IntegrityError:
        return None  # this cause was counted already
    if after != before:
        consultant.rating = after
        consultant.updated_at = now
        change = f"+{after - before}" if after > before else str(after - before)
        warning = f"，低于 {rules.LOW_CREDIT_THRESHOLD} 分时每日报备数量受限" if rules.is_low(after) else ""
        notify(session, consultant_id, "credit_changed",
               f"您的信用分 {change}，现为 {after} 分（{reason_text}）{warning}", now=now, score=after,
               delta=after - before, reason_code=reason_code)
    return event


def dispute_upheld(session: Session, consultant_id: int, dispute_id: int, subject: str, *,
                   now: datetime) -> CreditEvent | None:
    return adjust(session, consultant_id, rules.DISPUTE_UPHELD, reason_code="dispute_upheld",
                  reason_text=f"争议 #{dispute_id} 成立：{subject}"[:500], ref=f"dispute:{dispute_id}", now=now)


def revisit_confirmed(session: Session, consultant_id: int, revisit_id: int, *, now: datetime) -> CreditEvent | None:
    """For revisits (回访): the buyer confirmed the consultant's account."""
    return adjust(session, consultant_id, rules.REVISIT_CONFIRMED, reason_code="revisit_confirmed",
                  reason_text=f"回访 #{revisit_id} 客户确认", ref=f"revisit:{revisit_id}", now=now)


def risk_flagged(session: Session, consultant_id: int, flag_id: int, reason: str, *,
                 now: datetime) -> CreditEvent | None:
    """For the risk jobs: a flag raised against the consultant."""
    return adjust(session, consultant_id, rules.RISK_FLAG, reason_code="risk_flag",
                  reason_text=f"风控预警 #{flag_id}：{reason}"[:500], ref=f"risk_flag:{flag_id}", now=now)


def award_tenure(session: Session, *, now: datetime, chunk_size: int = 500) -> int:
    """+1 for each full month an active consultant has been with the platform since his
    approval (``tenure:<n>`` for the n-th month). Safe to run twice or concurrently; a
    month the task never ran for is not paid retroactively (only the latest month counts)."""
    today = local_date(now)
    awarded = 0
    last_id = 0
    while True:
        rows = session.execute(select(Consultant.id, Consultant.approved_at)
                               .where(Consultant.status == "active", Consultant.approved_at.is_not(None),
                                      Consultant.id > last_id)
                               .order_by(Consultant.id).limit(chunk_size)).all()
        if not rows:
            break
        last_id = rows[-1][0]
        due = {consultant_id: f"tenure:{months}" for consultant_id, approved_at in rows
               if (months := rules.full_months(local_date(approved_at), today)) >= 1}
        if due:
            counted = set(session.execute(select(CreditEvent.consultant_id, CreditEvent.ref).where(
                CreditEvent.consultant_id.in_(list(due)), CreditEvent.ref.in_(set(due.values())))).all())
            for consultant_id, ref in sorted(due.items()):
                if (consultant_id, ref) in counted:
                    continue
                months = ref.split(":", 1)[1]
                if adjust(session, consultant_id, rules.TENURE_MONTH, reason_code="tenure",
                          reason_text=f"合作满 {months} 个月", ref=ref, now=now) is not None:
                    awarded += 1
    return awarded


# --- reading ----------------------------------------------------------------------------

@dataclass
class CreditView:
    score: int
    threshold: int
    low: bool
    events: list[CreditEvent]
    total: int
    page: int
    per_page: int


def credit_of(session: Session, consultant_id: int, *, page: int = 1, per_page: int = 20) -> CreditView:
    """His score and its history, newest first."""
    score = session.scalar(select(Consultant.rating).where(Consultant.id == consultant_id))
    score = rules.INITIAL_SCORE if score is None else score
    events, total = paginate(session, select(CreditEvent).where(CreditEvent.consultant_id == consultant_id),
                             CreditEvent.created_at.desc(), CreditEvent.id.desc(), page=page, per_page=per_page)
    return CreditView(score=score, threshold=rules.LOW_CREDIT_THRESHOLD, low=rules.is_low(score), events=events,
                      total=total, page=page, per_page=per_page)

