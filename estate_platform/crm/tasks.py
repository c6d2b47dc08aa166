"""Client-book jobs: follow-up reminders (idempotent, bounded)."""
from __future__ import annotations

from datetime import datetime

from celery import shared_task

from ..db import commit, db, utcnow
from . import services


@shared_task(name="crm.send_follow_up_reminders", acks_late=True, reject_on_worker_lost=True)
def send_follow_up_reminders_task(now_iso: str | None = None) -> int:
    """Remind consultants of the follow-ups due now. A note reminds once, so running it twice
    sends nothing more. ``now_iso`` (an ISO instant with its offset) replays a past run."""
    now = datetime.fromisoformat(now_iso) if now_iso else utcnow()
    if now.tzinfo is None:
        raise ValueError("now_iso must carry its UTC offset")
    try:
        sent = services.send_follow_up_reminders(db.session, now=now)
        commit(db.session)
    except Exception:
        db.session.rollback()
        raise
    return sent
