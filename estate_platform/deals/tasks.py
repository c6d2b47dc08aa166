"""Periodic commission recognition: every deal that reached its trigger (idempotent)."""
from __future__ import annotations

from celery import shared_task

from ..db import commit, db, utcnow
from . import batch as recognition_batch


@shared_task(name="deals.recognise_due", acks_late=True, reject_on_worker_lost=True)
def recognise_due_task() -> int:
    """Chunks commit as they go, so a lost worker resumes where it stopped; posted keys post nothing twice."""
    try:
        posted = recognition_batch.recognise_due(db.session, now=utcnow(), after_chunk=lambda: commit(db.session),
                                           read_ahead=True)
        commit(db.session)
    except Exception:
        db.session.rollback()
        raise
    return posted
