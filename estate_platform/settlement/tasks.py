"""Settlement jobs: thin, named, idempotent (STYLE §9).

``settlement.prepare_monthly`` (beat, the 1st of each month, Shanghai time) prepares the
month's batch under the key ``monthly-YYYY-MM``, so a second run finds it and adds nothing;
finance approves it. ``settlement.send_batch`` sends an approved batch's items, each chunk
committed; ``settlement.send_pending`` (beat) resumes any batch left with items in flight.
"""
from __future__ import annotations

from datetime import datetime

from celery import shared_task
from flask import current_app
from sqlalchemy import select

from ..db import commit, db, utcnow
from . import batches, limits, payouts
from .models import SettlementBatch, SettlementItem


def _now(now_iso: str | None) -> datetime:
    return datetime.fromisoformat(now_iso) if now_iso else utcnow()


@shared_task(name="settlement.prepare_monthly", acks_late=True, reject_on_worker_lost=True)
def prepare_monthly_task(now_iso: str | None = None) -> int:
    now = _now(now_iso)
    try:
        batch, _ = batches.prepare(db.session, key=f"monthly-{batches.month_of(now)}", channel="gateway", staff=None,
                                   limits=limits.current(db.session, current_app.config), now=now,
                                   note="每月自动结算")
        commit(db.session)
    except Exception:
        db.session.rollback()
        raise
    return batch.id


@shared_task(name="settlement.send_batch", acks_late=True, reject_on_worker_lost=True)
def send_batch_task(batch_id: int, now_iso: str | None = None) -> dict[str, int]:
    try:
        counts = payouts.send_batch(db.session, current_app.extensions["adapters"].payouts, batch_id,
                                    now=_now(now_iso), after_chunk=lambda: commit(db.session),
                                    chunk_size=current_app.config["PAYOUT_SEND_CHUNK_SIZE"])
        commit(db.session)
    except Exception:
        db.session.rollback()
        raise
    return counts


@shared_task(name="settlement.send_pending", acks_late=True, reject_on_worker_lost=True)
def send_pending_task(now_iso: str | None = None) -> int:
    ids = list(db.session.scalars(select(SettlementBatch.id).join(
        SettlementItem, SettlementItem.batch_id == SettlementBatch.id).where(
        SettlementBatch.channel == "gateway", SettlementBatch.status != "completed",  # (through the batch)
        SettlementItem.status == "sending").distinct()))
    db.session.rollback()
    for batch_id in ids:
        send_batch_task(batch_id, now_iso)
    return len(ids)
