"""Money in from developers (回款) and when consultants' money becomes payable (DESIGN §5, §5a).

* ``DeveloperContract``: the developer's payable-when rule (结算条件): ``pay_when_paid`` or
  ``advance`` after N days. A developer without a row is pay-when-paid.
* ``DeveloperInvoice``: the platform's invoice to a developer (发票), optionally mirrored in Stripe.
* ``Collection``: one payment from a developer; ``CollectionAllocation`` rows say which deal's
  receivable each part paid (``batch`` 0 when recorded, 1, 2, … for later applications of the
  unapplied rest; a negative ``returned`` row takes money off a cancelled deal back to unapplied). Rows are never edited; an undo is a correcting ledger transaction and the
  collection's ``reversed_at``.
* A receivable is a deal's commission or the stake of a dispute upheld against the developer
  (``dispute_id``, no deal): both are applied, released and undone the same way.
* ``CommissionRelease``: one step moving a deal's (or stake's) consultant/buyer lines between pending and
  available (positive: released; negative: taken back after an undo), per line in
  ``CommissionReleaseLine``.
* ``StripeEvent``: each webhook event id once (a replay finds it and changes nothing).
* ``DeveloperStatementResponse``: the developer's confirmation or objection to a statement (对账函).
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UtcDateTime, db

PAYABLE_WHEN = ("pay_when_paid", "advance")
COLLECTION_SOURCES = ("manual", "stripe")
RELEASE_REASONS = ("collection", "advance", "sweep", "undo")
STATEMENT_RESPONSES = ("confirmed", "objected")


class DeveloperContract(db.Model):
    __tablename__ = "developer_contracts"
    __table_args__ = (
        CheckConstraint("payable_when IN ('pay_when_paid', 'advance')", name="payable_when_known"),
        CheckConstraint("(payable_when = 'advance') = (advance_days IS NOT NULL)", name="advance_has_days"),
        CheckConstraint("advance_days IS NULL OR advance_days BETWEEN 0 AND 365", name="advance_days_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    developer_id: Mapped[int] = mapped_column(ForeignKey("developers.id"), unique=True)
    payable_when: Mapped[str] = mapped_column(String(20))
    advance_days: Mapped[int | None] = mapped_column(Integer)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DeveloperInvoice(db.Model):
    __tablename__ = "developer_invoices"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("tax_rate_bps BETWEEN 0 AND 10000", name="tax_rate_range"),
        Index("ix_developer_invoices_developer_id_issued_on", "developer_id", "issued_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    developer_id: Mapped[int] = mapped_column(ForeignKey("developers.id"))
    number: Mapped[str] = mapped_column(String(40), unique=True)
    issued_on: Mapped[date] = mapped_column(Date)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    tax_rate_bps: Mapped[int] = mapped_column(Integer)
    stripe_invoice_id: Mapped[str | None] = mapped_column(String(80), unique=True)
    note: Mapped[str | None] = mapped_column(Text)
    voided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    developer = relationship("Developer")


class Collection(db.Model):
    __tablename__ = "collections"
    __table_args__ = (
        UniqueConstraint("developer_id", "bank_reference"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("source IN ('manual', 'stripe')", name="source_known"),
        CheckConstraint("(reversed_at IS NULL) = (reverse_reason IS NULL)", name="reversal_explained"),
        Index("ix_collections_developer_id_received_on", "developer_id", "received_on"),
        Index("ix_collections_invoice_id", "invoice_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    developer_id: Mapped[int] = mapped_column(ForeignKey("developers.id"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    received_on: Mapped[date] = mapped_column(Date)
    bank_reference: Mapped[str] = mapped_column(String(80))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("developer_invoices.id"))
    source: Mapped[str] = mapped_column(String(10), default="manual")
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    reversed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reversed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    reverse_reason: Mapped[str | None] = mapped_column(Text)

    developer = relationship("Developer")
    invoice = relationship("DeveloperInvoice")
    recorded_by = relationship("StaffUser", foreign_keys=[recorded_by_id])
    allocations: Mapped[list["CollectionAllocation"]] = relationship(order_by="CollectionAllocation.id",
                                                                     back_populates="collection")


class CollectionAllocation(db.Model):
    __tablename__ = "collection_allocations"
    __table_args__ = (
        UniqueConstraint("collection_id", "batch", "deal_id"),
        UniqueConstraint("collection_id", "batch", "dispute_id"),
        CheckConstraint("(deal_id IS NULL) <> (dispute_id IS NULL)", name="one_source"),
        CheckConstraint("amount_cents <> 0", name="amount_non_zero"),
        CheckConstraint("kind IN ('applied', 'returned')", name="kind_known"),
        CheckConstraint("(kind = 'applied') = (amount_cents > 0)", name="kind_signed"),
        CheckConstraint("batch >= 0", name="batch_non_negative"),
        Index("ix_collection_allocations_deal_id", "deal_id"),
        Index("ix_collection_allocations_dispute_id", "dispute_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id"))
    batch: Mapped[int] = mapped_column(Integer)
    # The receivable it paid: a deal's commission, or the stake of a dispute upheld against the
    # developer (no deal, ``disputes.decisions``).
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id"))
    dispute_id: Mapped[int | None] = mapped_column(ForeignKey("disputes.id"))
    # ``returned``: a negative row taking money back off a deal that was cancelled (or re-priced
    # below what was applied) into the developer's unapplied cash (issue 12 gap 1).
    kind: Mapped[str] = mapped_column(String(20), default="applied", server_default="applied")
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    collection: Mapped[Collection] = relationship(back_populates="allocations")
    deal = relationship("Deal")


class CommissionRelease(db.Model):
    __tablename__ = "commission_releases"
    __table_args__ = (
        UniqueConstraint("deal_id", "version", "seq"),
        UniqueConstraint("dispute_id", "version", "seq"),
        CheckConstraint("(deal_id IS NULL) <> (dispute_id IS NULL)", name="one_source"),
        CheckConstraint("reason IN ('collection', 'advance', 'sweep', 'undo')", name="reason_known"),
        CheckConstraint("seq >= 1", name="seq_positive"),
        CheckConstraint("basis_from_cents >= 0 AND basis_to_cents >= 0 AND basis_to_cents <> basis_from_cents",
                        name="basis_moves"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id"))
    dispute_id: Mapped[int | None] = mapped_column(ForeignKey("disputes.id"))  # a dispute's stake
    version: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(20))
    # How much of the deal's receivable the released lines correspond to, before and after.
    basis_from_cents: Mapped[int] = mapped_column(BigInteger)
    basis_to_cents: Mapped[int] = mapped_column(BigInteger)
    ledger_transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CommissionReleaseLine(db.Model):
    __tablename__ = "commission_release_lines"
    __table_args__ = (
        UniqueConstraint("release_id", "line_id"),
        UniqueConstraint("release_id", "stake_seq"),
        CheckConstraint("(line_id IS NULL) <> (stake_seq IS NULL)", name="one_line"),
        CheckConstraint("amount_cents <> 0", name="amount_non_zero"),
        Index("ix_commission_release_lines_line_id", "line_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("commission_releases.id"))
    line_id: Mapped[int | None] = mapped_column(ForeignKey("commission_lines.id"))
    stake_seq: Mapped[int | None] = mapped_column(Integer)  # a dispute stake's line, by its place in the split
    amount_cents: Mapped[int] = mapped_column(BigInteger)  # + released, − taken back


class StripeEvent(db.Model):
    __tablename__ = "stripe_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(80), unique=True)
    type: Mapped[str] = mapped_column(String(80))
    outcome: Mapped[str] = mapped_column(String(40))
    collection_id: Mapped[int | None] = mapped_column(ForeignKey("collections.id"))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DeveloperStatementResponse(db.Model):
    __tablename__ = "developer_statement_responses"
    __table_args__ = (
        CheckConstraint("response IN ('confirmed', 'objected')", name="response_known"),
        CheckConstraint("period_to >= period_from", name="period_ordered"),
        Index("ix_developer_statement_responses_developer_id_period_from", "developer_id", "period_from"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    developer_id: Mapped[int] = mapped_column(ForeignKey("developers.id"))
    period_from: Mapped[date] = mapped_column(Date)
    period_to: Mapped[date] = mapped_column(Date)
    response: Mapped[str] = mapped_column(String(20))
    responded_on: Mapped[date] = mapped_column(Date)
    balance_cents: Mapped[int] = mapped_column(BigInteger)  # the statement's closing balance it answers
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    recorded_by = relationship("StaffUser")
