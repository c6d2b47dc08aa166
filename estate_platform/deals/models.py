from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UtcDateTime, db

DEAL_STAGES = ("subscribed", "signed", "loan_disbursed", "paid_in_full", "cancelled")
LIVE_STAGES = ("subscribed", "signed", "loan_disbursed", "paid_in_full")


class Deal(db.Model):
    """A deal (成交) recorded against the buyer's binding registration (DESIGN §2).

    It keeps a snapshot of the commission rule and split policy it was priced with,
    so editing a rule later never changes it. A unit has at most one live deal,
    enforced by the database. Every change is an event in the evidence chain.
    """
    __tablename__ = "deals"
    __table_args__ = (
        CheckConstraint("stage IN ('subscribed', 'signed', 'loan_disbursed', 'paid_in_full', 'cancelled')",
                        name="stage_known"),
        CheckConstraint("price_cents > 0", name="price_positive"),
        CheckConstraint("commission_cents >= 0", name="commission_non_negative"),
        CheckConstraint("stage <> 'cancelled' OR (cancel_reason IS NOT NULL AND cancelled_at IS NOT NULL)",
                        name="cancellation_explained"),
        CheckConstraint("lines_version >= 0", name="lines_version_non_negative"),
        CheckConstraint("NOT recognised OR (lines_version >= 1 AND stage <> 'cancelled')", name="recognised_has_lines"),
        Index("uq_deals_live_unit", "project_id", "unit", unique=True,
              sqlite_where=text("stage <> 'cancelled'"), postgresql_where=text("stage <> 'cancelled'")),
        Index("ix_deals_consultant_id_subscribed_on", "consultant_id", "subscribed_on"),
        Index("ix_deals_project_id_subscribed_on", "project_id", "subscribed_on"),
        Index("ix_deals_recognised_trigger_reached_on", "recognised", "trigger_reached_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id"), index=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), index=True)
    consultant_id: Mapped[int] = mapped_column(ForeignKey("consultants.id"))
    unit: Mapped[str] = mapped_column(String(50))
    price_cents: Mapped[int] = mapped_column(BigInteger)
    subscribed_on: Mapped[date] = mapped_column(Date)
    stage: Mapped[str] = mapped_column(String(20), default="subscribed")
    signed_on: Mapped[date | None] = mapped_column(Date)
    completed_on: Mapped[date | None] = mapped_column(Date)  # loan disbursed or paid in full
    trigger_reached_on: Mapped[date | None] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date)  # the developer's expected payment date
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    # Pricing snapshot (canonical JSON) and its result.
    rule_id: Mapped[int] = mapped_column(ForeignKey("commission_rules.id"))
    rule_snapshot: Mapped[str] = mapped_column(Text)
    policy_id: Mapped[int] = mapped_column(ForeignKey("split_policies.id"))
    policy_snapshot: Mapped[str] = mapped_column(Text)
    tier_index: Mapped[int | None] = mapped_column(Integer)
    tier_position: Mapped[int | None] = mapped_column(BigInteger)
    commission_cents: Mapped[int] = mapped_column(BigInteger)
    # The latest version of this deal's commission lines (0: never recognised), and
    # whether those lines stand in the ledger now (a cancellation reverses them).
    lines_version: Mapped[int] = mapped_column(Integer, default=0)
    recognised: Mapped[bool] = mapped_column(Boolean, default=False)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    project = relationship("Project")
    buyer = relationship("Buyer")
    consultant = relationship("Consultant")
    registration = relationship("Registration")
