"""Delivery of notifications through the notification adapter."""
from __future__ import annotations

from celery import shared_task


@shared_task(name="notifications.deliver", acks_late=True, reject_on_worker_lost=True)
def deliver_notification_task(notification_id: int) -> bool:
    """Send one notification. Delivered ones are skipped, so running it twice sends once."""
    from .delivery import deliver
    return deliver(notification_id)
