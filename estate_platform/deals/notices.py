"""Telling consultants their recognised commissions (DESIGN §5): one notification per consultant
per recognition, through an outbox of notices.

Recognition writes a notice in its own transaction: the deals it recognised (``record``; one row
for a chunk of the batch, whatever the consultants). The outbox drain turns the ready notices into
one notification per consultant, the number of his deals and the total of his current lines across
all of them (summed by the database), and deletes them, in one transaction (``fan_out``): a notice
is told once, however often or however concurrently the drain runs, and none is lost when a run
fails. A deal re-priced before the drain ran is told with its current lines; one reversed since is
told too, and its reversal follows (``recognition.reverse`` tells that at once).

A batch (``batch.recognise_due``) holds its chunks' notices back (``held_for`` its run) and
releases them in its last statement (``release``), so a consultant whose deals fall in many
chunks hears once per batch, not once per chunk. A batch that died before its end leaves its
notices held; the drain takes them once they are older than ``STALLED_AFTER``: late, never lost.
"""
from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta
from uuid import uuid4

from sqlalchemy import delete, distinct, func, insert, or_, select, update
from sqlalchemy.orm import Session

from ..commissions.models import CommissionLine
from ..db import among, id_chunks, wake_drain_after_commit
from ..money import yuan
from ..notifications.services import notify_many
from .models import CommissionNotice, Deal

STALLED_AFTER = timedelta(minutes=30)  # a batch of 1M deals takes a few minutes here
CLAIM = 100  # notices per transaction of the fan-out (a batch writes one per chunk of 1,000 deals)
_EARNINGS = {"page": "earnings"}


def new_batch() -> str:
    return uuid4().hex


def record(session: Session, deal_ids: list[int], *, now: datetime, held_for: str | None = None) -> None:
    """A notice of these deals, whose commission was just recognised. Unless a batch holds it, the
    drain is woken once this unit of work commits."""
    if not deal_ids:
        return
    session.execute(insert(CommissionNotice.__table__).values(
        held_for=held_for, deals=json.dumps(deal_ids, separators=(",", ":")), created_at=now))
    if held_for is None:
        wake_drain_after_commit(session)


def release(session: Session, batch: str) -> int:
    """The batch is done: its notices are ready for the drain (woken after the commit)."""
    table = CommissionNotice.__table__
    released = session.execute(update(table).where(table.c.held_for == batch).values(held_for=None)).rowcount
    if released:
        wake_drain_after_commit(session)
    return released


def fan_out(session: Session, *, now: datetime, limit: int = CLAIM) -> tuple[int, int]:
    """Turn up to ``limit`` ready notices into notifications and delete them, in the current
    transaction (the caller commits). Returns (notices taken, notifications written); (0, 0)
    when none is ready. Notices are locked ``FOR UPDATE SKIP LOCKED`` on PostgreSQL: a notice
    another drain holds is left to it."""
    table = CommissionNotice.__table__
    taken = session.execute(
        select(table.c.id, table.c.deals)
        .where(or_(table.c.held_for.is_(None), table.c.created_at < now - STALLED_AFTER))
        .order_by(table.c.id).limit(limit).with_for_update(skip_locked=True)).all()
    if not taken:
        return 0, 0
    deals_of: dict[int, int] = defaultdict(int)  # consultant → his deals told now
    cents_of: dict[int, int] = defaultdict(int)
    line, deal = CommissionLine.__table__.c, Deal.__table__.c
    told = {deal_id for _, deals in taken for deal_id in json.loads(deals)}
    for chunk in id_chunks(session, told):  # disjoint sets of deals: the counts and sums add up
        for consultant_id, deals, cents in session.execute(
                select(line.party_id, func.count(distinct(line.deal_id)), func.sum(line.amount_cents))
                .join_from(CommissionLine.__table__, Deal.__table__,
                           (deal.id == line.deal_id) & (deal.lines_version == line.version))
                .where(line.party_type == "consultant", among(session, line.deal_id, chunk))
                .group_by(line.party_id)):
            deals_of[consultant_id] += deals
            cents_of[consultant_id] += int(cents)  # SUM of a bigint is a numeric on PostgreSQL
    written = notify_many(session, [
        (consultant_id, "commission_recognised",
         f"{deals} 笔成交佣金已确认，共 {yuan(cents_of[consultant_id])}，待开发商回款后可提现", _EARNINGS)
        for consultant_id, deals in sorted(deals_of.items())], now=now)
    session.execute(delete(table).where(table.c.id.in_([notice_id for notice_id, _ in taken])))
    return len(taken), written
