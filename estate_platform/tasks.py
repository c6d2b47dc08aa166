"""Celery tasks: thin, named, idempotent (STYLE §9). Each is its own unit of work.

Each business area keeps its tasks in ``<area>/tasks.py``; importing them here
registers them with the Celery app.
"""
from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task
from flask import current_app

from .buyback import tasks as _buyback_tasks  # noqa: F401
from .credit import tasks as _credit_tasks  # noqa: F401
from .crm import tasks as _crm_tasks  # noqa: F401
from .db import commit, db, utcnow
from .deals import tasks as _deal_tasks  # noqa: F401
from .exports import tasks as _export_tasks  # noqa: F401
from .handoffs import tasks as _handoff_tasks  # noqa: F401
from .identity import throttle
from .identity.services import purge_expired_sms_codes
from .notifications import tasks as _notification_tasks  # noqa: F401
from .privacy import tasks as _privacy_tasks  # noqa: F401
from .receivables import tasks as _receivables_tasks  # noqa: F401
from .reconciliation import tasks as _reconciliation_tasks  # noqa: F401
from .registrations import tasks as _registration_tasks  # noqa: F401
from .risk import tasks as _risk_tasks  # noqa: F401
from .revisits import tasks as _revisit_tasks  # noqa: F401
from .settlement import tasks as _settlement_tasks  # noqa: F401


# What an outbox item of each kind is delivered by (db.after_commit_deliver): each its own unit of
# work, sending once however often it runs.
OUTBOX_HANDLERS = {
    "notification": _notification_tasks.deliver_one,
    "registration_notice": _privacy_tasks.send_one,
}


@shared_task(name="outbox.deliver", acks_late=True, reject_on_worker_lost=True)
def deliver_outbox_task(items: dict[str, list[int]]) -> int:
    """Deliver one unit of work's outbox: ``{kind: [ids]}``. One failure does not hold back the
    others; what fails stays pending for its kind's sweep. Returns how many were handled."""
    delivered = 0
    for kind, ids in items.items():
        handler = OUTBOX_HANDLERS[kind]
        for item_id in ids:
            try:
                handler(item_id)
                delivered += 1
            except Exception:
                logging.getLogger(__name__).exception("outbox: delivery of %s %s failed", kind, item_id)
    return delivered


@shared_task(name="identity.purge_stale_login_throttles", acks_late=True, reject_on_worker_lost=True)
def purge_stale_login_throttles_task(now_iso: str | None = None) -> int:
    """Forget staff sign-in counters past the forget window (a blocked one stays until its
    back-off ends). Running it twice deletes nothing more."""
    now = datetime.fromisoformat(now_iso) if now_iso else utcnow()
    try:
        removed = throttle.purge_stale(db.session, now=now, rules=throttle.ThrottleRules.from_config(current_app.config))
        commit(db.session)
    except Exception:
        db.session.rollback()
        raise
    return removed


@shared_task(name="identity.purge_expired_sms_codes", acks_late=True, reject_on_worker_lost=True)
def purge_expired_sms_codes_task(now_iso: str | None = None) -> int:
    """Delete SMS codes that are long past use. Running it twice deletes nothing more."""
    now = datetime.fromisoformat(now_iso) if now_iso else utcnow()
    try:
        removed = purge_expired_sms_codes(db.session, now=now)
        commit(db.session)
    except Exception:
        db.session.rollback()
        raise
    return removed
