"""DESIGN §7.7: the evidence log verifies; altering any past record makes verification fail."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from datetime import timedelta

from sqlalchemy import text, update
from sqlalchemy.exc import IntegrityError

from estate_platform.db import db
from estate_platform.evidence import services as evidence
from estate_platform.evidence.models import EvidenceRecord
from tests.conftest import now

FIELDS = ["event", "actor_type", "actor_id", "payload", "created_at", "prev_hash", "seq"]


def build_chain(session, length):
    for i in range(length):
        evidence.append(session, "registration", 7, f"event{i}", evidence.Actor("staff", i), now=now(), step=i)
    session.flush()
    return evidence.chain(session, "registration", 7)


def test_a_fresh_chain_verifies_and_links_each_record_to_the_previous(session):
    chain = build_chain(session, 4)
    assert evidence.verify(chain) == (True, None)
    assert [r.seq for r in chain] == [1, 2, 3, 4]
    assert all(chain[i].prev_hash == chain[i - 1].hash for i in range(1, 4))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0, max_value=4), field=st.sampled_from(FIELDS))
def test_altering_any_field_of_any_record_breaks_verification(app, position, field):
    """Each example builds its chain and rolls it back, so the shared app is clean between examples."""
    with app.app_context():
        chain = build_chain(db.session, 5)
        record = chain[position]
        original = getattr(record, field)
        altered = {"event": "forged", "actor_type": "system", "actor_id": 999, "payload": '{"step":99}',
                   "created_at": original + timedelta(seconds=1) if field == "created_at" else None,
                   "prev_hash": "f" * 64, "seq": 42}[field]
        setattr(record, field, altered)
        ok, bad = evidence.verify(chain)
        db.session.rollback()
    assert (ok, bad) == (False, position + 1)


def test_the_database_refuses_to_alter_or_delete_evidence(app):
    with app.app_context():
        build_chain(db.session, 2)
        db.session.commit()
        with pytest.raises(IntegrityError, match="immutable"):
            db.session.execute(update(EvidenceRecord).values(payload="{}"))
            db.session.commit()
        db.session.rollback()
        with pytest.raises(IntegrityError, match="immutable"):
            db.session.execute(text("DELETE FROM evidence_records"))
            db.session.commit()
        db.session.rollback()
        assert evidence.verify(evidence.chain(db.session, "registration", 7)) == (True, None)


def test_two_appends_with_the_same_sequence_cannot_both_land(session):
    build_chain(session, 1)
    forged = EvidenceRecord(subject_type="registration", subject_id=7, seq=1, event="fork", actor_type="system",
                            payload="{}", created_at=now(), prev_hash=evidence.GENESIS, hash="a" * 64)
    session.add(forged)
    with pytest.raises(IntegrityError):
        session.flush()
