"""Buyers' personal data under PIPL (个人信息保护, issue 15 §1, DESIGN §7.6, §7.9).

* ``PrivacyRequest``: a buyer's request to erase his data (删除请求), made by him on the H5
  page (SMS-verified), recorded by operations, or made by the retention job.
* ``PrivacyEvent``: every step taken on a buyer's data (asked, approved, refused for a
  hold, rejected, erased, exported, objected), who and when: the audit trail.
* ``RegistrationObjection``: a buyer told of a registration by SMS says he never asked
  for it (异议); operations see it.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UtcDateTime, db

REQUEST_STATUSES = ("pending", "erased", "refused", "rejected")
REQUEST_CHANNELS = ("h5", "operations", "retention")
HOLDS = ("live_deal", "open_dispute", "finance_retention", "open_protection")
EVENT_ACTIONS = ("requested", "erased", "refused", "rejected", "exported", "objected")


class PrivacyRequest(db.Model):
    """An erasure request. Approval erases unless a hold applies; then it is ``refused``
    with the hold's code. Rejection (by operations, with a note) is for a request that is
    not the buyer's. At most one pending request per buyer."""
    __tablename__ = "privacy_requests"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'erased', 'refused', 'rejected')", name="status_known"),
        CheckConstraint("channel IN ('h5', 'operations', 'retention')", name="channel_known"),
        CheckConstraint("hold_code IS NULL OR hold_code IN ('live_deal', 'open_dispute', 'finance_retention', "
                        "'open_protection')", name="hold_known"),
        CheckConstraint("(status = 'refused') = (hold_code IS NOT NULL)", name="refusal_names_hold"),
        CheckConstraint("(status = 'pending') = (decided_at IS NULL)", name="decided_when_closed"),
        CheckConstraint("channel <> 'operations' OR requested_by_id IS NOT NULL", name="operations_named"),
        Index("uq_privacy_requests_pending_buyer", "buyer_id", unique=True,
              sqlite_where=text("status = 'pending'"), postgresql_where=text("status = 'pending'")),
        Index("ix_privacy_requests_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    channel: Mapped[str] = mapped_column(String(20))
    hold_code: Mapped[str | None] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(String(500))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    buyer = relationship("Buyer")
    requested_by = relationship("StaffUser", foreign_keys=[requested_by_id])
    decided_by = relationship("StaffUser", foreign_keys=[decided_by_id])


class PrivacyEvent(db.Model):
    """One logged step on a buyer's personal data (留痕)."""
    __tablename__ = "privacy_events"
    __table_args__ = (
        CheckConstraint("action IN ('requested', 'erased', 'refused', 'rejected', 'exported', 'objected')",
                        name="action_known"),
        CheckConstraint("actor_type IN ('staff', 'buyer', 'system')", name="actor_type_known"),
        Index("ix_privacy_events_buyer_id_created_at", "buyer_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("privacy_requests.id"))
    action: Mapped[str] = mapped_column(String(20))
    actor_type: Mapped[str] = mapped_column(String(10))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RegistrationObjection(db.Model):
    """A buyer's objection to a registration he was told of (报备异议): one per registration."""
    __tablename__ = "registration_objections"

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id"), unique=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"))
    consultant_id: Mapped[int] = mapped_column(ForeignKey("consultants.id"), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)

    registration = relationship("Registration")
