from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UtcDateTime, db, utcnow

VISIT_STATUSES = ("scheduled", "confirmed", "invalid", "cancelled")


class Visit(db.Model):
    """A booked visit (带看) of a registered buyer to the sales office, with its check-in code.

    A registration has at most one ``scheduled`` visit at a time; the partial unique
    index is the guarantee when two bookings race.
    """
    __tablename__ = "visits"
    __table_args__ = (
        CheckConstraint("status IN ('scheduled', 'confirmed', 'invalid', 'cancelled')", name="status_known"),
        CheckConstraint("status <> 'invalid' OR invalid_reason IS NOT NULL", name="invalid_has_reason"),
        CheckConstraint("confirmed_by_type IS NULL OR confirmed_by_type IN ('staff', 'buyer')",
                        name="confirmed_by_known"),
        Index("ix_visits_registration_id_status", "registration_id", "status"),
        Index("uq_visits_scheduled_per_registration", "registration_id", unique=True,
              sqlite_where=text("status = 'scheduled'"), postgresql_where=text("status = 'scheduled'")),
        Index("ix_visits_scheduled_at", "scheduled_at"),
        Index("ix_visits_confirmed_at", "confirmed_at"),  # time-ranged reports (issue 16)
        CheckConstraint("presence_failures >= 0", name="presence_failures_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id"))
    scheduled_at: Mapped[datetime] = mapped_column(UtcDateTime)
    check_in_code: Mapped[str] = mapped_column(String(8), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="scheduled")
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    confirmed_by_type: Mapped[str | None] = mapped_column(String(10))
    confirmed_by_id: Mapped[int | None] = mapped_column()
    invalid_reason: Mapped[str | None] = mapped_column(Text)
    # Wrong sales-office codes typed by the buyer; past visits.presence.MAX_FAILURES only
    # site staff can confirm this visit (a 6-digit code is not left open to guessing).
    presence_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    registration = relationship("Registration")


class VisitAttachment(db.Model):
    """A file about a visit (the signed 来访确认单 photo). Content lives in storage by sha256."""
    __tablename__ = "visit_attachments"
    __table_args__ = (
        CheckConstraint("size_bytes > 0", name="size_positive"),
        CheckConstraint("content_type IN ('image/jpeg', 'image/png', 'application/pdf')", name="content_type_allowed"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(50))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_type: Mapped[str] = mapped_column(String(20))
    uploaded_by_id: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
