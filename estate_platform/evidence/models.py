from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import UtcDateTime, db


class EvidenceRecord(db.Model):
    """One event about a registration, visit, handoff (later: deal).

    Records of one subject form a chain: ``seq`` counts from 1 and each record
    stores the hash of the previous one, so altering any past record breaks
    verification. The database refuses UPDATE and DELETE.
    """
    __tablename__ = "evidence_records"
    __table_args__ = (
        UniqueConstraint("subject_type", "subject_id", "seq"),
        CheckConstraint("seq >= 1", name="seq_positive"),
        CheckConstraint("actor_type IN ('consultant', 'staff', 'buyer', 'system')", name="actor_type_known"),
        CheckConstraint("length(hash) = 64 AND length(prev_hash) = 64", name="hash_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(40))
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[str] = mapped_column(Text)  # canonical JSON, hashed byte for byte
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
