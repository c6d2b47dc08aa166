"""Delivering notifications as WeChat subscribe messages (订阅消息), DESIGN §6.

A notification row is written in the unit of work that caused it
(``services.notify``); delivery runs after the commit, in a task, through the
notification adapter. A delivered notification is never sent again; a permanent
refusal (the consultant did not subscribe, no template) is recorded and not
retried; a failure worth retrying is recorded and picked up by
``pending_redelivery`` for a day.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..adapters.notify import NotificationSender, NotificationUnavailable
from ..consultants.models import Consultant
from ..identity.models import WechatUser
from .models import Notification

#: ``delivery_error`` of a failure worth retrying; any other value is final.
RETRYABLE_ERROR = "upstream_unavailable"
REDELIVERY_WINDOW = timedelta(hours=24)
#: A notification this young still has its own delivery task in flight.
REDELIVERY_GRACE = timedelta(minutes=2)

DELIVERED, ALREADY_DELIVERED, GAVE_UP, FAILED, SKIPPED = (
    "delivered", "already_delivered", "gave_up", "failed", "skipped")

# Where a tap on the message opens the mini-program, by the object it is about.
PAGES = (
    ("client_id", "pages/clients/detail?id={}"),
    ("handoff_id", "pages/handoffs/detail?id={}"),
    ("visit_id", "pages/visits/detail?id={}"),
    ("registration_id", "pages/registrations/detail?id={}"),
)
INBOX_PAGE = "pages/notifications/index"


def page_for(payload: dict) -> str:
    for key, page in PAGES:
        value = payload.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return page.format(value)
    return INBOX_PAGE


def deliver(session: Session, notification_id: int, sender: NotificationSender, *, now: datetime) -> str:
    """Send one notification through ``sender`` and record the outcome. Safe to run twice:
    a delivered (or finally refused) notification is not sent again, and on PostgreSQL a
    notification another worker is sending right now is skipped."""
    notification = session.scalar(select(Notification).where(Notification.id == notification_id)
                                  .with_for_update(skip_locked=True))
    if notification is None:
        return SKIPPED
    if notification.delivered_at is not None:
        return ALREADY_DELIVERED
    if notification.delivery_error not in (None, RETRYABLE_ERROR):
        return GAVE_UP
    openid = session.scalar(select(WechatUser.openid).join(Consultant, Consultant.wechat_user_id == WechatUser.id)
                            .where(Consultant.id == notification.consultant_id))
    if openid is None:  # he has used only the web pages (/m/): no mini-program to message; the inbox has it
        notification.delivery_error = "no_mini_program_openid"
        return GAVE_UP
    payload = json.loads(notification.payload or "{}")
    try:
        outcome = sender.send(openid, notification.kind, notification.title, notification.body,
                              page_for(payload if isinstance(payload, dict) else {}), at=notification.created_at)
    except NotificationUnavailable:
        notification.delivery_error = RETRYABLE_ERROR
        return FAILED
    if outcome.delivered:
        notification.delivered_at = now
        notification.delivery_error = None
        return DELIVERED
    notification.delivery_error = outcome.reason or "refused"
    return GAVE_UP


def pending_redelivery(session: Session, *, now: datetime, limit: int = 100) -> list[int]:
    """Undelivered notifications of the last day whose failure may pass, oldest first."""
    return list(session.scalars(
        select(Notification.id)
        .where(Notification.delivered_at.is_(None),
               or_(Notification.delivery_error.is_(None), Notification.delivery_error == RETRYABLE_ERROR),
               Notification.created_at > now - REDELIVERY_WINDOW,
               Notification.created_at <= now - REDELIVERY_GRACE)
        .order_by(Notification.created_at, Notification.id).limit(limit)))
