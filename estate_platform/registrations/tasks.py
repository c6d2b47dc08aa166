"""Periodic registration jobs: expiry and reminders (idempotent)."""
from __future__ import annotations

from celery import shared_task

from ..db import commit, db, utcnow
from . import services


@shared_task(name="registrations.expire_due", acks_late=True, reject_on_worker_lost=True)
def expire_due_task() -> int:
    expired = services.expire_due(db.session, now=utcnow())
    commit(db.session)
    return expired


@shared_task(name="registrations.remind_expiring", acks_late=True, reject_on_worker_lost=True)
def remind_expiring_task() -> int:
    sent = services.remind_expiring(db.session, now=utcnow())
    commit(db.session)
    return sent
