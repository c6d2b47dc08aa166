"""Taking personal data out of records written before the chain was pseudonymised
(证据链去标识化的保管记录, DESIGN §7.9, issue 15 §1).

Records written before migration f1b2c3d4e5a6 carry a buyer's full phone (``buyer_phone``
of registrations and handoffs, ``phone`` of existing customers) and an existing customer's
``name``. Re-anchoring (freezing the old chain and starting a new one) would leave those
numbers in the log for ever, so erasure would still be impossible. Instead the old payloads
are rewritten once, under a chain of custody:

* each affected record keeps its subject, seq, event, actor and time; only the personal
  fields become the masked phone and keyed hashes under the buyer's own key, exactly what
  new records carry (evidence.pseudonyms);
* every hash of the chain is recomputed, so the chain verifies as before;
* one ``pseudonymised`` record is appended to the chain (actor ``system``): the migration's
  revision, the rewritten seqs, each rewritten record's old hash and the old head hash, and
  whether the old chain verified before the rewrite (and where it broke if not). Whoever
  holds an evidence pack exported before the migration can match its hashes to the new
  records by seq; a chain that was already broken is not laundered: the custody record says so.

The database refuses UPDATE of evidence records; the migration lifts that refusal for its
own transaction only (``immutability_lifted``) and puts it back before it commits.
"""
from __future__ import annotations

import json
import re
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..identity.models import Buyer
from .models import EvidenceRecord
from .pseudonyms import buyer_facts, keyed_hash
from .services import GENESIS, SYSTEM, append, record_hash, verify

REVISION = "f1b2c3d4e5a6"
CHUNK = 500
_FULL_PHONE = re.compile(r"^\+861[3-9][0-9]{9}$")
# A legacy payload: a full E.164 phone under one of these keys (JSON text, canonical form).
_LEGACY_MARKERS = ('"buyer_phone":"+86', '"phone":"+86')


def is_legacy(payload: dict) -> bool:
    return any(isinstance(payload.get(key), str) and _FULL_PHONE.match(payload[key])
               for key in ("buyer_phone", "phone"))


def pseudonymise_payload(payload: dict, keys: dict[str, str | None]) -> dict:
    """The payload with the full phone (and an existing customer's name) replaced by the
    masked phone and keyed hashes; ``keys`` maps phones to their buyer's key."""
    data = dict(payload)
    for field in ("buyer_phone", "phone"):
        phone = data.get(field)
        if isinstance(phone, str) and _FULL_PHONE.match(phone):
            del data[field]
            name = data.pop("name", None) if field == "phone" else None
            key = keys.get(phone)
            data.update(buyer_facts(key, phone))
            if name and key:
                data["buyer_name_hash"] = keyed_hash(key, "name", name.strip())
    return data


def _canonical(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


@contextmanager
def immutability_lifted(connection: Connection) -> Iterator[None]:
    """Let this transaction rewrite evidence records (the migration only), then refuse again."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("ALTER TABLE evidence_records DISABLE TRIGGER evidence_records_immutable")
        yield
        connection.exec_driver_sql("ALTER TABLE evidence_records ENABLE TRIGGER evidence_records_immutable")
        return
    connection.exec_driver_sql("DROP TRIGGER IF EXISTS evidence_records_no_update")
    yield
    connection.exec_driver_sql("""
        CREATE TRIGGER evidence_records_no_update
        BEFORE UPDATE ON evidence_records
        BEGIN
            SELECT RAISE(ABORT, 'evidence_records rows are immutable (UPDATE refused)');
        END
    """)


def _legacy_subjects(session: Session) -> list[tuple[str, int]]:
    query = (select(EvidenceRecord.subject_type, EvidenceRecord.subject_id)
             .where(or_(*[EvidenceRecord.payload.contains(marker, autoescape=True) for marker in _LEGACY_MARKERS]))
             .group_by(EvidenceRecord.subject_type, EvidenceRecord.subject_id)
             .order_by(EvidenceRecord.subject_type, EvidenceRecord.subject_id))
    return [tuple(r) for r in session.execute(query).all()]


def rewrite_legacy(session: Session, *, now: datetime) -> int:
    """Rewrite every chain holding a legacy payload (see the module docstring); returns the
    number of chains rewritten. Run inside ``immutability_lifted``; safe to run twice."""
    subjects = _legacy_subjects(session)
    for start in range(0, len(subjects), CHUNK):
        _rewrite_chunk(session, subjects[start:start + CHUNK], now)
    return len(subjects)


def _rewrite_chunk(session: Session, subjects: list[tuple[str, int]], now: datetime) -> None:
    by_subject: dict[tuple[str, int], list[EvidenceRecord]] = {s: [] for s in subjects}
    types = {t for t, _ in subjects}
    ids = {i for _, i in subjects}
    for record in session.scalars(select(EvidenceRecord).where(EvidenceRecord.subject_type.in_(types),
                                                               EvidenceRecord.subject_id.in_(ids))
                                  .order_by(EvidenceRecord.seq)):
        if (record.subject_type, record.subject_id) in by_subject:
            by_subject[(record.subject_type, record.subject_id)].append(record)
    payloads = {r.id: json.loads(r.payload) for records in by_subject.values() for r in records}
    phones = {p[f] for p in payloads.values() for f in ("buyer_phone", "phone")
              if isinstance(p.get(f), str) and _FULL_PHONE.match(p[f])}
    keys = dict(session.execute(select(Buyer.phone, Buyer.evidence_key).where(Buyer.phone.in_(phones))).all())
    changes, custody = [], []
    for (subject_type, subject_id), records in by_subject.items():
        intact, broken_at = verify(records)
        old_head = records[-1].hash
        old_hashes, prev = {}, GENESIS
        for record in records:
            payload = payloads[record.id]
            body = _canonical(pseudonymise_payload(payload, keys)) if is_legacy(payload) else record.payload
            if body != record.payload:
                old_hashes[str(record.seq)] = record.hash
            digest = record_hash(prev, subject_type, subject_id, record.seq, record.event, record.actor_type,
                                 record.actor_id, body, record.created_at)
            if (body, prev, digest) != (record.payload, record.prev_hash, record.hash):
                changes.append({"rid": record.id, "payload": body, "prev_hash": prev, "hash": digest})
            prev = digest
        custody.append((subject_type, subject_id, dict(
            migration=REVISION, rewritten_seqs=sorted(int(s) for s in old_hashes), old_hashes=old_hashes,
            old_head_hash=old_head, old_chain_verified=intact,
            **({"old_chain_broken_at": broken_at} if not intact else {}))))
    if changes:
        session.connection().execute(
            update(EvidenceRecord.__table__).where(EvidenceRecord.__table__.c.id == bindparam("rid"))
            .values(payload=bindparam("payload"), prev_hash=bindparam("prev_hash"), hash=bindparam("hash")),
            changes)
    session.expire_all()
    at = now.astimezone(timezone.utc)
    for subject_type, subject_id, payload in custody:
        append(session, subject_type, subject_id, "pseudonymised", SYSTEM, now=at, **payload)
