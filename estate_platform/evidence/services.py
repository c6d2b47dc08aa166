"""Appending to and verifying the evidence chain."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import EvidenceRecord

GENESIS = "0" * 64


@dataclass(frozen=True)
class Actor:
    type: str  # consultant | staff | buyer | system
    id: int | None = None


SYSTEM = Actor("system")


def _canonical(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def _instant(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_hash(prev_hash: str, subject_type: str, subject_id: int, seq: int, event: str, actor_type: str,
                actor_id: int | None, payload: str, created_at: datetime) -> str:
    material = "|".join([prev_hash, subject_type, str(subject_id), str(seq), event, actor_type,
                         "" if actor_id is None else str(actor_id), payload, _instant(created_at)])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def append(session: Session, subject_type: str, subject_id: int, event: str, actor: Actor, *,
           now: datetime, first: bool = False, **payload) -> dict:
    """Append an event to the subject's chain. A concurrent append to the same subject
    collides on (subject_type, subject_id, seq) and is refused by the database.
    ``first``: the subject was inserted in this transaction, so its chain is empty and the
    look-up of the last record is skipped (the registration path's statement budget).
    Returns the record's values."""
    last = None if first else session.scalar(
        select(EvidenceRecord).where(EvidenceRecord.subject_type == subject_type,
                                     EvidenceRecord.subject_id == subject_id)
        .order_by(EvidenceRecord.seq.desc()).limit(1))
    values = record_values(subject_type, subject_id, event, actor, now=now,
                           seq=(last.seq + 1) if last else 1, prev_hash=last.hash if last else GENESIS, **payload)
    # Pending ORM changes go first (callers rely on the append flushing them, as it always did);
    # the record itself is one Core INSERT with nothing to load back (issue 16 §1).
    session.flush()
    session.connection().execute(_INSERT, values)
    return values


def record_values(subject_type: str, subject_id: int, event: str, actor: Actor, *, now: datetime, seq: int = 1,
                  prev_hash: str = GENESIS, **payload) -> dict:
    """The columns of the record that follows ``prev_hash`` as number ``seq`` (by default the
    first of its subject's chain), hashed: for a caller that writes it with other rows in one
    statement (the registration path)."""
    body = _canonical(payload)
    # Microsecond precision survives every database round trip.
    created_at = now.astimezone(timezone.utc)
    return {"subject_type": subject_type, "subject_id": subject_id, "seq": seq, "event": event,
            "actor_type": actor.type, "actor_id": actor.id, "payload": body, "created_at": created_at,
            "prev_hash": prev_hash,
            "hash": record_hash(prev_hash, subject_type, subject_id, seq, event, actor.type, actor.id, body,
                                created_at)}


_INSERT = EvidenceRecord.__table__.insert()


def chain(session: Session, subject_type: str, subject_id: int) -> list[EvidenceRecord]:
    return list(session.scalars(select(EvidenceRecord).where(EvidenceRecord.subject_type == subject_type,
                                                             EvidenceRecord.subject_id == subject_id)
                                .order_by(EvidenceRecord.seq)))


def verify(records: list[EvidenceRecord]) -> tuple[bool, int | None]:
    """(True, None) when the chain is intact, else (False, n) for the n-th record (from 1), the first bad one."""
    prev = GENESIS
    for expected_seq, record in enumerate(records, start=1):
        if record.seq != expected_seq or record.prev_hash != prev:
            return False, expected_seq
        digest = record_hash(record.prev_hash, record.subject_type, record.subject_id, record.seq, record.event,
                             record.actor_type, record.actor_id, record.payload, record.created_at)
        if digest != record.hash:
            return False, expected_seq
        prev = record.hash
    return True, None
