from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UtcDateTime, db, utcnow


class AgreementVersion(db.Model):
    """One published version of the agreement. Never edited: a change is a new version."""
    __tablename__ = "agreement_versions"
    __table_args__ = (
        CheckConstraint("version > 0", name="version_positive"),
        CheckConstraint("length(sha256) = 64", name="sha256_length"),
        CheckConstraint("penalty_fixed_cents >= 0", name="penalty_fixed_non_negative"),
        CheckConstraint("penalty_multiple_bps BETWEEN 0 AND 1000000", name="penalty_multiple_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(unique=True)
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    # The platform's default order-jumping penalty (DESIGN §2), rendered into ``text`` when
    # published, so the signed SHA-256 covers it: the higher of a fixed amount per case and
    # a multiple (bps) of the commission at stake. Versions before these terms carry 0 / 0.
    penalty_fixed_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    penalty_multiple_bps: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sha256: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))


class AgreementSignature(db.Model):
    """A consultant's signature on one version; the database refuses UPDATE and DELETE."""
    __tablename__ = "agreement_signatures"
    __table_args__ = (
        UniqueConstraint("consultant_id", "agreement_version_id"),
        CheckConstraint("length(text_sha256) = 64", name="sha256_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    consultant_id: Mapped[int] = mapped_column(ForeignKey("consultants.id"), index=True)
    agreement_version_id: Mapped[int] = mapped_column(ForeignKey("agreement_versions.id"))
    version: Mapped[int] = mapped_column()
    text_sha256: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ip: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(500))

    agreement: Mapped[AgreementVersion] = relationship()
