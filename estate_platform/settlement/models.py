"""Payout accounts (收款账户), settlement batches (结算批次), payout items, consultant
invoices (发票) and the log of sensitive reads (DESIGN §5, issue 12 §3).

The database refuses what must never happen: a second payout item for one party in one
batch, a batch approved by the user who prepared it, an item whose net is not its gross
less what was netted and withheld, two active accounts for one party.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UtcDateTime, db

ACCOUNT_STATUSES = ("pending_verification", "verified", "replaced", "abandoned")
ACCOUNT_KINDS = ("personal", "corporate")
BATCH_STATUSES = ("prepared", "approved", "completed")
CHANNELS = ("gateway", "provider")
ITEM_STATUSES = ("ready", "awaiting_invoice", "awaiting_second_approval", "sending", "paid", "failed", "held")
WITHHELD_BY = ("platform", "provider", "none")


def _in(column: str, values) -> str:
    return "{} IN ({})".format(column, ", ".join(f"'{v}'" for v in values))


class PayoutAccount(db.Model):
    """Where a consultant's (or a buyer's) money goes. Account and ID numbers are stored
    encrypted (``*_enc``) with their last four characters in clear for the masked form.
    A new or changed account is verified by SMS and paid no earlier than ``payable_from``
    (24 hours after verification, DESIGN §5a)."""
    __tablename__ = "payout_accounts"
    __table_args__ = (
        CheckConstraint("party_type IN ('consultant', 'buyer')", name="party_type_known"),
        CheckConstraint(_in("kind", ACCOUNT_KINDS), name="kind_known"),
        CheckConstraint(_in("status", ACCOUNT_STATUSES), name="status_known"),
        CheckConstraint("kind = 'corporate' OR id_number_enc IS NOT NULL", name="personal_has_id_number"),
        CheckConstraint("status NOT IN ('verified', 'replaced') OR (verified_at IS NOT NULL AND payable_from IS NOT NULL)",
                        name="verification_recorded"),
        Index("uq_payout_accounts_verified", "party_type", "party_id", unique=True,
              sqlite_where=text("status = 'verified'"), postgresql_where=text("status = 'verified'")),
        Index("uq_payout_accounts_pending", "party_type", "party_id", unique=True,
              sqlite_where=text("status = 'pending_verification'"),
              postgresql_where=text("status = 'pending_verification'")),
        Index("ix_payout_accounts_party", "party_type", "party_id"),
        # Room on each page for the version that gets the gateway account (a HOT update, migration
        # a6b7c8d9e0f1).
        {"postgresql_with": {"fillfactor": 50}},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    party_type: Mapped[str] = mapped_column(String(20))
    party_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    holder_name: Mapped[str] = mapped_column(String(100))
    bank_name: Mapped[str] = mapped_column(String(100))
    account_number_enc: Mapped[str] = mapped_column(Text)
    account_last4: Mapped[str] = mapped_column(String(4))
    id_number_enc: Mapped[str | None] = mapped_column(Text)
    id_last4: Mapped[str | None] = mapped_column(String(4))
    status: Mapped[str] = mapped_column(String(30), default="pending_verification")
    gateway_account_id: Mapped[str | None] = mapped_column(String(100))  # Stripe Connect connected account
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    payable_from: Mapped[datetime | None] = mapped_column(UtcDateTime)
    replaced_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SensitiveRead(db.Model):
    """Every full read of personal information (an account or ID number, the provider
    file): who, what, when (个人信息保护; append-only)."""
    __tablename__ = "sensitive_reads"
    __table_args__ = (
        CheckConstraint("actor_type IN ('staff', 'consultant', 'buyer', 'system')", name="actor_type_known"),
        Index("ix_sensitive_reads_subject", "subject_type", "subject_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    subject_type: Mapped[str] = mapped_column(String(30))
    subject_id: Mapped[int] = mapped_column(Integer)
    what: Mapped[str] = mapped_column(String(100))
    ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SettlementBatch(db.Model):
    """A settlement batch (结算批次): prepared by one finance user (or the monthly job),
    approved by another (maker-checker, DESIGN §7.10); money leaves only on approval.
    A first payout to a new account needs a second approval by a third person."""
    __tablename__ = "settlement_batches"
    __table_args__ = (
        CheckConstraint(_in("status", BATCH_STATUSES), name="status_known"),
        CheckConstraint(_in("channel", CHANNELS), name="channel_known"),
        CheckConstraint("approved_by_id IS NULL OR prepared_by_id IS NULL OR approved_by_id <> prepared_by_id",
                        name="checker_not_maker"),
        CheckConstraint("(status = 'prepared') = (approved_by_id IS NULL)", name="approval_recorded"),
        CheckConstraint("second_approved_by_id IS NULL OR (second_approved_by_id <> approved_by_id AND "
                        "(prepared_by_id IS NULL OR second_approved_by_id <> prepared_by_id))",
                        name="second_checker_distinct"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="prepared")
    channel: Mapped[str] = mapped_column(String(20), default="gateway")
    note: Mapped[str | None] = mapped_column(Text)
    prepared_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    prepared_at: Mapped[datetime] = mapped_column(UtcDateTime)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    second_approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    second_approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    gross_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    tax_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    net_cents: Mapped[int] = mapped_column(BigInteger, default=0)

    prepared_by = relationship("StaffUser", foreign_keys=[prepared_by_id])
    approved_by = relationship("StaffUser", foreign_keys=[approved_by_id])
    second_approved_by = relationship("StaffUser", foreign_keys=[second_approved_by_id])

    @property
    def transfer_group(self) -> str:
        return f"settlement-{self.id}"


class SettlementItem(db.Model):
    """One party's payout in one batch (结算明细). ``gross`` is the income paid (the tax
    base), ``owes_netted`` the clawbacks and penalties set off, ``tax`` the withholding,
    ``net`` what leaves. ``idempotency_key`` is stored when the item is made, before any
    gateway call; the gateway sees it on every (re)try."""
    __tablename__ = "settlement_items"
    __table_args__ = (
        UniqueConstraint("batch_id", "party_type", "party_id", name="uq_settlement_items_party"),
        CheckConstraint("party_type IN ('consultant', 'buyer')", name="party_type_known"),
        CheckConstraint(_in("status", ITEM_STATUSES), name="status_known"),
        CheckConstraint(_in("withheld_by", WITHHELD_BY), name="withheld_by_known"),
        CheckConstraint("gross_cents > 0 AND owes_netted_cents >= 0 AND tax_cents >= 0 AND net_cents > 0",
                        name="amounts_positive"),
        CheckConstraint("net_cents = gross_cents - owes_netted_cents - tax_cents", name="net_is_gross_less_deductions"),
        CheckConstraint("withheld_by = 'platform' OR tax_cents = 0", name="only_platform_withholds"),
        CheckConstraint("(status = 'failed') = (failure_reason IS NOT NULL)", name="failure_has_reason"),
        Index("ix_settlement_items_party", "party_type", "party_id", "tax_month"),
        # No index names ``status``: a status change is a heap-only (HOT) update, on pages filled
        # to 45 % so that the versions of a batch's two status changes fit (migration a6b7c8d9e0f1).
        # Open and sending items are found through their batch; failed ones through this index.
        Index("ix_settlement_items_failed", "id", postgresql_where=text("failure_reason IS NOT NULL"),
              sqlite_where=text("failure_reason IS NOT NULL")),
        {"postgresql_with": {"fillfactor": 45}},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # References without a FOREIGN KEY (a row-level check per item): statement triggers refuse a
    # missing batch or payout account the same way (SQLSTATE 23503), and neither can be deleted or
    # renumbered while an item refers to it (migration a6b7c8d9e0f1).
    batch_id: Mapped[int] = mapped_column(Integer)
    party_type: Mapped[str] = mapped_column(String(20))
    party_id: Mapped[int] = mapped_column(Integer)
    payout_account_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(30))
    gross_cents: Mapped[int] = mapped_column(BigInteger)
    owes_netted_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    tax_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    net_cents: Mapped[int] = mapped_column(BigInteger)
    withheld_by: Mapped[str] = mapped_column(String(20))
    tax_month: Mapped[str] = mapped_column(String(7))  # YYYY-MM, Asia/Shanghai
    provider_tax_cents: Mapped[int | None] = mapped_column(BigInteger)  # 代征: what the provider reports
    first_to_account: Mapped[bool] = mapped_column(Boolean, default=False)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    gateway_ref: Mapped[str | None] = mapped_column(String(120))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    hold_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    batch: Mapped[SettlementBatch] = relationship(
        primaryjoin="SettlementBatch.id == foreign(SettlementItem.batch_id)")
    payout_account: Mapped[PayoutAccount] = relationship(
        primaryjoin="PayoutAccount.id == foreign(SettlementItem.payout_account_id)")


class ConsultantInvoice(db.Model):
    """A company or store consultant's invoice (发票) to the platform for one payout: its
    amount equals the payout (net). Stored like visit attachments (content-addressed)."""
    __tablename__ = "consultant_invoices"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        Index("ix_consultant_invoices_consultant_id", "consultant_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    consultant_id: Mapped[int] = mapped_column(ForeignKey("consultants.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("settlement_items.id"), unique=True)
    invoice_number: Mapped[str] = mapped_column(String(50))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(50))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PayoutLimitChange(db.Model):
    """Payout limits (付款限额) as finance set them, append-only: the newest row is in force,
    each row keeps the values it replaced (none before the first: the configured defaults)."""
    __tablename__ = "payout_limit_changes"
    __table_args__ = (
        CheckConstraint("min_cents >= 0 AND max_cents >= min_cents AND daily_max_cents >= max_cents",
                        name="limits_ordered"),
        CheckConstraint("previous_min_cents >= 0 AND previous_max_cents >= 0 AND previous_daily_max_cents >= 0",
                        name="previous_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    min_cents: Mapped[int] = mapped_column(BigInteger)
    max_cents: Mapped[int] = mapped_column(BigInteger)
    daily_max_cents: Mapped[int] = mapped_column(BigInteger)
    previous_min_cents: Mapped[int] = mapped_column(BigInteger)
    previous_max_cents: Mapped[int] = mapped_column(BigInteger)
    previous_daily_max_cents: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(Text)
    changed_by_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)

    changed_by = relationship("StaffUser")
