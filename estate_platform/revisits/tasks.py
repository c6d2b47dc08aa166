"""The revisit scheduler: thin, named, idempotent (STYLE §9)."""
from __future__ import annotations

from datetime import datetime

from celery import shared_task
from flask import current_app

from ..db import commit, db, utcnow
from . import rules, services


def sample_key(config) -> bytes:
    """The key deal sampling hashes with: derived from the app's secret, never stored."""
    return f"revisits:{config['SECRET_KEY']}".encode()


@shared_task(name="revisits.schedule", acks_late=True, reject_on_worker_lost=True)
def schedule_task(now_iso: str | None = None) -> dict[str, int]:
    """Create the revisit tasks that are due; chunks commit as they go and a re-run creates nothing."""
    now = datetime.fromisoformat(now_iso) if now_iso else utcnow()
    config = current_app.config
    try:
        created = services.schedule(db.session, now=now, settings=rules.Settings.from_config(config),
                                    sample_key=sample_key(config), after_chunk=lambda: commit(db.session))
        commit(db.session)
    except Exception:
        db.session.rollback()
        raise
    return created
