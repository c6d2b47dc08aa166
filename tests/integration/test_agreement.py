"""The platform agreement: signing records what was signed; signatures never change."""
from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import IntegrityError

from estate_platform.contracts.models import AgreementSignature, AgreementVersion
from estate_platform.db import db


def test_signature_records_version_hash_time_ip_and_user_agent(world, client, app):
    consultant = world.apply()
    world.approve(consultant)
    published = world.publish_agreement()
    current = client.get("/api/mp/v1/agreement", headers=consultant.auth).get_json()
    assert current["sha256"] == hashlib.sha256(current["text"].encode("utf-8")).hexdigest() == published["sha256"]
    assert current["signed"] is False
    response = client.post("/api/mp/v1/agreement/sign", json={"version": current["version"], "sha256": current["sha256"]},
                           headers={**consultant.auth, "User-Agent": "MicroMessenger/8.0 miniProgram"},
                           environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 201
    signature = response.get_json()
    assert signature["version"] == current["version"] and signature["text_sha256"] == current["sha256"]
    assert signature["ip"] == "203.0.113.9" and signature["user_agent"] == "MicroMessenger/8.0 miniProgram"
    assert client.get("/api/mp/v1/agreement", headers=consultant.auth).get_json()["signed"] is True
    # signing again is a no-op, not a second row
    again = client.post("/api/mp/v1/agreement/sign", json={"version": current["version"], "sha256": current["sha256"]},
                        headers=consultant.auth)
    assert again.get_json()["id"] == signature["id"]


def test_signing_a_stale_version_or_altered_text_is_refused(world, client, counts):
    consultant = world.apply()
    first = world.publish_agreement()
    world.publish_agreement(text_="第二版协议：新增回访条款，顾问同意平台对客户进行回访核实。")
    before = counts()
    stale = client.post("/api/mp/v1/agreement/sign", json={"version": first["version"], "sha256": first["sha256"]},
                        headers=consultant.auth)
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "agreement_outdated"
    assert stale.get_json()["error"]["details"]["current_version"] == 2
    forged = client.post("/api/mp/v1/agreement/sign", json={"version": 2, "sha256": "0" * 64}, headers=consultant.auth)
    assert forged.status_code == 409
    assert counts() == before


def test_a_new_version_requires_signing_again(world, client):
    consultant = world.operating_consultant()
    assert client.get("/api/mp/v1/consultants/me/invite-card", headers=consultant.auth).status_code == 200
    world.publish_agreement(text_="第二版协议：违约金调整为应得佣金的三倍，请重新阅读并签署。")
    blocked = client.get("/api/mp/v1/consultants/me/invite-card", headers=consultant.auth)
    assert blocked.status_code == 403 and blocked.get_json()["error"]["code"] == "contract_unsigned"
    world.sign(consultant)
    assert client.get("/api/mp/v1/consultants/me/invite-card", headers=consultant.auth).status_code == 200
    versions = [s["version"] for s in client.get("/api/mp/v1/agreement/signatures", headers=consultant.auth).get_json()]
    assert versions == [2, 1]


def test_signing_before_any_agreement_is_published_is_a_clear_404(world, client):
    consultant = world.apply()
    response = client.get("/api/mp/v1/agreement", headers=consultant.auth)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "agreement_not_published"


@pytest.mark.parametrize("statement", [
    lambda: update(AgreementSignature).values(ip="1.2.3.4"),
    lambda: update(AgreementSignature).values(text_sha256="f" * 64),
    lambda: delete(AgreementSignature),
    lambda: update(AgreementVersion).values(text="偷偷改过的协议文本"),
    lambda: delete(AgreementVersion),
])
def test_the_database_refuses_to_change_or_delete_signatures_and_versions(world, app, statement):
    world.operating_consultant()
    with app.app_context():
        with pytest.raises(IntegrityError, match="immutable"):
            db.session.execute(statement())
            db.session.commit()
        db.session.rollback()
        assert db.session.execute(text("SELECT COUNT(*) FROM agreement_signatures")).scalar_one() == 1
        row = db.session.execute(text("SELECT ip, text_sha256 FROM agreement_signatures")).one()
        assert row.ip != "1.2.3.4" and row.text_sha256 != "f" * 64


def test_staff_publish_page_and_api_create_versions_in_order(world, client):
    first = world.publish_agreement()
    second = world.publish_agreement(text_="第二版协议正文，内容更新后须重新签署方可继续使用平台。")
    assert (first["version"], second["version"]) == (1, 2)
    listed = client.get("/admin/api/v1/agreements", headers=world.staff_auth("admin")).get_json()
    assert [a["version"] for a in listed] == [2, 1]
    short = client.post("/admin/api/v1/agreements", json={"title": "t", "text": "太短"}, headers=world.staff_auth("admin"))
    assert short.status_code == 422
