"""Issue 15 §1: erasure and access requests, retention, the buyer's registration SMS and
his objection (the evidence chain's part is in test_privacy_evidence.py)."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from estate_platform.config import ConfigError, load_config
from estate_platform.db import db
from estate_platform.identity.models import Buyer
from estate_platform.notifications.models import Notification
from estate_platform.privacy import retention
from estate_platform.privacy.models import PrivacyEvent, PrivacyRequest, RegistrationObjection
from estate_platform.registrations import services as registrations
from estate_platform.registrations.models import Registration
from tests.conftest import now

ADMIN = "/admin/api/v1"


def buyer_id_of(app, phone: str) -> int:
    with app.app_context():
        return db.session.scalar(select(Buyer.id).where(Buyer.phone == "+86" + phone))


def expire_everything(app):
    with app.app_context():
        registrations.expire_due(db.session, now=now() + timedelta(days=400))
        db.session.commit()


def ask_and_approve(world, client, buyer_id: int):
    ops = world.staff_auth("operations")
    asked = client.post(f"{ADMIN}/buyers/{buyer_id}/erasure", json={"note": "客户来电，已核实"}, headers=ops)
    assert asked.status_code == 201, asked.get_json()
    return client.post(f"{ADMIN}/erasure-requests/{asked.get_json()['id']}/approve", headers=ops)


def test_an_erasure_during_protection_is_refused_with_its_hold_and_the_refusal_is_kept(world, client, app):
    phone = world.next_buyer_phone()
    world.register(world.operating_consultant(), world.project(), phone, name="周先生")
    answer = ask_and_approve(world, client, buyer_id_of(app, phone))
    assert answer.status_code == 409
    error = answer.get_json()["error"]
    assert error["code"] == "erasure_held" and error["details"]["hold"] == "open_protection"
    with app.app_context():
        request = db.session.scalar(select(PrivacyRequest))
        assert (request.status, request.hold_code) == ("refused", "open_protection")
        assert [e.action for e in db.session.scalars(select(PrivacyEvent).order_by(PrivacyEvent.id))] == \
            ["requested", "refused"]
        assert db.session.scalar(select(Buyer.name).where(Buyer.id == request.buyer_id)) == "周先生"


def test_a_live_deal_holds_the_erasure_and_money_records_keep_the_buyers_id(world, client, app):
    project, phone = world.project(), world.next_buyer_phone()
    world.register(world.operating_consultant(), project, phone)
    world.commission_rule(project)
    world.split_policy()
    deal = world.deal(project, phone)
    expire_everything(app)
    answer = ask_and_approve(world, client, buyer_id_of(app, phone))
    assert answer.status_code == 409 and answer.get_json()["error"]["details"]["holds"][0] == "live_deal"
    assert deal["id"]


def test_approval_anonymises_the_buyers_name_and_phone_everywhere(world, client, app):
    consultant = world.operating_consultant()
    project, phone = world.project(), world.next_buyer_phone()
    world.register(consultant, project, phone, name="周先生", note="周先生想看三房")
    expire_everything(app)
    buyer_id = buyer_id_of(app, phone)
    answer = ask_and_approve(world, client, buyer_id)
    assert answer.status_code == 200 and answer.get_json()["status"] == "erased"
    with app.app_context():
        buyer = db.session.get(Buyer, buyer_id)
        assert buyer.name is None and buyer.erased_at is not None and buyer.evidence_key is None
        registration = db.session.scalar(select(Registration).where(Registration.buyer_id == buyer_id))
        assert registration.buyer_name == "已删除" and registration.note is None
        masked = phone[:3] + "****" + phone[-4:]
        for body in db.session.scalars(select(Notification.body).where(Notification.consultant_id == consultant.id)):
            assert "周先生" not in body and masked not in body and phone not in body
    listed = client.get("/api/mp/v1/registrations", headers=consultant.auth).get_json()["items"]
    assert phone not in json.dumps(listed, ensure_ascii=False) and "周先生" not in json.dumps(listed, ensure_ascii=False)
    again = client.post(f"{ADMIN}/buyers/{buyer_id}/erasure", json={}, headers=world.staff_auth("operations"))
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "buyer_already_erased"


def test_operations_reject_a_request_with_a_reason_and_a_closed_request_cannot_be_decided_again(world, client, app):
    phone = world.next_buyer_phone()
    world.register(world.operating_consultant(), world.project(), phone)
    ops = world.staff_auth("operations")
    asked = client.post(f"{ADMIN}/buyers/{buyer_id_of(app, phone)}/erasure", json={}, headers=ops).get_json()
    second = client.post(f"{ADMIN}/buyers/{buyer_id_of(app, phone)}/erasure", json={}, headers=ops)
    assert second.status_code == 409 and second.get_json()["error"]["code"] == "erasure_request_pending"
    rejected = client.post(f"{ADMIN}/erasure-requests/{asked['id']}/reject", json={"note": "无法核实身份"}, headers=ops)
    assert rejected.status_code == 200 and rejected.get_json()["status"] == "rejected"
    again = client.post(f"{ADMIN}/erasure-requests/{asked['id']}/approve", headers=ops)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "erasure_request_closed"
    listed = client.get(f"{ADMIN}/erasure-requests?status=rejected", headers=ops).get_json()
    assert [r["id"] for r in listed["items"]] == [asked["id"]]
    assert client.post(f"{ADMIN}/buyers/{buyer_id_of(app, phone)}/erasure", json={},
                       headers=world.staff_auth("finance")).status_code == 403


def test_the_access_copy_holds_exactly_the_buyers_own_data(world, client, app):
    consultant = world.operating_consultant()
    project = world.project()
    mine, theirs = world.next_buyer_phone(), world.next_buyer_phone()
    world.register(consultant, project, mine, name="周先生")
    world.register(consultant, project, theirs, name="李女士")
    buyer_id = buyer_id_of(app, mine)
    copy = client.get(f"{ADMIN}/buyers/{buyer_id}/data-export", headers=world.staff_auth("operations"))
    assert copy.status_code == 200
    data = copy.get_json()
    text = json.dumps(data, ensure_ascii=False)
    assert data["buyer"]["phone"] == mine and data["buyer"]["id"] == buyer_id
    assert [r["name_given"] for r in data["registrations"]] == ["周先生"]
    assert [c["name_given"] for c in data["client_cards"]] == ["周先生"]
    assert theirs not in text and "李女士" not in text and consultant.openid not in text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PrivacyEvent)
                                 .where(PrivacyEvent.action == "exported")) == 1


def test_the_buyer_downloads_his_data_and_asks_for_erasure_on_the_h5_page(world, client, app):
    phone = world.next_buyer_phone()
    world.register(world.operating_consultant(), world.project(), phone, name="周先生")
    sms = app.extensions["adapters"].sms

    def code():
        assert client.post("/api/mp/v1/auth/sms/send", json={"phone": phone}).status_code == 200
        return sms.last_code("+86" + phone)

    assert client.get("/p/").status_code == 200
    wrong = client.post("/p/", data={"phone": phone, "sms_code": "000000", "action": "export"})
    assert wrong.status_code in (400, 401, 422) and "验证码" in wrong.get_data(as_text=True)
    download = client.post("/p/", data={"phone": phone, "sms_code": code(), "action": "export"})
    assert download.status_code == 200 and download.mimetype == "application/json"
    assert json.loads(download.get_data(as_text=True))["registrations"][0]["name_given"] == "周先生"
    with app.app_context():  # the SMS limits allow the next code a minute later
        from estate_platform.identity.models import SmsCode
        for row in db.session.scalars(select(SmsCode)):
            row.created_at -= timedelta(minutes=5)
        db.session.commit()
    asked = client.post("/p/", data={"phone": phone, "sms_code": code(), "action": "erase"})
    page = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "删除申请已提交" in page and "仍在报备保护期内" in page
    with app.app_context():
        request = db.session.scalar(select(PrivacyRequest))
        assert (request.channel, request.status) == ("h5", "pending")


def test_the_buyer_is_told_by_sms_and_may_object_once(world, client, app):
    consultant = world.operating_consultant(name="张三")
    project = world.project(name="紫金府")
    phone = world.next_buyer_phone()
    registered = world.register(consultant, project, phone)
    sms = app.extensions["adapters"].sms
    sent = [n for n in sms.notices if n[0] == "+86" + phone]
    assert len(sent) == 1
    _, template, params = sent[0]
    assert params["project"] == "紫金府" and params["consultant"] == "张顾问" and "张三" not in json.dumps(params)
    with app.app_context():
        assert db.session.get(Registration, registered["id"]).buyer_notice == "sent"
    path = params["link"].split("5000", 1)[1]
    page = client.get(path)
    assert page.status_code == 200 and "紫金府" in page.get_data(as_text=True)
    objected = client.post(path, data={"reason": "我不认识这位顾问"})
    assert objected.status_code == 200 and "异议已提交" in objected.get_data(as_text=True)
    twice = client.post(path, data={"reason": "再说一次"})
    assert twice.status_code == 409
    assert client.get("/p/o/forged-token").status_code == 404
    listed = client.get(f"{ADMIN}/registration-objections", headers=world.staff_auth("operations")).get_json()
    assert [(o["registration_id"], o["reason"]) for o in listed["items"]] == [(registered["id"], "我不认识这位顾问")]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(RegistrationObjection)) == 1


def test_a_project_that_does_not_tell_buyers_sends_nothing(world, app):
    project = world.project(notify_buyer_on_registration=False)
    phone = world.next_buyer_phone()
    registered = world.register(world.operating_consultant(), project, phone)
    assert not [n for n in app.extensions["adapters"].sms.notices if n[0] == "+86" + phone]
    with app.app_context():
        assert db.session.get(Registration, registered["id"]).buyer_notice is None


def test_retention_anonymises_buyers_without_deal_or_open_registration_in_batches_and_once(world, app):
    consultant = world.operating_consultant()
    project = world.project()
    idle = [world.next_buyer_phone() for _ in range(3)]
    for phone in idle:
        world.register(consultant, project, phone)
    kept = world.next_buyer_phone()
    world.register(consultant, project, kept)
    world.commission_rule(project)
    world.split_policy()
    world.deal(project, kept)
    expire_everything(app)
    idle_ids = {buyer_id_of(app, p) for p in idle}
    settings = retention.RetentionSettings(retention_days=365, protection_window_max_days=120,
                                           sales_list_delay_days=90)
    later = now() + timedelta(days=400 + 366)
    with app.app_context():
        assert retention.anonymise_due(db.session, now=now() + timedelta(days=30), settings=settings) == 0
        assert retention.anonymise_due(db.session, now=later, settings=settings, limit=2) == 2
        assert retention.anonymise_due(db.session, now=later, settings=settings, limit=2) == 1
        assert retention.anonymise_due(db.session, now=later, settings=settings, limit=2) == 0
        db.session.commit()
        erased = {b.id for b in db.session.scalars(select(Buyer).where(Buyer.erased_at.is_not(None)))}
        assert erased == idle_ids
        assert db.session.scalar(select(func.count()).select_from(PrivacyRequest)
                                 .where(PrivacyRequest.channel == "retention")) == 3


def test_a_retention_period_shorter_than_reconciliation_is_refused_at_start():
    with pytest.raises(ConfigError, match="BUYER_RETENTION_DAYS"):
        load_config({"BUYER_RETENTION_DAYS": "200", "PROTECTION_WINDOW_MAX_DAYS": "120", "SALES_LIST_DELAY_DAYS": "90"})
    assert load_config({"BUYER_RETENTION_DAYS": "210"})["BUYER_RETENTION_DAYS"] == 210


def test_the_job_never_uses_a_period_shorter_than_a_projects_real_window(world, app):
    world.project(visit_window_hours=24 * 300, deal_window_hours=24 * 300)
    settings = retention.RetentionSettings(retention_days=365, protection_window_max_days=120,
                                           sales_list_delay_days=90)
    with app.app_context():
        assert retention.effective_days(db.session, settings) == 600 + 90
