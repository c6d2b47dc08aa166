"""The hourly release sweep (可提现, issue 12 §2): advance terms that came due, and releases an
open dispute held once it is closed, and money still applied to a cancelled deal back to unapplied. Chunks commit as they go; a re-run releases nothing twice."""
from __future__ import annotations

from celery import shared_task

from ..db import commit, db, utcnow
from . import releases, returns


@shared_task(name="receivables.release_due", acks_late=True, reject_on_worker_lost=True)
def release_due_task() -> int:
    try:
        steps = releases.sweep(db.session, now=utcnow(), after_chunk=lambda: commit(db.session))
        commit(db.session)
        returns.sweep(db.session, now=utcnow())  # money still applied to cancelled deals → unapplied
        commit(db.session)
    except Exception:
        db.session.rollback()
        raise
    return steps
