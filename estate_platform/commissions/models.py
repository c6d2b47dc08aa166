from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UtcDateTime, db


class CommissionRule(db.Model):
    """A project's commission rule (佣金规则), in force from ``effective_from`` until the
    next version's date. Versions are never edited: a change is a new version, and a
    deal keeps a snapshot of the version it was priced with (DESIGN §2)."""
    __tablename__ = "commission_rules"
    __table_args__ = (
        UniqueConstraint("project_id", "effective_from"),
        CheckConstraint("basis IN ('rate', 'fixed')", name="basis_known"),
        CheckConstraint("(basis = 'rate' AND rate_bps BETWEEN 1 AND 10000 AND fixed_cents IS NULL) OR "
                        "(basis = 'fixed' AND fixed_cents > 0 AND rate_bps IS NULL)", name="amount_matches_basis"),
        CheckConstraint("tier_metric IS NULL OR tier_metric IN ('units', 'amount')", name="tier_metric_known"),
        CheckConstraint("trigger IN ('signed', 'loan_disbursed', 'paid_in_full')", name="trigger_known"),
        CheckConstraint("payment_terms_days BETWEEN 0 AND 730", name="payment_terms_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    effective_from: Mapped[date] = mapped_column(Date)
    basis: Mapped[str] = mapped_column(String(10))
    rate_bps: Mapped[int | None] = mapped_column(Integer)
    fixed_cents: Mapped[int | None] = mapped_column(BigInteger)
    tier_metric: Mapped[str | None] = mapped_column(String(10))
    trigger: Mapped[str] = mapped_column(String(20))
    payment_terms_days: Mapped[int] = mapped_column(Integer)
    text: Mapped[str | None] = mapped_column(Text)  # the rule as agreed with the developer, for people
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    tiers: Mapped[list["CommissionTier"]] = relationship(order_by="CommissionTier.threshold", back_populates="rule")
    project = relationship("Project")


class CommissionTier(db.Model):
    """One step of a tiered rule: from the ``threshold``-th unit (or amount) of the month on."""
    __tablename__ = "commission_tiers"
    __table_args__ = (
        UniqueConstraint("rule_id", "threshold"),
        CheckConstraint("threshold >= 1", name="threshold_positive"),
        CheckConstraint("(rate_bps IS NOT NULL AND rate_bps BETWEEN 1 AND 10000) OR "
                        "(fixed_cents IS NOT NULL AND fixed_cents > 0)", name="amount_given"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("commission_rules.id"))
    threshold: Mapped[int] = mapped_column(BigInteger)
    rate_bps: Mapped[int | None] = mapped_column(Integer)
    fixed_cents: Mapped[int | None] = mapped_column(BigInteger)

    rule: Mapped[CommissionRule] = relationship(back_populates="tiers")


class SplitPolicyVersion(db.Model):
    """How commissions are split (DESIGN §3): the platform default (``project_id`` NULL)
    or a project's override, each versioned by effective date. Upline levels are capped
    at 2 by the database too."""
    __tablename__ = "split_policies"
    __table_args__ = (
        Index("uq_split_policies_platform_effective_from", "effective_from", unique=True,
              sqlite_where=db.text("project_id IS NULL"), postgresql_where=db.text("project_id IS NULL")),
        Index("uq_split_policies_project_effective_from", "project_id", "effective_from", unique=True,
              sqlite_where=db.text("project_id IS NOT NULL"), postgresql_where=db.text("project_id IS NOT NULL")),
        CheckConstraint("platform_fee_bps BETWEEN 0 AND 10000", name="fee_range"),
        CheckConstraint("referral_bps BETWEEN 0 AND 10000", name="referral_range"),
        CheckConstraint("max_upline_levels BETWEEN 0 AND 2", name="at_most_two_upline_levels"),
        CheckConstraint("upline_l1_bps BETWEEN 0 AND 10000 AND upline_l2_bps BETWEEN 0 AND 10000",
                        name="upline_range"),
        CheckConstraint("(max_upline_levels >= 1 OR upline_l1_bps = 0) AND (max_upline_levels = 2 OR upline_l2_bps = 0)",
                        name="unused_levels_zero"),
        CheckConstraint("referral_bps + upline_l1_bps + upline_l2_bps <= 10000", name="shares_fit"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))
    effective_from: Mapped[date] = mapped_column(Date)
    platform_fee_bps: Mapped[int] = mapped_column(Integer)
    referral_bps: Mapped[int] = mapped_column(Integer)
    max_upline_levels: Mapped[int] = mapped_column(Integer)
    upline_l1_bps: Mapped[int] = mapped_column(Integer)
    upline_l2_bps: Mapped[int] = mapped_column(Integer)
    buyer_referral_reward_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    project = relationship("Project")


class CommissionLine(db.Model):
    """One line of a deal's split (DESIGN §3), written when the commission is recognised.
    ``version`` counts re-pricings: a correction writes the next version's lines, and
    the deal's ``lines_version`` names the lines in force. Never updated or deleted."""
    __tablename__ = "commission_lines"
    __table_args__ = (
        UniqueConstraint("deal_id", "version", "seq"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("role IN ('platform_fee', 'referral', 'upline', 'serving', 'buyer_referral')",
                        name="role_known"),
        CheckConstraint("party_type IN ('platform', 'consultant', 'buyer')", name="party_type_known"),
        CheckConstraint("level IS NULL OR level BETWEEN 1 AND 2", name="level_at_most_two"),
        Index("ix_commission_lines_party_type_party_id", "party_type", "party_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # A reference without a FOREIGN KEY (a row-level check per line): statement triggers refuse the
    # same, and a deal with lines cannot be deleted or renumbered (migration d1f2a3b4c5d6).
    deal_id: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    party_type: Mapped[str] = mapped_column(String(20))
    party_id: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(20))
    level: Mapped[int | None] = mapped_column(Integer)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
