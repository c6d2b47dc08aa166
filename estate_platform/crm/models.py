from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, func, select, text
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

from ..db import UtcDateTime, db, utcnow

TIERS = ("A", "B", "C", "D")
TAG_CATEGORIES = ("budget", "layout", "purpose", "financing", "free")


class ClientCard(db.Model):
    """What one consultant knows about one buyer. Private to that consultant."""
    __tablename__ = "client_cards"
    __table_args__ = (
        UniqueConstraint("consultant_id", "buyer_id"),
        CheckConstraint("tier IS NULL OR tier IN ('A', 'B', 'C', 'D')", name="tier_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    consultant_id: Mapped[int] = mapped_column(ForeignKey("consultants.id"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"))
    display_name: Mapped[str] = mapped_column(String(50))
    tier: Mapped[str | None] = mapped_column(String(1))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    tags: Mapped[list["ClientTag"]] = relationship(order_by="ClientTag.id", cascade="all, delete-orphan")
    buyer = relationship("Buyer")


class ClientTag(db.Model):
    __tablename__ = "client_tags"
    __table_args__ = (
        UniqueConstraint("card_id", "category", "value"),
        CheckConstraint("category IN ('budget', 'layout', 'purpose', 'financing', 'free')", name="category_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("client_cards.id"), index=True)
    category: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(30))


class FollowUpNote(db.Model):
    __tablename__ = "follow_up_notes"
    # The reminder task asks for "due and not yet reminded": a partial index holds only
    # the notes still waiting, so the sweep does not walk every reminder ever sent.
    __table_args__ = (Index("ix_follow_up_notes_due", "next_contact_at",
                            sqlite_where=text("reminded_at IS NULL"), postgresql_where=text("reminded_at IS NULL")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("client_cards.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    next_contact_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


# The card's next planned contact: the earliest reminder still waiting.
ClientCard.next_contact_at = column_property(
    select(func.min(FollowUpNote.next_contact_at))
    .where(FollowUpNote.card_id == ClientCard.id, FollowUpNote.reminded_at.is_(None))
    .correlate_except(FollowUpNote).scalar_subquery(),
    deferred=False)
