from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UtcDateTime, db, utcnow

CHANNELS = ("moments", "group", "chat", "poster", "offline")


class InviteLink(db.Model):
    """A consultant's share link (optionally for one project), with its channel."""
    __tablename__ = "invite_links"
    __table_args__ = (
        CheckConstraint("channel IN ('moments', 'group', 'chat', 'poster', 'offline')", name="channel_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    consultant_id: Mapped[int] = mapped_column(ForeignKey("consultants.id"), index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))
    channel: Mapped[str] = mapped_column(String(20))
    token: Mapped[str] = mapped_column(String(32), unique=True)
    scene: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    project = relationship("Project")
    consultant = relationship("Consultant")


class LinkOpen(db.Model):
    """One open of a link by a person's browser: reported by the landing page's own script
    after the page was shown, never by fetching the page. The IP is stored hashed."""
    __tablename__ = "link_opens"
    __table_args__ = (Index("ix_link_opens_link_id_opened_at", "link_id", "opened_at"),
                      Index("ix_link_opens_visitor_id_opened_at", "visitor_id", "opened_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("invite_links.id"))
    visitor_id: Mapped[str] = mapped_column(String(40))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ip_hash: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(500))
    referrer: Mapped[str | None] = mapped_column(String(500))
    channel: Mapped[str] = mapped_column(String(20))


class Attribution(db.Model):
    """Which link brought a buyer (first touch within the project's window)."""
    __tablename__ = "attributions"
    __table_args__ = (Index("ix_attributions_buyer_id_project_id", "buyer_id", "project_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))
    link_id: Mapped[int] = mapped_column(ForeignKey("invite_links.id"), index=True)
    consultant_id: Mapped[int] = mapped_column(ForeignKey("consultants.id"))
    first_opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attributed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
