from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UtcDateTime, db

PARTY_TYPES = ("platform", "developer", "consultant", "buyer")
# receivable: the developer owes us (asset); revenue: the platform's income;
# pending: earned, the developer has not paid; available: payable now;
# owes: the consultant owes the platform (clawbacks, penalties); cash: money held.
# Money in and out (issue 12) and buy-back (issue 13):
# unapplied: a developer's payment not yet applied to receivables (the platform holds it for him);
# tax_payable: withholding (劳务报酬预扣) the platform owes the tax office;
# in_transit: a payout sent to a gateway or provider file, not yet confirmed paid;
# purchased: receivables the platform bought from a consultant (its face value, platform-owned);
# remainder: what the platform owes a consultant on a bought receivable once the developer pays.
ACCOUNT_KINDS = ("receivable", "revenue", "pending", "available", "owes", "cash",
                 "unapplied", "tax_payable", "in_transit", "purchased", "remainder")
KIND_CHECK = "kind IN ({})".format(", ".join(f"'{k}'" for k in ACCOUNT_KINDS))


class Account(db.Model):
    """One account per party and kind (DESIGN §5). The platform's party id is 0."""
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        UniqueConstraint("party_type", "party_id", "kind"),
        CheckConstraint("party_type IN ('platform', 'developer', 'consultant', 'buyer')", name="party_type_known"),
        CheckConstraint(KIND_CHECK, name="kind_known"),
        CheckConstraint("(party_type = 'platform') = (party_id = 0)", name="platform_is_zero"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    party_type: Mapped[str] = mapped_column(String(20))
    party_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LedgerTransaction(db.Model):
    """A balanced, immutable set of postings. ``idempotency_key`` makes every money
    operation safe to retry: the same key never posts twice."""
    __tablename__ = "ledger_transactions"
    # Only transactions of a deal are indexed (a payout has none; migration a6b7c8d9e0f1).
    __table_args__ = (Index("ix_ledger_transactions_deal_id", "deal_id", postgresql_where=text("deal_id IS NOT NULL"),
                            sqlite_where=text("deal_id IS NOT NULL")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text)
    # A reference without a FOREIGN KEY (a row-level check per transaction): a statement trigger
    # refuses the same, and a deal with transactions cannot be deleted or renumbered (d1f2a3b4c5d6).
    deal_id: Mapped[int | None] = mapped_column(Integer)
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    postings: Mapped[list["Posting"]] = relationship(
        primaryjoin="LedgerTransaction.id == foreign(Posting.transaction_id)", order_by="Posting.id",
        back_populates="transaction")


class Posting(db.Model):
    """One leg: positive debits, negative credits. A transaction's legs sum to zero
    (checked when its legs are inserted, by trigger on PostgreSQL); no leg is ever
    updated or deleted (triggers on PostgreSQL and SQLite).

    ``transaction_id`` and ``account_id`` are references without a FOREIGN KEY: a row-level key
    check per leg was a third of a batch's time (issue 16 §2). The database still refuses a leg
    whose transaction or account does not exist: on PostgreSQL the balance trigger checks the
    statement's legs in one query, on SQLite a row trigger; transactions are never updated or
    deleted, and an account with legs cannot be deleted or renumbered (triggers, migration
    c0e1f2a3b4c5)."""
    __tablename__ = "ledger_postings"
    __table_args__ = (
        CheckConstraint("amount_cents <> 0", name="amount_non_zero"),
        Index("ix_ledger_postings_account_id", "account_id"),
        Index("ix_ledger_postings_transaction_id", "transaction_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(Integer)
    account_id: Mapped[int] = mapped_column(Integer)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    memo: Mapped[str | None] = mapped_column(Text)

    transaction: Mapped[LedgerTransaction] = relationship(
        primaryjoin="LedgerTransaction.id == foreign(Posting.transaction_id)", back_populates="postings")
    account: Mapped[Account] = relationship(primaryjoin="Account.id == foreign(Posting.account_id)")
