"""The log of refused registration attempts and the risk queue (风控, DESIGN §4).

``RegistrationAttempt``: one row per registration refused by a business rule (who,
which project, which buyer — his id when the refusal knew him, else a keyed hash and
the masked phone, never the number in clear — which refusal code, when). Written by
``registrations.services.register`` in the refused request's own unit of work.

``RiskFlag``: what a nightly job found (``buyer_objection``: what a buyer said on the
registration SMS's link, raised at once by ``risk.objections``), with a score, its evidence
and a plain Chinese reason. ``(kind, subject_key)`` is unique: a re-run finds the same
subject and inserts nothing (the jobs insert with ON CONFLICT DO NOTHING).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UtcDateTime, db

FLAG_KINDS = ("anti_interception", "short_deal", "collision", "velocity", "fishing", "price_drop",
              "unit_rerecorded", "buyer_objection")
FLAG_STATUSES = ("open", "dismissed", "disputed")


class RegistrationAttempt(db.Model):
    """A registration refused by a business rule (已拒绝的报备尝试)."""
    __tablename__ = "registration_attempts"
    __table_args__ = (
        CheckConstraint("buyer_id IS NOT NULL OR buyer_phone_hash IS NOT NULL OR buyer_phone_masked IS NOT NULL",
                        name="buyer_named"),
        Index("ix_registration_attempts_consultant_id_created_at", "consultant_id", "created_at"),
        Index("ix_registration_attempts_project_id_created_at", "project_id", "created_at"),
        Index("ix_registration_attempts_buyer_id", "buyer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    consultant_id: Mapped[int] = mapped_column(ForeignKey("consultants.id"))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    buyer_id: Mapped[int | None] = mapped_column(ForeignKey("buyers.id"))
    # HMAC-SHA256 of the normalised phone under the app secret: attempts of one buyer match,
    # the number cannot be read back.
    buyer_phone_hash: Mapped[str | None] = mapped_column(String(64))
    buyer_phone_masked: Mapped[str | None] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RiskFlag(db.Model):
    """A pattern a nightly risk job found (风控预警), worked by operations: dismissed with a
    reason, or turned into a dispute (``disputes.services.open_dispute``)."""
    __tablename__ = "risk_flags"
    __table_args__ = (
        UniqueConstraint("kind", "subject_key"),
        CheckConstraint("kind IN ('anti_interception', 'short_deal', 'collision', 'velocity', 'fishing', "
                        "'price_drop', 'unit_rerecorded', 'buyer_objection')", name="kind_known"),
        CheckConstraint("status IN ('open', 'dismissed', 'disputed')", name="status_known"),
        CheckConstraint("score BETWEEN 0 AND 100", name="score_range"),
        CheckConstraint("status <> 'dismissed' OR (dismissed_at IS NOT NULL AND dismiss_reason IS NOT NULL)",
                        name="dismissal_explained"),
        CheckConstraint("status <> 'disputed' OR dispute_id IS NOT NULL", name="dispute_named"),
        Index("ix_risk_flags_status_occurred_at", "status", "occurred_at"),
        Index("ix_risk_flags_project_id_status", "project_id", "status"),
        Index("ix_risk_flags_consultant_id", "consultant_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    subject_key: Mapped[str] = mapped_column(String(120))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    # The consultant the pattern is about: the flagged one for the consultant-side kinds,
    # the one whose deal it is (the possible victim) for the developer-side kinds.
    consultant_id: Mapped[int | None] = mapped_column(ForeignKey("consultants.id"))
    buyer_id: Mapped[int | None] = mapped_column(ForeignKey("buyers.id"))
    registration_id: Mapped[int | None] = mapped_column(ForeignKey("registrations.id"))
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id"))
    score: Mapped[int] = mapped_column(Integer)
    reason_zh: Mapped[str] = mapped_column(String(500))
    evidence: Mapped[dict] = mapped_column(JSON)  # ids, times and counts behind the reason
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)  # when the pattern happened
    status: Mapped[str] = mapped_column(String(20), default="open")
    dismissed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    dismissed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    dismiss_reason: Mapped[str | None] = mapped_column(Text)
    dispute_id: Mapped[int | None] = mapped_column(ForeignKey("disputes.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    project = relationship("Project")
    consultant = relationship("Consultant")
    buyer = relationship("Buyer")
    dismissed_by = relationship("StaffUser")
