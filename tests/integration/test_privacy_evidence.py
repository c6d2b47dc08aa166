"""DESIGN §7.9, issue 15 §1: the evidence log holds no personal data in clear, and a buyer's
data can be erased while every chain still verifies; old payloads are rewritten under a
chain of custody."""
from __future__ import annotations

import json
import re
from datetime import timedelta

from sqlalchemy import select

from estate_platform.db import db
from estate_platform.evidence import custody, pseudonyms
from estate_platform.evidence import services as evidence
from estate_platform.evidence.models import EvidenceRecord
from estate_platform.identity.models import Buyer
from estate_platform.registrations import services as registrations
from tests.conftest import now

PHONE_RUN = re.compile(r"(?<![0-9])(?:\+?86)?1[3-9][0-9]{9}(?![0-9])")
# A SHA-256 in hex (a custody record's old hashes) holds an 11-digit run such as 13912345678
# about once in a few hundred digests: digests are not phones, so they are left out of the scan.
HEX_DIGEST = re.compile(r"\b[0-9a-f]{64}\b")


def holds_phone(payload: str) -> bool:
    return PHONE_RUN.search(HEX_DIGEST.sub("", payload)) is not None
NAMES = ("周先生", "李女士", "王老板")


def all_chains_verify(app) -> dict[tuple[str, int], list[EvidenceRecord]]:
    with app.app_context():
        records = db.session.scalars(select(EvidenceRecord).order_by(EvidenceRecord.subject_type,
                                                                      EvidenceRecord.subject_id,
                                                                      EvidenceRecord.seq)).all()
        chains: dict[tuple[str, int], list] = {}
        for record in records:
            chains.setdefault((record.subject_type, record.subject_id), []).append(record)
        for subject, chain in chains.items():
            assert evidence.verify(chain) == (True, None), subject
        return chains


def scan(app) -> list[str]:
    """Every payload that holds something like a phone or one of the buyers' names."""
    with app.app_context():
        found = []
        for record in db.session.scalars(select(EvidenceRecord)):
            if holds_phone(record.payload) or any(name in record.payload for name in NAMES):
                found.append(f"{record.subject_type}#{record.subject_id} {record.event}: {record.payload}")
        return found


def busy_platform(world):
    """Registrations, a visit, a handoff, an existing customer and a deal, with names and phones."""
    consultant, colleague = world.operating_consultant(), world.operating_consultant()
    project = world.project()
    zhou, li, wang = world.next_buyer_phone(), world.next_buyer_phone(), world.next_buyer_phone()
    registered = world.register(consultant, project, zhou, name="周先生")
    booked = world.client.post(f"/api/mp/v1/registrations/{registered['id']}/visits", headers=consultant.auth,
                               json={"scheduled_at": (now() + timedelta(days=1)).isoformat()})
    assert booked.status_code == 201, booked.get_json()
    handed = world.client.post("/api/mp/v1/handoffs", headers=consultant.auth,
                               json={"project_id": project, "buyer_name": "李女士", "buyer_phone": li,
                                     "to_consultant_id": colleague.id})
    assert handed.status_code == 201, handed.get_json()
    marked = world.client.post(f"/admin/api/v1/projects/{project}/existing-customers",
                               headers=world.staff_auth("operations"), json={"phone": wang, "name": "王老板"})
    assert marked.status_code == 201, marked.get_json()
    unmarked = world.client.delete(f"/admin/api/v1/projects/{project}/existing-customers/{marked.get_json()['id']}",
                                   headers=world.staff_auth("operations"))
    assert unmarked.status_code == 204
    world.commission_rule(project)
    world.split_policy()
    world.deal(project, zhou)
    return project, zhou, li, wang


def test_no_evidence_payload_holds_a_phone_or_a_buyers_name(world, app):
    busy_platform(world)
    assert scan(app) == []
    chains = all_chains_verify(app)
    kinds = {subject_type for subject_type, _ in chains}
    assert {"registration", "visit", "handoff", "project", "deal"} <= kinds


def test_payloads_carry_the_masked_phone_and_a_hash_only_the_buyers_key_reproduces(world, app):
    _, zhou, _, _ = busy_platform(world)
    with app.app_context():
        buyer = db.session.scalar(select(Buyer).where(Buyer.phone == "+86" + zhou))
        record = db.session.scalar(select(EvidenceRecord).where(EvidenceRecord.event == "registered"))
        payload = json.loads(record.payload)
        assert payload["buyer_phone_masked"] == zhou[:3] + "****" + zhou[-4:]
        assert pseudonyms.matches(buyer.evidence_key, payload, phone=buyer.phone, name="周先生")
        assert not pseudonyms.matches(pseudonyms.new_buyer_key(), payload, phone=buyer.phone)
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", payload["buyer_phone_hash"])


def test_every_chain_verifies_before_and_after_an_erasure_and_the_key_is_gone(world, app, client):
    consultant = world.operating_consultant()
    project = world.project()
    phone = world.next_buyer_phone()
    registered = world.register(consultant, project, phone, name="周先生")
    client.post(f"/api/mp/v1/registrations/{registered['id']}/visits", headers=consultant.auth,
                json={"scheduled_at": (now() + timedelta(days=1)).isoformat()})
    with app.app_context():  # protection over: nothing holds the erasure back
        registrations.expire_due(db.session, now=now() + timedelta(days=400))
        db.session.commit()
        buyer_id = db.session.scalar(select(Buyer.id).where(Buyer.phone == "+86" + phone))
    before = {k: [(r.seq, r.hash) for r in v] for k, v in all_chains_verify(app).items()}
    ops = world.staff_auth("operations")
    asked = client.post(f"/admin/api/v1/buyers/{buyer_id}/erasure", json={"note": "客户来电"}, headers=ops)
    assert asked.status_code == 201, asked.get_json()
    approved = client.post(f"/admin/api/v1/erasure-requests/{asked.get_json()['id']}/approve", headers=ops)
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json()["status"] == "erased"
    after = all_chains_verify(app)
    assert {k: [(r.seq, r.hash) for r in v] for k, v in after.items()} == before  # not one record touched
    with app.app_context():
        buyer = db.session.get(Buyer, buyer_id)
        assert buyer.evidence_key is None and buyer.name is None and phone not in buyer.phone


def test_legacy_payloads_are_rewritten_under_a_chain_of_custody_and_still_verify(app):
    with app.app_context():
        session = db.session
        buyer = Buyer(phone="+8613912345678", name="周先生", created_at=now())
        session.add(buyer)
        session.flush()
        actor = evidence.Actor("consultant", 1)
        evidence.append(session, "registration", 901, "registered", actor, now=now(), buyer_id=buyer.id,
                        buyer_phone="+8613912345678", mode="report_deal")
        evidence.append(session, "registration", 901, "expired", evidence.SYSTEM, now=now(), reason="window")
        evidence.append(session, "project", 902, "existing_customer_marked", evidence.Actor("staff", 1), now=now(),
                        existing_customer_id=5, phone="+8613912345678", name="周先生")
        session.commit()
        old_head = evidence.chain(session, "registration", 901)[-1].hash
        with custody.immutability_lifted(session.connection()):
            assert custody.rewrite_legacy(session, now=now()) == 2
        session.commit()
        for subject in (("registration", 901), ("project", 902)):
            chain = evidence.chain(session, *subject)
            assert evidence.verify(chain) == (True, None)
            assert chain[-1].event == "pseudonymised"
            assert not any(holds_phone(r.payload) or "周先生" in r.payload for r in chain)
        chain = evidence.chain(session, "registration", 901)
        record = json.loads(chain[-1].payload)
        assert record["old_head_hash"] == old_head and record["old_chain_verified"] is True
        assert record["rewritten_seqs"] == [1] and record["migration"] == custody.REVISION
        assert pseudonyms.matches(buyer.evidence_key, json.loads(chain[0].payload), phone=buyer.phone)
        # Run again: nothing left to rewrite; and the database refuses updates again.
        with custody.immutability_lifted(session.connection()):
            assert custody.rewrite_legacy(session, now=now()) == 0
        session.commit()
        import pytest
        from sqlalchemy import update
        from sqlalchemy.exc import DatabaseError
        with pytest.raises(DatabaseError):
            session.execute(update(EvidenceRecord).values(payload="{}"))
            session.flush()
        session.rollback()
