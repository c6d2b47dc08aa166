"""Celery tasks: thin, named, idempotent (STYLE §9). Each is its own unit of work.

Each business area keeps its tasks in ``<area>/tasks.py``; importing them here
registers them with the Celery app.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from celery import shared_task
from flask import current_app

from .buyback import tasks as _buyback_tasks  # noqa: F401
from .credit import tasks as _credit_tasks  # noqa: F401
from .crm import tasks as _crm_tasks  # noqa: F401
from .db import commit, db, utcnow
from .deals import notices as _commission_notices
from .deals import tasks as _deal_tasks  # noqa: F401
from .exports import tasks as _export_tasks  # noqa: F401
from .handoffs import tasks as _handoff_tasks  # noqa: F401
from .identity import throttle
from .identity.services import purge_expired_sms_codes
from .notifications import delivery as _notification_delivery
from .notifications import services as _notification_services
from .notifications import tasks as _notification_tasks  # noqa: F401
from .privacy import notices as _privacy_notices
from .privacy import tasks as _privacy_tasks  # noqa: F401
from .receivables import tasks as _receivables_tasks  # noqa: F401
from .reconciliation import tasks as _reconciliation_tasks  # noqa: F401
from .registrations import tasks as _registration_tasks  # noqa: F401
from .risk import tasks as _risk_tasks  # noqa: F401
from .revisits import tasks as _revisit_tasks  # noqa: F401
from .settlement import tasks as _settlement_tasks  # noqa: F401


# What an outbox item of each kind is delivered by (db.after_commit_deliver): each its own unit of
# work, sending once however often it runs (``outbox.deliver``, the message of earlier releases).
OUTBOX_HANDLERS = {
    "notification": _notification_tasks.deliver_one,
    "registration_notice": _privacy_tasks.send_one,
}


@dataclass(frozen=True)
class OutboxKind:
    """How the drain finds and delivers one kind of outbox row.

    ``claim(session, after=, limit=, now=)``: the next pending rows after the cursor ``after`` in
    key order, as ``(key, id)`` pairs (a row's key is the cursor after it), locked
    ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (a row another drain holds is skipped, so two drains
    never send the same row); ``deliver(id)``: deliver one claimed row in the current transaction (the kind's idempotent
    handler without its commit), returning its outcome; ``sent``: the outcomes that count as sent;
    ``upstream_down``: the outcome that means the provider is unavailable (the kind stops for this
    run and its beat sweep retries it later: no drain hammers a provider that is down)."""
    claim: Callable
    deliver: Callable
    sent: tuple[str, ...]
    upstream_down: str


OUTBOX = {
    "notification": OutboxKind(claim=_notification_services.claim_undelivered,
                               deliver=_notification_tasks.deliver_claimed,
                               sent=(_notification_delivery.DELIVERED,), upstream_down=_notification_delivery.FAILED),
    "registration_notice": OutboxKind(claim=_privacy_notices.claim_pending, deliver=_privacy_tasks.send_claimed,
                                      sent=("sent",), upstream_down="pending"),
}


def drain_outbox(session, *, batch: int, now) -> int:
    """Deliver every pending outbox row, kind by kind, a claimed batch per transaction.

    Each row is delivered in a savepoint, so one failing row does not undo the record of the
    others already sent in its batch (they would be sent again); the batch commits as one. A row
    is visited at most once per run (the claim's cursor moves on), so a row that fails stays for
    the next run or its kind's sweep. Returns how many rows were sent.

    First the ready notices of recognised commissions become notifications (``deals.notices``),
    a claimed batch per transaction, so this run sends them too."""
    while _commission_notices.fan_out(session, now=now)[0]:
        commit(session)
    sent = 0
    for kind_name, kind in OUTBOX.items():
        after = None
        while True:
            claimed = kind.claim(session, after=after, limit=batch, now=now)
            if not claimed:
                session.rollback()
                break
            stop = False
            for key, item_id in claimed:
                try:
                    with session.begin_nested():
                        outcome = kind.deliver(item_id)
                except Exception:
                    logging.getLogger(__name__).exception("outbox: delivery of %s %s failed", kind_name, item_id)
                    continue
                sent += outcome in kind.sent
                if outcome == kind.upstream_down:
                    stop = True
                    break
            commit(session)
            after = claimed[-1][0]
            if stop or len(claimed) < batch:
                break
    return sent


@shared_task(name="outbox.drain", acks_late=True, reject_on_worker_lost=True)
def drain_outbox_task(batch: int | None = None) -> int:
    """Deliver the outbox (woken after commits, at most once per window per process, and run by the
    beat every few seconds). Running it twice, or two at once, sends each row once."""
    try:
        return drain_outbox(db.session, batch=batch or current_app.config.get("OUTBOX_DRAIN_BATCH", 20),
                            now=utcnow())
    except Exception:
        db.session.rollback()
        raise


@shared_task(name="outbox.deliver", acks_late=True, reject_on_worker_lost=True)
def deliver_outbox_task(items: dict[str, list[int]]) -> int:
    """Deliver one unit of work's outbox: ``{kind: [ids]}`` (the message of earlier releases, still
    honoured for messages queued before an upgrade). One failure does not hold back the others;
    what fails stays pending for the drain and its kind's sweep. Returns how many were handled."""
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
