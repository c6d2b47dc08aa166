from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UtcDateTime, db, utcnow

CONSULTANT_KINDS = ("company", "store", "independent")
CONSULTANT_STATUSES = ("pending", "active", "rejected", "suspended", "terminated")


class Consultant(db.Model):
    __tablename__ = "consultants"
    __table_args__ = (
        CheckConstraint("kind IN ('company', 'store', 'independent')", name="kind_known"),
        CheckConstraint("status IN ('pending', 'active', 'rejected', 'suspended', 'terminated')",
                        name="status_known"),
        CheckConstraint("kind = 'independent' OR company_name IS NOT NULL", name="company_named"),
        CheckConstraint("rating >= 0 AND rating <= 100", name="rating_range"),
        Index("ix_consultants_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    wechat_user_id: Mapped[int] = mapped_column(ForeignKey("wechat_users.id"), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str] = mapped_column(String(16), unique=True)
    city: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(20))
    company_name: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    status_reason: Mapped[str | None] = mapped_column(Text)
    invite_code: Mapped[str] = mapped_column(String(12), unique=True)
    # 0–100, used by the handoff pool; disputes lower it later (DESIGN §4).
    rating: Mapped[int] = mapped_column(default=80, server_default="80")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # When he proved by SMS code that the phone is his (None: never; he is asked at sign-in).
    # Until then the phone signs nobody in and approves no payout change (consultants.phone).
    phone_verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    invited_by: Mapped["ConsultantInvite | None"] = relationship(
        primaryjoin="and_(Consultant.id == ConsultantInvite.invitee_id, ConsultantInvite.valid_to.is_(None))",
        viewonly=True, uselist=False)


class ConsultantInvite(db.Model):
    """The upline edge inviter → invitee (邀请), dated so chains resolve as of a day."""
    __tablename__ = "consultant_invites"
    __table_args__ = (
        CheckConstraint("inviter_id <> invitee_id", name="not_self"),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="valid_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    inviter_id: Mapped[int] = mapped_column(ForeignKey("consultants.id"), index=True)
    # A consultant names his inviter once: one edge per invitee, ever.
    invitee_id: Mapped[int] = mapped_column(ForeignKey("consultants.id"), unique=True)
    valid_from: Mapped[datetime] = mapped_column(UtcDateTime)
    valid_to: Mapped[datetime | None] = mapped_column(UtcDateTime)

    inviter: Mapped[Consultant] = relationship(foreign_keys=[inviter_id])


class ConsultantStatusEvent(db.Model):
    """Append-only history of a consultant's status, with who changed it and why."""
    __tablename__ = "consultant_status_events"
    __table_args__ = (
        CheckConstraint("actor_type IN ('consultant', 'staff', 'system')", name="actor_type_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    consultant_id: Mapped[int] = mapped_column(ForeignKey("consultants.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
