"""Buy-back of consultants' commission receivables (应收账款回购/佣金垫付, DESIGN §5, issue 13 §1).

* ``BuybackSettings``: the platform's prices and limits (one row, id 1).
* ``BuybackDeveloperTerms``: per developer, its risk premium and exposure limit (None: the platform's).
* ``BuybackQuote`` / ``BuybackQuoteLine``: a priced offer on a consultant's lines, valid until ``expires_at``.
* ``BuybackRequest``: the consultant accepted a quote; finance approves (a second, different
  finance user above the set amount: maker-checker, a CHECK) or rejects; he may cancel before.
* ``BuybackLine``: one commission line reserved by a request, then bought. A partial unique index
  keeps a line in at most one live reservation or purchase; a released line (rejected, cancelled,
  expired) may be offered again.
* ``BuybackPackage``: purchased lines of one developer bundled for collection (打包), with a statement.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UtcDateTime, db

REQUEST_STATUSES = ("requested", "approved", "rejected", "cancelled", "expired")
LINE_STATUSES = ("reserved", "purchased", "collected", "recourse", "released")
LIVE_LINE_STATUSES = ("reserved", "purchased")  # counted in exposure
PACKAGE_STATUSES = ("open", "sent", "closed")


def _bps(column: str) -> CheckConstraint:
    return CheckConstraint(f"{column} BETWEEN 0 AND 10000", name=f"{column}_range")


def _sums() -> CheckConstraint:
    return CheckConstraint("face_cents > 0 AND discount_cents >= 0 AND advance_cents >= 0 AND remainder_cents >= 0 "
                           "AND advance_cents + discount_cents + remainder_cents = face_cents", name="parts_sum_to_face")


class BuybackSettings(db.Model):
    __tablename__ = "buyback_settings"
    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        _bps("annual_rate_bps"), _bps("risk_premium_bps"), _bps("advance_cap_bps"),
        CheckConstraint("min_fee_cents >= 0", name="min_fee_non_negative"),
        CheckConstraint("quote_valid_minutes BETWEEN 1 AND 1440", name="quote_valid_range"),
        CheckConstraint("request_valid_hours BETWEEN 1 AND 720", name="request_valid_range"),
        CheckConstraint("credit_threshold BETWEEN 0 AND 100", name="credit_threshold_range"),
        CheckConstraint("fallback_days BETWEEN 0 AND 730", name="fallback_days_range"),
        CheckConstraint("developer_limit_cents >= 0 AND consultant_limit_cents >= 0 AND book_limit_cents >= 0 "
                        "AND second_approver_cents >= 0", name="limits_non_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    annual_rate_bps: Mapped[int] = mapped_column(Integer)
    risk_premium_bps: Mapped[int] = mapped_column(Integer)  # for developers without their own
    min_fee_cents: Mapped[int] = mapped_column(BigInteger)
    advance_cap_bps: Mapped[int] = mapped_column(Integer)
    quote_valid_minutes: Mapped[int] = mapped_column(Integer)
    request_valid_hours: Mapped[int] = mapped_column(Integer)
    credit_threshold: Mapped[int] = mapped_column(Integer)
    fallback_days: Mapped[int] = mapped_column(Integer)
    developer_limit_cents: Mapped[int] = mapped_column(BigInteger)  # for developers without their own
    consultant_limit_cents: Mapped[int] = mapped_column(BigInteger)
    book_limit_cents: Mapped[int] = mapped_column(BigInteger)
    second_approver_cents: Mapped[int] = mapped_column(BigInteger)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BuybackDeveloperTerms(db.Model):
    __tablename__ = "buyback_developer_terms"
    __table_args__ = (
        CheckConstraint("risk_premium_bps IS NULL OR risk_premium_bps BETWEEN 0 AND 10000",
                        name="risk_premium_bps_range"),
        CheckConstraint("exposure_limit_cents IS NULL OR exposure_limit_cents >= 0", name="limit_non_negative"),
    )

    developer_id: Mapped[int] = mapped_column(ForeignKey("developers.id"), primary_key=True, autoincrement=False)
    risk_premium_bps: Mapped[int | None] = mapped_column(Integer)
    exposure_limit_cents: Mapped[int | None] = mapped_column(BigInteger)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    developer = relationship("Developer")


class BuybackQuote(db.Model):
    __tablename__ = "buyback_quotes"
    __table_args__ = (
        _sums(),
        CheckConstraint("equivalent_annual_bps >= 0", name="annual_non_negative"),
        CheckConstraint("expires_at > created_at", name="expires_after_creation"),
        Index("ix_buyback_quotes_consultant_id_created_at", "consultant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    consultant_id: Mapped[int] = mapped_column(ForeignKey("consultants.id"))
    face_cents: Mapped[int] = mapped_column(BigInteger)
    discount_cents: Mapped[int] = mapped_column(BigInteger)
    advance_cents: Mapped[int] = mapped_column(BigInteger)
    remainder_cents: Mapped[int] = mapped_column(BigInteger)
    equivalent_annual_bps: Mapped[int] = mapped_column(Integer)
    annual_rate_bps: Mapped[int] = mapped_column(Integer)
    advance_cap_bps: Mapped[int] = mapped_column(Integer)
    min_fee_cents: Mapped[int] = mapped_column(BigInteger)
    terms_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)

    lines: Mapped[list["BuybackQuoteLine"]] = relationship(order_by="BuybackQuoteLine.id", back_populates="quote")


class BuybackQuoteLine(db.Model):
    __tablename__ = "buyback_quote_lines"
    __table_args__ = (
        _sums(),
        db.UniqueConstraint("quote_id", "commission_line_id"),
        CheckConstraint("days >= 0", name="days_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    quote_id: Mapped[int] = mapped_column(ForeignKey("buyback_quotes.id"))
    commission_line_id: Mapped[int] = mapped_column(ForeignKey("commission_lines.id"))
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id"))
    developer_id: Mapped[int] = mapped_column(ForeignKey("developers.id"))
    face_cents: Mapped[int] = mapped_column(BigInteger)
    days: Mapped[int] = mapped_column(Integer)
    expected_on: Mapped[date] = mapped_column(Date)
    risk_premium_bps: Mapped[int] = mapped_column(Integer)
    time_discount_cents: Mapped[int] = mapped_column(BigInteger)
    premium_cents: Mapped[int] = mapped_column(BigInteger)
    discount_cents: Mapped[int] = mapped_column(BigInteger)
    advance_cents: Mapped[int] = mapped_column(BigInteger)
    remainder_cents: Mapped[int] = mapped_column(BigInteger)
    equivalent_annual_bps: Mapped[int] = mapped_column(Integer)

    quote: Mapped[BuybackQuote] = relationship(back_populates="lines")
    deal = relationship("Deal")


class BuybackRequest(db.Model):
    __tablename__ = "buyback_requests"
    __table_args__ = (
        _sums(),
        CheckConstraint("status IN ('requested', 'approved', 'rejected', 'cancelled', 'expired')",
                        name="status_known"),
        # Maker-checker (DESIGN §7.10): the second approver is another person, and an approval
        # that needs two has both.
        CheckConstraint("second_approver_id IS NULL OR second_approver_id <> first_approver_id",
                        name="second_approver_differs"),
        CheckConstraint("status <> 'approved' OR (first_approver_id IS NOT NULL AND "
                        "(NOT needs_second_approval OR second_approver_id IS NOT NULL))", name="approved_by_enough"),
        CheckConstraint("(status = 'requested') = (decided_at IS NULL)", name="decided_when_closed"),
        CheckConstraint("status <> 'rejected' OR (reject_reason IS NOT NULL AND decided_by_id IS NOT NULL)",
                        name="rejection_explained"),
        Index("ix_buyback_requests_status_created_at", "status", "created_at"),
        Index("ix_buyback_requests_consultant_id_created_at", "consultant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    quote_id: Mapped[int] = mapped_column(ForeignKey("buyback_quotes.id"), unique=True)
    consultant_id: Mapped[int] = mapped_column(ForeignKey("consultants.id"))
    status: Mapped[str] = mapped_column(String(20), default="requested")
    face_cents: Mapped[int] = mapped_column(BigInteger)
    discount_cents: Mapped[int] = mapped_column(BigInteger)
    advance_cents: Mapped[int] = mapped_column(BigInteger)
    remainder_cents: Mapped[int] = mapped_column(BigInteger)
    equivalent_annual_bps: Mapped[int] = mapped_column(Integer)
    needs_second_approval: Mapped[bool] = mapped_column(Boolean)
    first_approver_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    first_approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    second_approver_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    second_approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reject_reason: Mapped[str | None] = mapped_column(Text)
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    quote: Mapped[BuybackQuote] = relationship()
    consultant = relationship("Consultant")
    lines: Mapped[list["BuybackLine"]] = relationship(order_by="BuybackLine.id", back_populates="request")
    first_approver = relationship("StaffUser", foreign_keys=[first_approver_id])
    second_approver = relationship("StaffUser", foreign_keys=[second_approver_id])

    @property
    def recourse_cents(self) -> int:
        """What the consultant owes back because a bought deal was cancelled (追索)."""
        return sum(line.recourse_cents for line in self.lines)

    @property
    def remainder_paid_cents(self) -> int:
        return sum(line.remainder_paid_cents for line in self.lines)


class BuybackLine(db.Model):
    __tablename__ = "buyback_lines"
    __table_args__ = (
        _sums(),
        CheckConstraint("status IN ('reserved', 'purchased', 'collected', 'recourse', 'released')",
                        name="status_known"),
        CheckConstraint("collected_cents BETWEEN 0 AND face_cents", name="collected_range"),
        CheckConstraint("remainder_paid_cents BETWEEN 0 AND remainder_cents", name="remainder_paid_range"),
        CheckConstraint("discount_realised_cents BETWEEN 0 AND discount_cents", name="discount_realised_range"),
        # A line is in at most one live reservation or purchase, ever sold at most once.
        Index("uq_buyback_lines_commission_line_id_live", "commission_line_id", unique=True,
              sqlite_where=text("status <> 'released'"), postgresql_where=text("status <> 'released'")),
        Index("ix_buyback_lines_request_id", "request_id"),
        Index("ix_buyback_lines_deal_id", "deal_id"),
        Index("ix_buyback_lines_developer_id_status", "developer_id", "status"),
        Index("ix_buyback_lines_consultant_id_status", "consultant_id", "status"),
        Index("ix_buyback_lines_package_id", "package_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("buyback_requests.id"))
    commission_line_id: Mapped[int] = mapped_column(ForeignKey("commission_lines.id"))
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id"))
    developer_id: Mapped[int] = mapped_column(ForeignKey("developers.id"))
    consultant_id: Mapped[int] = mapped_column(ForeignKey("consultants.id"))
    status: Mapped[str] = mapped_column(String(20), default="reserved")
    face_cents: Mapped[int] = mapped_column(BigInteger)
    discount_cents: Mapped[int] = mapped_column(BigInteger)
    advance_cents: Mapped[int] = mapped_column(BigInteger)
    remainder_cents: Mapped[int] = mapped_column(BigInteger)
    expected_on: Mapped[date] = mapped_column(Date)
    collected_cents: Mapped[int] = mapped_column(BigInteger, default=0)  # this line's face collected
    deal_collected_cents: Mapped[int] = mapped_column(BigInteger, default=0)  # the deal's receivable paid so far
    remainder_paid_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    discount_realised_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    package_id: Mapped[int | None] = mapped_column(ForeignKey("buyback_packages.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    request: Mapped[BuybackRequest] = relationship(back_populates="lines")
    deal = relationship("Deal")
    consultant = relationship("Consultant")
    package: Mapped["BuybackPackage | None"] = relationship(back_populates="lines")

    @property
    def recourse_cents(self) -> int:
        return self.advance_cents + self.remainder_paid_cents if self.status == "recourse" else 0

    @property
    def collection_state(self) -> str:
        """paid 已回款 / partly 部分回款 / outstanding 未回款 (for packages and the book)."""
        if self.collected_cents >= self.face_cents:
            return "paid"
        return "partly" if self.collected_cents else "outstanding"


class BuybackPackage(db.Model):
    __tablename__ = "buyback_packages"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'sent', 'closed')", name="status_known"),
        CheckConstraint("status = 'open' OR sent_at IS NOT NULL", name="sent_dated"),
        Index("ix_buyback_packages_developer_id_created_at", "developer_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    developer_id: Mapped[int] = mapped_column(ForeignKey("developers.id"))
    status: Mapped[str] = mapped_column(String(20), default="open")
    note: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    developer = relationship("Developer")
    lines: Mapped[list[BuybackLine]] = relationship(order_by="BuybackLine.id", back_populates="package")
