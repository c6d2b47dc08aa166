"""Celery tasks: thin, named, idempotent (STYLE §9). Each is its own unit of work."""
from __future__ import annotations

from datetime import datetime

from celery import shared_task

from .db import db, utcnow
from .identity.services import purge_expired_sms_codes


@shared_task(name="identity.purge_expired_sms_codes", acks_late=True, reject_on_worker_lost=True)
def purge_expired_sms_codes_task(now_iso: str | None = None) -> int:
    """Delete SMS codes that are long past use. Running it twice deletes nothing more."""
    now = datetime.fromisoformat(now_iso) if now_iso else utcnow()
    try:
        removed = purge_expired_sms_codes(db.session, now=now)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return removed
