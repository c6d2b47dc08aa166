"""The platform agreement: signing records what was signed; signatures never change."""
from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import IntegrityError

from estate_platform.contracts import services as contracts
from estate_platform.contracts.models import AgreementSignature, AgreementVersion
from estate_platform.db import db, utcnow
from estate_platform.errors import ValidationFailed
from tests.conftest import AGREEMENT_TEXT


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


# --- publishing refuses what would make everyone sign for nothing, or hide text (issue 14, defect 8) ---

SECOND_TEXT = "第二版协议：违约金调整为应得佣金的三倍，请重新阅读并签署。"


def publish(client, world, title="顾问合作协议", text_=AGREEMENT_TEXT):
    return client.post("/admin/api/v1/agreements", json={"title": title, "text": text_},
                       headers=world.staff_auth("admin"))


@pytest.mark.parametrize("title,text_", [
    ("顾问合作协议", AGREEMENT_TEXT),
    ("顾问合作协议（修订）", AGREEMENT_TEXT),  # the title is not what a consultant signs
    ("顾问合作协议", AGREEMENT_TEXT.replace("；", "；\r\n")),  # vs. the LF text below: line breaks as a browser sends
])
def test_publishing_the_current_text_again_is_refused_and_nobody_must_sign_again(world, client, counts,
                                                                                 title, text_):
    world.publish_agreement(text_.replace("\r\n", "\n"))
    consultant = world.operating_consultant()
    before = counts()
    response = publish(client, world, title, text_)
    assert response.status_code == 409, response.get_json()
    body = response.get_json()["error"]
    assert body["code"] == "agreement_unchanged" and body["details"]["current_version"] == 1
    assert counts() == before
    assert client.get("/api/mp/v1/consultants/me/invite-card", headers=consultant.auth).status_code == 200


def test_a_version_whose_terms_change_is_published_and_the_old_text_may_come_back(world, client):
    first = world.publish_agreement()
    second = world.publish_agreement(text_=SECOND_TEXT)
    assert second["version"] == 2 and second["sha256"] != first["sha256"]
    back = world.publish_agreement()  # going back to version 1's terms is a change from version 2
    assert back["version"] == 3 and back["sha256"] == first["sha256"]
    again = publish(client, world)
    assert again.status_code == 409 and again.get_json()["error"]["details"]["current_version"] == 3


def test_line_breaks_are_stored_as_lf_and_the_fingerprint_is_of_the_stored_text(world, client):
    published = world.publish_agreement("第一条\r\n入驻免费。\r第二条\r\n报备真实，跑单须支付违约金，按楼盘规则执行。")
    assert published["text"] == "第一条\n入驻免费。\n第二条\n报备真实，跑单须支付违约金，按楼盘规则执行。"
    assert published["sha256"] == hashlib.sha256(published["text"].encode("utf-8")).hexdigest()


@pytest.mark.parametrize("field,value", [
    ("title", "顾问合作协议\n第二行"), ("title", "顾问\t合作协议"), ("title", "顾问合作协议\x07"),
    ("title", "顾问合作协议\x85"), ("title", "顾问合作协议\u2028"),
    ("text", AGREEMENT_TEXT + "\x00"), ("text", AGREEMENT_TEXT + "\x1b[31m"), ("text", "\x7f" + AGREEMENT_TEXT),
    ("text", AGREEMENT_TEXT + "\x9b"),
])
def test_control_characters_are_refused_over_the_api_with_the_field_named(world, client, counts, field, value):
    world.publish_agreement()
    before = counts()
    response = publish(client, world, **{"title": "顾问合作协议", "text_": SECOND_TEXT,
                                          {"title": "title", "text": "text_"}[field]: value})
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["details"]["fields"]
    assert counts() == before


@pytest.mark.parametrize("title,text_,field", [
    ("顾问合作协议\n", SECOND_TEXT, "title"), ("\t顾问合作协议", SECOND_TEXT, "title"),
    ("顾问合作协议\u2029", SECOND_TEXT, "title"), ("顾问\ud800合作协议", SECOND_TEXT, "title"),
    ("顾问合作协议", SECOND_TEXT + "\x00", "text"), ("顾问合作协议", SECOND_TEXT + "\x0b", "text"),
    ("顾问合作协议", SECOND_TEXT + "\x0c", "text"), ("顾问合作协议", SECOND_TEXT + "\ud800", "text"),
    ("顾问合作协议", SECOND_TEXT + "\u0085", "text"),
])
def test_the_core_refuses_control_characters_whoever_publishes(session, title, text_, field):
    """Pages and scripts call the service directly: it refuses on its own, not only the web layer."""
    with pytest.raises(ValidationFailed) as refused:
        contracts.publish_agreement(session, title=title, text=text_, staff_id=None, now=utcnow())
    assert set(refused.value.details["fields"]) == {field}
    assert contracts.list_agreements(session) == []


def test_the_core_keeps_newlines_and_tabs_in_the_text_and_refuses_an_unchanged_text(session):
    text_ = "第一条\t入驻免费。\n第二条\t报备真实，跑单须支付违约金。\u2028（完）"
    first = contracts.publish_agreement(session, title="顾问合作协议", text=text_, staff_id=None, now=utcnow())
    assert first.text == text_ and first.sha256 == contracts.text_sha256(text_)
    with pytest.raises(contracts.AgreementUnchanged):
        contracts.publish_agreement(session, title="另一个标题", text=text_.replace("\n", "\r\n"), staff_id=None,
                                    now=utcnow())
    assert [a.version for a in contracts.list_agreements(session)] == [1]


def test_the_publish_page_refuses_the_current_text_with_a_clear_message(world, client, app):
    world.publish_agreement()
    staff_id, username, password = world.staff("admin")
    login = client.get("/admin/login").get_data(as_text=True)
    assert client.post("/admin/login", data={"username": username, "password": password,
                                             "csrf_token": csrf_from(login)}).status_code == 302
    page = client.get("/admin/agreements").get_data(as_text=True)
    response = client.post("/admin/agreements", data={"title": "顾问合作协议", "text": AGREEMENT_TEXT,
                                                      "csrf_token": csrf_from(page)})
    assert response.status_code == 409
    assert contracts.AgreementUnchanged.message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(text("SELECT COUNT(*) FROM agreement_versions")).scalar_one() == 1


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "form has no CSRF token"
    return match.group(1)
