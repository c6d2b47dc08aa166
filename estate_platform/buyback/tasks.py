"""Buy-back beat task: expire undecided requests and release their exposure (STYLE §9)."""
from __future__ import annotations

from datetime import datetime

from celery import shared_task

from ..db import commit, db, utcnow
from . import requests


@shared_task(name="buyback.expire_requests", acks_late=True, reject_on_worker_lost=True)
def expire_requests_task(now_iso: str | None = None) -> int:
    """Requests past their decision window expire; a re-run expires nothing more."""
    now = datetime.fromisoformat(now_iso) if now_iso else utcnow()
    try:
        expired = requests.expire_due(db.session, now=now)
        commit(db.session)
    except Exception:
        db.session.rollback()
        raise
    return expired
