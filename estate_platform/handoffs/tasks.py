"""Handoff jobs: time out unanswered offers and move the handoffs on (idempotent)."""
from __future__ import annotations

from datetime import datetime, timezone

from celery import shared_task

from ..db import commit, db, utcnow
from . import services


@shared_task(name="handoffs.reroute_timed_out", acks_late=True, reject_on_worker_lost=True)
def reroute_timed_out_task(now_iso: str | None = None) -> int:
    """One bounded batch every few minutes (beat); a handoff answered meanwhile is left alone."""
    now = datetime.fromisoformat(now_iso) if now_iso else utcnow()
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    try:
        moved = services.reroute_timed_out(db.session, now=now)
        commit(db.session)
    except Exception:
        db.session.rollback()
        raise
    return moved
