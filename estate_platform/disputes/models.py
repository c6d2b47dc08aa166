from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UtcDateTime, db

SOURCES = ("revisit", "reconciliation", "risk_flag", "manual", "complaint")
STATUSES = ("open", "investigating", "upheld", "dismissed", "withdrawn")
CLOSED_STATUSES = ("upheld", "dismissed", "withdrawn")
RESPONDENT_KINDS = ("consultant", "developer")
OUTCOMES = ("upheld", "dismissed")
DECISION_STATUSES = ("proposed", "approved", "superseded")


class Dispute(db.Model):
    """A dispute (争议) about one buyer of one project (DESIGN §4, §5a).

    The respondent is a consultant (he broke the agreement) or the developer (it sold a
    buyer our consultant protected without the platform: 跑单/撬单; the protected
    consultant is then the victim). ``source_key`` is unique: whoever opens a dispute
    (revisits, reconciliation, risk flags, operations, a consultant's complaint) opens it
    once. States: open → investigating → upheld | dismissed, or withdrawn; a closed
    dispute never changes again (a correction is a new dispute).
    """
    __tablename__ = "disputes"
    __table_args__ = (
        CheckConstraint("source IN ('revisit', 'reconciliation', 'risk_flag', 'manual', 'complaint')",
                        name="source_known"),
        CheckConstraint("status IN ('open', 'investigating', 'upheld', 'dismissed', 'withdrawn')",
                        name="status_known"),
        CheckConstraint("respondent_kind IN ('consultant', 'developer')", name="respondent_kind_known"),
        CheckConstraint("(respondent_kind = 'consultant') = (respondent_consultant_id IS NOT NULL)",
                        name="respondent_named"),
        CheckConstraint("respondent_kind = 'consultant' OR protected_consultant_id IS NOT NULL",
                        name="developer_dispute_names_victim"),
        CheckConstraint("claimant_consultant_id IS NULL OR respondent_consultant_id IS NULL "
                        "OR claimant_consultant_id <> respondent_consultant_id", name="claimant_not_respondent"),
        CheckConstraint("(sale_price_cents IS NULL) = (sold_on IS NULL)", name="sale_complete"),
        CheckConstraint("sale_price_cents IS NULL OR sale_price_cents > 0", name="sale_price_positive"),
        CheckConstraint("(status IN ('upheld', 'dismissed', 'withdrawn')) = (closed_at IS NOT NULL)",
                        name="closed_when_decided"),
        Index("ix_disputes_status_created_at", "status", "created_at"),
        Index("ix_disputes_respondent_consultant_id", "respondent_consultant_id"),
        Index("ix_disputes_claimant_consultant_id", "claimant_consultant_id"),
        Index("ix_disputes_protected_consultant_id", "protected_consultant_id"),
        Index("ix_disputes_project_id_buyer_id", "project_id", "buyer_id"),
        Index("ix_disputes_developer_id_status", "developer_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(20))
    source_key: Mapped[str] = mapped_column(String(120), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="open")
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    developer_id: Mapped[int] = mapped_column(ForeignKey("developers.id"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"))
    registration_id: Mapped[int | None] = mapped_column(ForeignKey("registrations.id"))
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id"))
    respondent_kind: Mapped[str] = mapped_column(String(20))
    respondent_consultant_id: Mapped[int | None] = mapped_column(ForeignKey("consultants.id"))
    claimant_consultant_id: Mapped[int | None] = mapped_column(ForeignKey("consultants.id"))
    # The consultant whose registration protected the buyer (the victim of 跑单/撬单).
    protected_consultant_id: Mapped[int | None] = mapped_column(ForeignKey("consultants.id"))
    subject: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    # What the developer's sales list (or operations) says the buyer bought for, and when:
    # the commission at stake is priced from it (DESIGN §5a).
    sale_price_cents: Mapped[int | None] = mapped_column(BigInteger)
    sold_on: Mapped[date | None] = mapped_column(Date)
    deadline_at: Mapped[datetime] = mapped_column(UtcDateTime)  # parties' statements are accepted until then
    opened_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    project = relationship("Project")
    developer = relationship("Developer")
    buyer = relationship("Buyer")
    registration = relationship("Registration")
    deal = relationship("Deal")
    respondent = relationship("Consultant", foreign_keys=[respondent_consultant_id])
    claimant = relationship("Consultant", foreign_keys=[claimant_consultant_id])
    protected = relationship("Consultant", foreign_keys=[protected_consultant_id])

    @property
    def party_ids(self) -> set[int]:
        """The consultants who are party to it (they read it and may answer)."""
        return {i for i in (self.respondent_consultant_id, self.claimant_consultant_id,
                            self.protected_consultant_id) if i is not None}


class DisputeEvent(db.Model):
    """The dispute's own timeline: opened, investigating, statements, proposals, the
    decision, withdrawal. Append-only (the database refuses UPDATE and DELETE)."""
    __tablename__ = "dispute_events"
    __table_args__ = (
        CheckConstraint("actor_type IN ('consultant', 'staff', 'system')", name="actor_type_known"),
        Index("ix_dispute_events_dispute_id", "dispute_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("disputes.id"))
    event: Mapped[str] = mapped_column(String(40))
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DisputeStatement(db.Model):
    """A party's answer (陈述) within the deadline, with up to 5 attachments. Append-only."""
    __tablename__ = "dispute_statements"
    __table_args__ = (Index("ix_dispute_statements_dispute_id", "dispute_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("disputes.id"))
    consultant_id: Mapped[int] = mapped_column(ForeignKey("consultants.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    consultant = relationship("Consultant")
    attachments: Mapped[list["DisputeAttachment"]] = relationship(order_by="DisputeAttachment.id",
                                                                  back_populates="statement")


class DisputeAttachment(db.Model):
    """A file of a statement (JPEG, PNG or PDF by content); the content is stored by sha256."""
    __tablename__ = "dispute_attachments"
    __table_args__ = (
        CheckConstraint("size_bytes > 0", name="size_positive"),
        CheckConstraint("content_type IN ('image/jpeg', 'image/png', 'application/pdf')", name="content_type_allowed"),
        Index("ix_dispute_attachments_statement_id", "statement_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("dispute_statements.id"))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(50))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    statement: Mapped[DisputeStatement] = relationship(back_populates="attachments")


class DisputeDecision(db.Model):
    """A proposed decision (maker) and its approval by a second staff member (checker).

    Money moves only on approval (DESIGN §7.10). The database refuses an approval by the
    proposer, a second approved decision of one dispute, and a second pending proposal
    (a new proposal supersedes the pending one). The amounts are fixed when proposed, so
    the approver approves exactly what he reads.
    """
    __tablename__ = "dispute_decisions"
    __table_args__ = (
        CheckConstraint("outcome IN ('upheld', 'dismissed')", name="outcome_known"),
        CheckConstraint("status IN ('proposed', 'approved', 'superseded')", name="status_known"),
        CheckConstraint("approved_by_id IS NULL OR approved_by_id <> proposed_by_id", name="checker_not_maker"),
        CheckConstraint("(status = 'approved') = (approved_by_id IS NOT NULL AND approved_at IS NOT NULL)",
                        name="approval_recorded"),
        CheckConstraint("penalty_cents >= 0 AND stake_cents >= 0", name="amounts_non_negative"),
        CheckConstraint("outcome = 'upheld' OR (penalty_cents = 0 AND stake_cents = 0 "
                        "AND rightful_consultant_id IS NULL)", name="dismissed_moves_no_money"),
        Index("uq_dispute_decisions_approved", "dispute_id", unique=True,
              sqlite_where=text("status = 'approved'"), postgresql_where=text("status = 'approved'")),
        Index("uq_dispute_decisions_proposed", "dispute_id", unique=True,
              sqlite_where=text("status = 'proposed'"), postgresql_where=text("status = 'proposed'")),
        Index("ix_dispute_decisions_dispute_id", "dispute_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("disputes.id"))
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="proposed")
    # The commission at stake and the penalty (consultant respondent) or the receivable
    # (developer respondent), with the terms they came from.
    stake_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    penalty_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    penalty_fixed_cents: Mapped[int | None] = mapped_column(BigInteger)
    penalty_multiple_bps: Mapped[int | None] = mapped_column(Integer)
    penalty_overridden: Mapped[bool] = mapped_column(default=False)
    terms_note: Mapped[str | None] = mapped_column(Text)
    agreement_version_id: Mapped[int | None] = mapped_column(ForeignKey("agreement_versions.id"))
    sale_price_cents: Mapped[int | None] = mapped_column(BigInteger)
    sold_on: Mapped[date | None] = mapped_column(Date)
    rightful_consultant_id: Mapped[int | None] = mapped_column(ForeignKey("consultants.id"))
    stake_lines: Mapped[str | None] = mapped_column(Text)  # canonical JSON of the split (developer respondent)
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    proposed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    penalty_transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    stake_transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))

    dispute: Mapped[Dispute] = relationship()
    proposed_by = relationship("StaffUser", foreign_keys=[proposed_by_id])
    approved_by = relationship("StaffUser", foreign_keys=[approved_by_id])
    rightful_consultant = relationship("Consultant")
