from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import UtcDateTime, db

REASON_CODES = ("dispute_upheld", "revisit_confirmed", "risk_flag", "tenure")


class CreditEvent(db.Model):
    """One change of a consultant's credit score (信用分), with its reason (append-only).

    ``ref`` names what caused it (``dispute:12``, ``revisit:45``, ``risk_flag:9``,
    ``tenure:3``) and is unique per consultant, so the same cause never counts twice,
    however often it is reported. ``delta`` is the change actually applied (the score
    is clamped to 0–100); ``score_after`` is the score it left. UPDATE and DELETE are
    refused by the database.
    """
    __tablename__ = "credit_events"
    __table_args__ = (
        UniqueConstraint("consultant_id", "ref"),
        CheckConstraint("reason_code IN ('dispute_upheld', 'revisit_confirmed', 'risk_flag', 'tenure')",
                        name="reason_code_known"),
        CheckConstraint("score_after BETWEEN 0 AND 100", name="score_range"),
        CheckConstraint("delta BETWEEN -100 AND 100", name="delta_range"),
        Index("ix_credit_events_consultant_id_created_at", "consultant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    consultant_id: Mapped[int] = mapped_column(ForeignKey("consultants.id"))
    delta: Mapped[int] = mapped_column(Integer)
    score_after: Mapped[int] = mapped_column(Integer)
    reason_code: Mapped[str] = mapped_column(String(30))
    reason_text: Mapped[str] = mapped_column(Text)
    ref: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
