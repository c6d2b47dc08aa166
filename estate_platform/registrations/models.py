from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UtcDateTime, db, utcnow

REGISTRATION_STATUSES = ("reported", "visited", "expired", "lost", "cancelled")
OPEN_STATUSES = ("reported", "visited")


class Registration(db.Model):
    """A consultant's registration of a buyer for a project.

    ``binding`` marks the registration that holds the buyer for the project; the
    database allows at most one binding registration per (project, buyer), which
    holds under concurrency. In the visit → deal mode (到访为王) registrations are
    not binding until a visit is confirmed.
    """
    __tablename__ = "registrations"
    __table_args__ = (
        CheckConstraint("status IN ('reported', 'visited', 'expired', 'lost', 'cancelled')", name="status_known"),
        CheckConstraint("NOT binding OR status IN ('reported', 'visited')", name="binding_is_open"),
        Index("uq_registrations_binding_project_buyer", "project_id", "buyer_id", unique=True,
              sqlite_where=text("binding"), postgresql_where=text("binding")),
        Index("uq_registrations_open_per_consultant", "project_id", "buyer_id", "consultant_id", unique=True,
              sqlite_where=text("status IN ('reported', 'visited')"),
              postgresql_where=text("status IN ('reported', 'visited')")),
        Index("ix_registrations_consultant_id_status", "consultant_id", "status"),
        Index("ix_registrations_buyer_id_created_at", "buyer_id", "created_at"),
        Index("ix_registrations_status_protected_until", "status", "protected_until"),
        Index("ix_registrations_source_link_id", "source_link_id"),  # per-link stats
        # The registration path and reports (issue 16: migration c4e5f6a7b8d9).
        Index("ix_registrations_project_id_created_at", "project_id", "created_at"),
        Index("ix_registrations_consultant_project_created", "consultant_id", "project_id", "created_at"),
        Index("ix_registrations_expired_project_buyer", "project_id", "buyer_id", "consultant_id", "ended_at",
              sqlite_where=text("status = 'expired'"), postgresql_where=text("status = 'expired'")),
        # The buyer's SMS about this registration (privacy.notices) still to send: the outbox.
        Index("ix_registrations_buyer_notice_pending", "id",
              sqlite_where=text("buyer_notice = 'pending'"), postgresql_where=text("buyer_notice = 'pending'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"))
    consultant_id: Mapped[int] = mapped_column(ForeignKey("consultants.id"))
    buyer_name: Mapped[str] = mapped_column(String(50))
    note: Mapped[str | None] = mapped_column(Text)
    expected_visit_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(20), default="reported")
    binding: Mapped[bool] = mapped_column(Boolean, default=False)
    protection_mode: Mapped[str] = mapped_column(String(20))  # the project's mode when registered
    protected_until: Mapped[datetime] = mapped_column(UtcDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    source_link_id: Mapped[int | None] = mapped_column(ForeignKey("invite_links.id"))
    referrer_consultant_id: Mapped[int | None] = mapped_column(ForeignKey("consultants.id"))
    handoff_id: Mapped[int | None] = mapped_column(ForeignKey("handoffs.id", use_alter=True))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The SMS telling the buyer of this registration (issue 15 §1): 'pending' is written with
    # the registration's own INSERT (the outbox costs no statement), then 'sent' or 'failed';
    # NULL when the project does not tell buyers.
    buyer_notice: Mapped[str | None] = mapped_column(String(10))
    end_reason: Mapped[str | None] = mapped_column(String(200))

    project = relationship("Project")
    buyer = relationship("Buyer")
    consultant = relationship("Consultant", foreign_keys=[consultant_id])


class PhoneReveal(db.Model):
    """Every time a staff member reads a buyer's full phone number (DESIGN §7.6)."""
    __tablename__ = "phone_reveals"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"))
    registration_id: Mapped[int | None] = mapped_column(ForeignKey("registrations.id"))
    purpose: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
