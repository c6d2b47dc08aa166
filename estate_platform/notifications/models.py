from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import UtcDateTime, db, utcnow


class Notification(db.Model):
    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_consultant_id_created_at", "consultant_id", "created_at"),
        # The outbox (notifications never tried), claimed by the drain (services.claim_undelivered).
        Index("ix_notifications_undelivered", "created_at", "id",
              sqlite_where=text("delivered_at IS NULL AND delivery_error IS NULL"),
              postgresql_where=text("delivered_at IS NULL AND delivery_error IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # A reference without a FOREIGN KEY (a row-level check per notification): triggers refuse the
    # same, and a consultant with notifications cannot be deleted or renumbered (d1f2a3b4c5d6).
    consultant_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivery_error: Mapped[str | None] = mapped_column(String(200))
