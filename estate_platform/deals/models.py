from __future__ import annotations

import json
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
        # No index names ``recognised``: marking a deal recognised is a heap-only (HOT) update when
        # its page has room, on pages filled to 50 % (migration c9d0e1f2a3b4). Due deals are found
        # through ``DueDeal`` instead.
        Index("ix_deals_created_at", "created_at"),  # time-ranged reports (issue 16)
        {"postgresql_with": {"fillfactor": 50}},
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


class DueDeal(db.Model):
    """A deal due for recognition: it reached its trigger, is not recognised and not cancelled
    (``recognition.DUE``). The recognition batch reads the due deals from here.

    The database keeps it (migration c9d0e1f2a3b4): triggers on ``deals`` add a deal when it
    becomes due (inserted due, its trigger date set, its commission reversed) and remove it when
    it stops being due by any change but recognition (cancelled, its trigger date cleared).
    Recognition removes what it recognises in the statement that marks the deals
    (``recognition._claim``), which keeps that UPDATE free of row triggers; a row left
    behind by a deal recognised some other way is harmless (the batch reads the deal, finds it not
    due and removes the row). So every due deal is here, whatever path made it due.
    """
    __tablename__ = "deal_recognition_queue"

    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"), primary_key=True,
                                         autoincrement=False)


class CommissionNotice(db.Model):
    """Recognised commissions not yet told to their consultants (``notices``): the deals one
    recognition posted, written in its transaction. The outbox drain turns the
    ready notices into one notification per consultant and deletes them in one transaction. A
    batch's notices are held (``held_for`` its run) until its last statement releases them, so a
    consultant hears once per batch; a batch that died leaves them held until they are older than
    ``notices.STALLED_AFTER``."""
    __tablename__ = "commission_notices"
    __table_args__ = (CheckConstraint("deals LIKE '[%]'", name="deals_listed"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    held_for: Mapped[str | None] = mapped_column(String(32))
    deals: Mapped[str] = mapped_column(Text)  # JSON: [deal id, …]
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


DEAL_REQUEST_KINDS = ("cancel", "backdate")
DEAL_REQUEST_STATUSES = ("pending", "approved", "rejected", "withdrawn")


class DealChangeRequest(db.Model):
    """A change the developer's site staff may not make alone (DESIGN §7.10, maker-checker):
    cancelling a deal (退房), which reverses commission and turns money already paid into
    consultant debt, and recording one whose subscription date lies more than
    ``DEAL_BACKDATE_DAYS`` back (补录), which selects the rule version and the chain date.

    Platform operations, finance or an admin approve or reject it; never the requester
    (a CHECK). The serving consultant is told when it is made and may object until it is
    decided; the objection is shown to the approver. Approval runs the deal service's own
    cancellation or recording, once: the row is locked and must still be pending. A
    back-dated recording makes no deal until it is approved, so nothing unapproved is
    priced, recognised or counted in a month's tiers.
    """
    __tablename__ = "deal_change_requests"
    __table_args__ = (
        CheckConstraint("kind IN ('cancel', 'backdate')", name="kind_known"),
        CheckConstraint("status IN ('pending', 'approved', 'rejected', 'withdrawn')", name="status_known"),
        CheckConstraint("kind <> 'cancel' OR deal_id IS NOT NULL", name="cancel_names_deal"),
        CheckConstraint("(status = 'pending') = (decided_at IS NULL)", name="decided_when_closed"),
        CheckConstraint("status NOT IN ('approved', 'rejected') OR decided_by_id IS NOT NULL",
                        name="decision_has_decider"),
        CheckConstraint("decided_by_id IS NULL OR decided_by_id <> requested_by_id", name="four_eyes"),
        CheckConstraint("(objection IS NULL) = (objected_at IS NULL)", name="objection_dated"),
        # One open request per deal and kind: a second cancellation request waits for the first.
        Index("uq_deal_change_requests_pending_deal_kind", "deal_id", "kind", unique=True,
              sqlite_where=text("status = 'pending'"), postgresql_where=text("status = 'pending'")),
        Index("ix_deal_change_requests_status_created_at", "status", "created_at"),
        Index("ix_deal_change_requests_consultant_id_created_at", "consultant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    # cancel: the deal; backdate: the deal its approval recorded (None before).
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id"))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    consultant_id: Mapped[int] = mapped_column(ForeignKey("consultants.id"))  # the serving consultant, told
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id"))
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    reason: Mapped[str] = mapped_column(Text)
    # backdate: the deal to record (buyer_id, unit, price_cents, subscribed_on, note), canonical JSON.
    payload: Mapped[str] = mapped_column(Text, default="{}")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)
    objection: Mapped[str | None] = mapped_column(Text)
    objected_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    deal = relationship("Deal")
    project = relationship("Project")
    consultant = relationship("Consultant")
    registration = relationship("Registration")
    requested_by = relationship("StaffUser", foreign_keys=[requested_by_id])
    decided_by = relationship("StaffUser", foreign_keys=[decided_by_id])

    @property
    def data(self) -> dict:
        return json.loads(self.payload or "{}")

    # What the request is about, for people: the deal's own facts, or the back-dated deal's.

    @property
    def unit(self) -> str | None:
        return self.deal.unit if self.kind == "cancel" else self.data.get("unit")

    @property
    def subscribed_on(self) -> date | None:
        if self.kind == "cancel":
            return self.deal.subscribed_on
        raw = self.data.get("subscribed_on")
        return date.fromisoformat(raw) if raw else None

    @property
    def price_cents(self) -> int | None:
        return self.deal.price_cents if self.kind == "cancel" else self.data.get("price_cents")
