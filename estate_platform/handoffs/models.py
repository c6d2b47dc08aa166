from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UtcDateTime, db, utcnow

HANDOFF_STATUSES = ("offered", "accepted", "unrouted", "cancelled")


class Handoff(db.Model):
    __tablename__ = "handoffs"
    __table_args__ = (
        CheckConstraint("status IN ('offered', 'accepted', 'unrouted', 'cancelled')", name="status_known"),
        CheckConstraint("status <> 'offered' OR offered_to_id IS NOT NULL", name="offered_has_receiver"),
        CheckConstraint("offered_to_id IS NULL OR offered_to_id <> from_consultant_id", name="not_to_self"),
        Index("ix_handoffs_offered_to_id_status", "offered_to_id", "status"),
        Index("ix_handoffs_status_respond_by", "status", "respond_by"),
        # A sender has at most one open handoff of a buyer for a project, also under concurrent requests.
        Index("uq_handoffs_open_per_sender", "from_consultant_id", "project_id", "buyer_id", unique=True,
              sqlite_where=text("status = 'offered'"), postgresql_where=text("status = 'offered'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    from_consultant_id: Mapped[int] = mapped_column(ForeignKey("consultants.id"), index=True)
    requested_consultant_id: Mapped[int | None] = mapped_column(ForeignKey("consultants.id"))
    via_pool: Mapped[bool] = mapped_column(Boolean, default=False)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"))
    buyer_name: Mapped[str] = mapped_column(String(50))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="offered")
    offered_to_id: Mapped[int | None] = mapped_column(ForeignKey("consultants.id"))
    respond_by: Mapped[datetime | None] = mapped_column(UtcDateTime)
    registration_id: Mapped[int | None] = mapped_column(ForeignKey("registrations.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Why it ended without a receiver or was cancelled: declined, timed_out (a named colleague),
    # no_candidate, buyer_bound (the pool), cancelled_by_sender.
    end_reason: Mapped[str | None] = mapped_column(String(40))

    offers: Mapped[list["HandoffOffer"]] = relationship(order_by="HandoffOffer.id", back_populates="handoff")
    project = relationship("Project")
    buyer = relationship("Buyer")
    sender = relationship("Consultant", foreign_keys=[from_consultant_id])
    receiver = relationship("Consultant", foreign_keys=[offered_to_id])


class HandoffOffer(db.Model):
    """One routing attempt: offered to a consultant, who accepts, declines or times out."""
    __tablename__ = "handoff_offers"
    __table_args__ = (
        UniqueConstraint("handoff_id", "consultant_id"),
        # A consultant's received handoffs and his pending offers (the pool's load count).
        Index("ix_handoff_offers_consultant_id_outcome", "consultant_id", "outcome"),
        CheckConstraint("outcome IS NULL OR outcome IN ('accepted', 'declined', 'timed_out', 'withdrawn')",
                        name="outcome_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), index=True)
    consultant_id: Mapped[int] = mapped_column(ForeignKey("consultants.id"))
    offered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    respond_by: Mapped[datetime] = mapped_column(UtcDateTime)
    outcome: Mapped[str | None] = mapped_column(String(20))
    responded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decline_reason: Mapped[str | None] = mapped_column(String(200))

    handoff: Mapped[Handoff] = relationship(back_populates="offers")
