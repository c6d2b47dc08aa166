"""Credit tasks: thin, named, idempotent (STYLE §9)."""
from __future__ import annotations

from datetime import datetime

from celery import shared_task

from ..db import commit, db, utcnow
from . import services


@shared_task(name="credit.award_tenure", acks_late=True, reject_on_worker_lost=True)
def award_tenure_task(now_iso: str | None = None) -> int:
    """+1 per full month active; a month already counted counts nothing (safe to run twice)."""
    now = datetime.fromisoformat(now_iso) if now_iso else utcnow()
    try:
        awarded = services.award_tenure(db.session, now=now)
        commit(db.session)
    except Exception:
        db.session.rollback()
        raise
    return awarded
