"""A consultant's notification inbox (消息中心): list, mark read. Only his own."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..errors import NotFound
from .models import Notification


class NotificationNotFound(NotFound):
    code, message = "notification_not_found", "消息不存在"


@dataclass
class InboxPage:
    items: list[Notification]
    total: int
    unread: int
    page: int
    per_page: int


def unread_count(session: Session, consultant_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Notification)
                          .where(Notification.consultant_id == consultant_id, Notification.read_at.is_(None)))


def list_own(session: Session, consultant_id: int, *, unread_only: bool = False, page: int = 1,
             per_page: int = 20) -> InboxPage:
    """Newest first, with the number still unread (the badge on the mini-program tab)."""
    query = select(Notification).where(Notification.consultant_id == consultant_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    items = session.scalars(query.order_by(Notification.created_at.desc(), Notification.id.desc())
                            .offset((page - 1) * per_page).limit(per_page)).all()
    return InboxPage(list(items), total, unread_count(session, consultant_id), page, per_page)


def own_notification(session: Session, consultant_id: int, notification_id: int) -> Notification:
    """Another consultant's notification looks like one that does not exist."""
    notification = session.get(Notification, notification_id)
    if notification is None or notification.consultant_id != consultant_id:
        raise NotificationNotFound()
    return notification


def mark_read(session: Session, consultant_id: int, notification_id: int, *, now: datetime) -> Notification:
    """Idempotent: reading it again keeps the first read time."""
    notification = own_notification(session, consultant_id, notification_id)
    if notification.read_at is None:
        notification.read_at = now
    return notification


def mark_all_read(session: Session, consultant_id: int, *, now: datetime) -> int:
    """Mark every unread notification of the consultant read; returns how many changed."""
    result = session.execute(update(Notification)
                             .where(Notification.consultant_id == consultant_id, Notification.read_at.is_(None))
                             .values(read_at=now).execution_options(synchronize_session="fetch"))
    return result.rowcount or 0
