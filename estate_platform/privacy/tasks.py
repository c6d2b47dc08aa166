"""Privacy tasks: thin, named, idempotent (STYLE §9).

``privacy.send_registration_notice`` sends one buyer's registration SMS (after the commit);
``privacy.sweep_registration_notices`` retries what a lost task or an SMS outage left;
``privacy.anonymise_expired_buyers`` is the retention job (beat, nightly), in batches.
"""
from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task
from flask import current_app

from ..db import commit, db, utcnow
from . import notices, retention

log = logging.getLogger(__name__)


def objection_link(registration_id: int) -> str:
    """The short link in the SMS (PUBLIC_BASE_URL + /p/o/<signed id>)."""
    token = notices.objection_token(current_app.config["SECRET_KEY"], registration_id)
    return f"{current_app.config['PUBLIC_BASE_URL'].rstrip('/')}/p/o/{token}"


def send_claimed(registration_id: int) -> str:
    """Send one notice the outbox drain claimed, in the drain's transaction (no commit)."""
    return notices.send_registration_notice(db.session, current_app.extensions["adapters"].sms, registration_id,
                                            link_for=objection_link)


def send_one(registration_id: int) -> str:
    """Send one pending notice (an outbox item: db.after_commit_deliver); once however often it runs."""
    try:
        outcome = notices.send_registration_notice(db.session, current_app.extensions["adapters"].sms,
                                                   registration_id, link_for=objection_link)
        commit(db.session)
    except Exception:
        db.session.rollback()
        raise
    return outcome


@shared_task(name="privacy.send_registration_notice", acks_late=True, reject_on_worker_lost=True)
def send_registration_notice_task(registration_id: int) -> str:
    """Send one pending notice; a sent one is skipped, so running it twice sends once."""
    return send_one(registration_id)


@shared_task(name="privacy.sweep_registration_notices", acks_late=True, reject_on_worker_lost=True)
def sweep_registration_notices_task(limit: int = 200) -> int:
    ids = notices.pending_notices(db.session, now=utcnow(), limit=limit)
    db.session.rollback()
    sent = 0
    for registration_id in ids:
        try:
            sent += send_one(registration_id) == "sent"
        except Exception:
            log.exception("registration notice %s failed", registration_id)
    return sent


@shared_task(name="privacy.anonymise_expired_buyers", acks_late=True, reject_on_worker_lost=True)
def anonymise_expired_buyers_task(now_iso: str | None = None, batch: int = 200, max_batches: int = 50) -> int:
    """Anonymise buyers past the retention period, one committed batch at a time."""
    now = datetime.fromisoformat(now_iso) if now_iso else utcnow()
    settings = retention.RetentionSettings.from_config(current_app.config)
    total = 0
    for _ in range(max_batches):
        try:
            done = retention.anonymise_due(db.session, now=now, settings=settings, limit=batch)
            commit(db.session)
        except Exception:
            db.session.rollback()
            raise
        total += done
        if done < batch:
            break
    return total
