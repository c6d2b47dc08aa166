from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UtcDateTime, db


class Revisit(db.Model):
    """A revisit call (回访) operations make to a buyer (DESIGN §4).

    One task per subject and kind: the subject is the visit (``after_visit``), the
    registration (``before_expiry``, ``after_expiry``) or the deal (``deal_sample``); the
    unique (kind, subject_id) makes the scheduler idempotent, also when two runs overlap.
    A caller claims it (``claimed_by_id`` until ``claimed_until``, 30 minutes) and records
    the outcome; every call is a ``RevisitCall`` and an evidence-chain event of the subject.
    """
    __tablename__ = "revisits"
    __table_args__ = (
        UniqueConstraint("kind", "subject_id"),
        CheckConstraint("kind IN ('after_visit', 'before_expiry', 'after_expiry', 'deal_sample')", name="kind_known"),
        CheckConstraint("status IN ('open', 'closed')", name="status_known"),
        CheckConstraint("outcome IS NULL OR outcome IN ('confirmed', 'denied_visit', 'bought_direct', "
                        "'bought_other_agent', 'unreachable', 'do_not_contact')", name="outcome_known"),
        CheckConstraint("(status = 'closed') = (outcome IS NOT NULL AND closed_at IS NOT NULL)",
                        name="closed_has_outcome"),
        CheckConstraint("outcome IS NULL OR outcome <> 'bought_other_agent' OR agency IS NOT NULL",
                        name="other_agent_named"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        CheckConstraint("(claimed_by_id IS NULL) = (claimed_until IS NULL)", name="claim_complete"),
        CheckConstraint("kind <> 'after_visit' OR visit_id = subject_id", name="after_visit_subject"),
        CheckConstraint("kind NOT IN ('before_expiry', 'after_expiry') OR registration_id = subject_id",
                        name="registration_subject"),
        CheckConstraint("kind <> 'deal_sample' OR deal_id = subject_id", name="deal_subject"),
        Index("ix_revisits_status_due_at", "status", "due_at"),
        Index("ix_revisits_project_id_status_due_at", "project_id", "status", "due_at"),
        Index("ix_revisits_buyer_id_status", "buyer_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int] = mapped_column(Integer)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"))
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id"))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id"))
    # The consultant whose account of the buyer the call checks.
    consultant_id: Mapped[int] = mapped_column(ForeignKey("consultants.id"))
    status: Mapped[str] = mapped_column(String(10))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer)  # unreachable calls so far
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outcome: Mapped[str | None] = mapped_column(String(20))
    agency: Mapped[str | None] = mapped_column(String(100))  # who sold, for bought_other_agent
    bought_on: Mapped[date | None] = mapped_column(Date)
    dispute_id: Mapped[int | None] = mapped_column(ForeignKey("disputes.id"))
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    project = relationship("Project")
    buyer = relationship("Buyer")
    registration = relationship("Registration")
    visit = relationship("Visit")
    deal = relationship("Deal")
    consultant = relationship("Consultant")
    claimed_by = relationship("StaffUser", foreign_keys=[claimed_by_id])
    closed_by = relationship("StaffUser", foreign_keys=[closed_by_id])


class RevisitCall(db.Model):
    """One recorded call of a revisit: who, what the buyer said, when. Append-only (the
    database refuses UPDATE and DELETE). ``attempt`` numbers the unreachable calls."""
    __tablename__ = "revisit_calls"
    __table_args__ = (
        CheckConstraint("outcome IN ('confirmed', 'denied_visit', 'bought_direct', 'bought_other_agent', "
                        "'unreachable', 'do_not_contact')", name="outcome_known"),
        Index("ix_revisit_calls_revisit_id", "revisit_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    revisit_id: Mapped[int] = mapped_column(ForeignKey("revisits.id"))
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    outcome: Mapped[str] = mapped_column(String(20))
    attempt: Mapped[int | None] = mapped_column(Integer)
    agency: Mapped[str | None] = mapped_column(String(100))
    bought_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    staff = relationship("StaffUser")


class RevisitOptOut(db.Model):
    """A buyer who asked not to be called again (do_not_contact): no revisit is created for
    him from then on, in any project, and his open ones were closed."""
    __tablename__ = "revisit_opt_outs"

    id: Mapped[int] = mapped_column(primary_key=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), unique=True)
    revisit_id: Mapped[int] = mapped_column(ForeignKey("revisits.id"))
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
