from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UtcDateTime, db, utcnow

PROJECT_STATUSES = ("on_sale", "paused", "sold_out", "ended")
PROTECTION_MODES = ("report_visit_deal", "report_deal", "visit_deal")
PHONE_DISCLOSURES = ("full", "first3_last4", "first4_last3")
# The nightly risk jobs' thresholds (风控阈值, risk.rules): column → (lowest, highest) allowed.
RISK_THRESHOLD_RANGES = {
    "risk_visit_within_minutes": (1, 24 * 60),
    "risk_deal_within_hours": (1, 30 * 24),
    "risk_collision_consultants": (2, 100),
    "risk_collision_days": (1, 90),
    "risk_velocity_count": (2, 10_000),
    "risk_velocity_minutes": (1, 24 * 60),
    "risk_fishing_refusals": (1, 1000),
    "risk_fishing_days": (1, 90),
    "risk_price_drop_bps": (1, 10_000),
    "risk_rerecord_days": (1, 90),
}
RISK_THRESHOLD_DEFAULTS = {
    "risk_visit_within_minutes": 10, "risk_deal_within_hours": 24, "risk_collision_consultants": 3,
    "risk_collision_days": 7, "risk_velocity_count": 20, "risk_velocity_minutes": 60, "risk_fishing_refusals": 3,
    "risk_fishing_days": 7, "risk_price_drop_bps": 500, "risk_rerecord_days": 7,
}


class Developer(db.Model):
    __tablename__ = "developers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    contact_name: Mapped[str | None] = mapped_column(String(50))
    contact_phone: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    projects: Mapped[list["Project"]] = relationship(back_populates="developer", order_by="Project.id")


class Project(db.Model):
    """A new-home project (楼盘) sold through a developer's sales office (案场),
    with its registration rules (DESIGN §2)."""
    __tablename__ = "projects"
    __table_args__ = (
        CheckConstraint("status IN ('on_sale', 'paused', 'sold_out', 'ended')", name="status_known"),
        CheckConstraint("protection_mode IN ('report_visit_deal', 'report_deal', 'visit_deal')",
                        name="protection_mode_known"),
        CheckConstraint("phone_disclosure IN ('full', 'first3_last4', 'first4_last3')", name="phone_disclosure_known"),
        CheckConstraint("price_min_cents >= 0 AND price_max_cents >= price_min_cents", name="price_range"),
        CheckConstraint("visit_window_hours > 0 AND deal_window_hours > 0", name="windows_positive"),
        CheckConstraint("daily_buyer_project_limit >= 1", name="daily_limit_positive"),
        CheckConstraint("reregister_cooldown_hours >= 0", name="cooldown_non_negative"),
        CheckConstraint("attribution_window_days >= 1", name="attribution_window_positive"),
        CheckConstraint("remind_before_hours >= 0", name="remind_non_negative"),
        CheckConstraint("cooperation_end IS NULL OR cooperation_start IS NULL OR cooperation_end >= cooperation_start",
                        name="cooperation_range"),
        CheckConstraint("daily_consultant_registration_cap_low_credit >= 0", name="low_credit_cap_non_negative"),
        *(CheckConstraint(f"{column} BETWEEN {low} AND {high}", name=f"{column}_range")
          for column, (low, high) in RISK_THRESHOLD_RANGES.items()),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    developer_id: Mapped[int] = mapped_column(ForeignKey("developers.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    city: Mapped[str] = mapped_column(String(50))
    district: Mapped[str | None] = mapped_column(String(50))
    address: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    price_min_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    price_max_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(20), default="on_sale")
    cooperation_start: Mapped[date | None] = mapped_column(Date)
    cooperation_end: Mapped[date | None] = mapped_column(Date)
    # Registration rules (报备规则).
    protection_mode: Mapped[str] = mapped_column(String(20), default="report_visit_deal",
                                                 server_default="report_visit_deal")
    visit_window_hours: Mapped[int] = mapped_column(Integer, default=30 * 24, server_default=str(30 * 24))
    deal_window_hours: Mapped[int] = mapped_column(Integer, default=90 * 24, server_default=str(90 * 24))
    phone_disclosure: Mapped[str] = mapped_column(String(20), default="first3_last4", server_default="first3_last4")
    # Tell a buyer by SMS when a consultant registers him (issue 15 §1): the project and the
    # consultant's public name, with a link to object.
    notify_buyer_on_registration: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    daily_buyer_project_limit: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    reregister_cooldown_hours: Mapped[int] = mapped_column(Integer, default=72, server_default="72")
    attribution_window_days: Mapped[int] = mapped_column(Integer, default=30, server_default="30")
    remind_before_hours: Mapped[int] = mapped_column(Integer, default=72, server_default="72")
    # Registrations a consultant whose credit is below the threshold may make here per day
    # (credit.rules.LOW_CREDIT_THRESHOLD); consultants above it are not capped.
    daily_consultant_registration_cap_low_credit: Mapped[int] = mapped_column(Integer, default=5, server_default="5")
    # Risk thresholds (风控阈值): a visit confirmed within N minutes of its registration (防截客);
    # a subscription within N hours of it; K consultants for one buyer within N days (撞单);
    # N registrations or attempts by one consultant within M minutes; N refusals for the
    # developer's own customers within M days; a price corrected down by N bps; a cancelled
    # unit recorded again for another buyer within N days.
    risk_visit_within_minutes: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    risk_deal_within_hours: Mapped[int] = mapped_column(Integer, default=24, server_default="24")
    risk_collision_consultants: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    risk_collision_days: Mapped[int] = mapped_column(Integer, default=7, server_default="7")
    risk_velocity_count: Mapped[int] = mapped_column(Integer, default=20, server_default="20")
    risk_velocity_minutes: Mapped[int] = mapped_column(Integer, default=60, server_default="60")
    risk_fishing_refusals: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    risk_fishing_days: Mapped[int] = mapped_column(Integer, default=7, server_default="7")
    risk_price_drop_bps: Mapped[int] = mapped_column(Integer, default=500, server_default="500")
    risk_rerecord_days: Mapped[int] = mapped_column(Integer, default=7, server_default="7")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    developer: Mapped[Developer] = relationship(back_populates="projects")


class ExistingCustomer(db.Model):
    """A buyer the developer already knows (案场老客户): cannot be registered to that project."""
    __tablename__ = "existing_customers"
    __table_args__ = (UniqueConstraint("project_id", "phone"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    phone: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(50))
    marked_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    marked_by = relationship("StaffUser")


class ProjectPenaltyTerms(db.Model):
    """A project's own penalty terms (违约金条款), stricter than the agreement's, from
    ``effective_at`` on. Versions are never edited: the terms in force when a buyer was
    registered apply to a dispute about him (disputes.terms)."""
    __tablename__ = "project_penalty_terms"
    __table_args__ = (
        UniqueConstraint("project_id", "effective_at"),
        CheckConstraint("penalty_fixed_cents >= 0", name="fixed_non_negative"),
        CheckConstraint("penalty_multiple_bps BETWEEN 0 AND 1000000", name="multiple_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    effective_at: Mapped[datetime] = mapped_column(UtcDateTime)
    penalty_fixed_cents: Mapped[int] = mapped_column(BigInteger)
    penalty_multiple_bps: Mapped[int] = mapped_column(Integer)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
