"""Delivery of notifications through the notification adapter."""
from __future__ import annotations

import logging

from celery import shared_task
from flask import current_app

from ..db import commit, db, utcnow
from . import delivery

log = logging.getLogger(__name__)


def _sender():
    """The task layer is the one place that knows where the configured adapter lives."""
    return current_app.extensions["adapters"].notify


def _deliver_one(notification_id: int, sender) -> str:
    try:
        outcome = delivery.deliver(db.session, notification_id, sender, now=utcnow())
        commit(db.session)
    except Exception:
        db.session.rollback()
        raise
    return outcome


def deliver_claimed(notification_id: int) -> str:
    """Send one notification the outbox drain claimed, in the drain's transaction (no commit)."""
    return delivery.deliver(db.session, notification_id, _sender(), now=utcnow())


def deliver_one(notification_id: int) -> str:
    """Send one notification (an outbox item: db.after_commit_deliver)."""
    return _deliver_one(notification_id, _sender())


@shared_task(name="notifications.deliver", acks_late=True, reject_on_worker_lost=True)
def deliver_notification_task(notification_id: int) -> str:
    """Send one notification. Delivered ones are skipped, so running it twice sends once."""
    return deliver_one(notification_id)


@shared_task(name="notifications.redeliver_pending", acks_late=True, reject_on_worker_lost=True)
def redeliver_pending_task(limit: int = 100) -> int:
    """Retry the day's undelivered notifications (lost tasks, WeChat outages); a bounded batch.
    Each notification is its own unit of work, so one failure does not hold back the others."""
    sender = _sender()
    ids = delivery.pending_redelivery(db.session, now=utcnow(), limit=limit)
    db.session.rollback()  # end the reading transaction; each delivery opens its own
    delivered = 0
    for notification_id in ids:
        try:
            delivered += _deliver_one(notification_id, sender) == delivery.DELIVERED
        except Exception:
            log.exception("redelivery of notification %s failed", notification_id)
    return delivered
