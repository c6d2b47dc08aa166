"""The notifications consultants expect (issue 15 §3), one test per kind: the event tells the
right consultant, in his inbox and as a WeChat subscribe message sent with the template
that kind's ``WECHAT_TEMPLATE_<KIND>`` setting names (the real adapter, HTTP intercepted)."""
from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
import responses
from sqlalchemy import select

from estate_platform.adapters.notify import build_sender
from estate_platform.config import load_config
from estate_platform.db import db
from estate_platform.identity.models import StaffUser
from estate_platform.notifications.models import Notification
from estate_platform.notifications.services import KINDS

MP = "/api/mp/v1"
ADMIN = "/admin/api/v1"
BASE = "https://wx.example.test"
ISSUE_15_KINDS = ("consultant_approved", "consultant_rejected", "consultant_suspended", "consultant_reinstated",
                  "consultant_terminated", "agreement_published", "handoff_withdrawn", "deal_recorded",
                  "deal_cancelled", "deal_repriced", "deal_change_requested", "deal_change_rejected")


def real_sender(app):
    """The adapter ``NOTIFY_ADAPTER=http`` builds, with one template setting per kind."""
    env = {"NOTIFY_ADAPTER": "http", "WECHAT_APP_ID": "wx-app", "WECHAT_APP_SECRET": "wx-secret",
           "WECHAT_API_BASE": BASE, **{f"WECHAT_TEMPLATE_{kind.upper()}": f"tmpl-{kind}" for kind in ISSUE_15_KINDS}}
    sender = build_sender(load_config(env))
    adapters = app.extensions["adapters"]
    app.extensions["adapters"] = SimpleNamespace(**{**vars(adapters), "notify": sender})


def staff_action(client, world, consultant, action: str, reason: str | None = None):
    response = client.post(f"{ADMIN}/consultants/{consultant.id}/{action}", json={"reason": reason},
                           headers=world.staff_auth("operations"))
    assert response.status_code == 200, response.get_json()


def deal_of(world, **rule):
    consultant = world.operating_consultant(name="顾问甲")
    project = world.project(name="金陵府")
    world.commission_rule(project, **rule)
    world.split_policy()
    phone = world.register(consultant, project, name="周先生")["buyer_phone"]
    return consultant, project, phone


def site_staff_deal(world, app):
    consultant = world.operating_consultant(name="顾问甲")
    headers = world.staff_auth("site_staff")
    with app.app_context():
        developer_id = db.session.scalar(select(StaffUser.developer_id).where(StaffUser.role == "site_staff"))
    project = world.project(developer_id=developer_id, name="金陵府")
    world.commission_rule(project)
    world.split_policy()
    phone = world.register(consultant, project, name="周先生")["buyer_phone"]
    deal = world.deal(project, phone, role="site_staff", unit="8-808")
    request = world.client.post(f"{ADMIN}/deals/{deal['id']}/cancel", json={"reason": "客户退房"}, headers=headers)
    assert request.status_code == 202, request.get_json()
    return consultant, request.get_json()


# Each trigger makes the event happen and answers (the consultant told, words his message carries).

def approved(world, client, app):
    consultant = world.apply()
    staff_action(client, world, consultant, "approve")
    return consultant, "签署平台协议"


def rejected(world, client, app):
    consultant = world.apply()
    staff_action(client, world, consultant, "reject", "身份证明材料不清晰")
    return consultant, "身份证明材料不清晰"


def suspended(world, client, app):
    consultant = world.operating_consultant()
    staff_action(client, world, consultant, "suspend", "涉嫌跑单调查中")
    return consultant, "涉嫌跑单调查中"


def reinstated(world, client, app):
    consultant = world.operating_consultant()
    staff_action(client, world, consultant, "suspend", "调查中")
    staff_action(client, world, consultant, "reinstate")
    return consultant, "已恢复"


def terminated(world, client, app):
    consultant = world.operating_consultant()
    staff_action(client, world, consultant, "terminate", "严重违约")
    return consultant, "严重违约"


def agreement_published(world, client, app):
    from estate_platform.notifications.tasks import redeliver_pending_task
    consultant = world.operating_consultant()
    waiting = world.apply()  # not active: nothing to sign yet
    version = world.publish_agreement("第二版平台顾问合作协议：报备须真实，跑单须支付违约金。" * 3, title="顾问合作协议（第二版）")
    with app.app_context():
        rows = db.session.scalars(select(Notification).where(Notification.kind == "agreement_published")).all()
        assert {row.consultant_id for row in rows} == {consultant.id}
        assert waiting.id not in {row.consultant_id for row in rows}
        # Written in one statement for everyone; the redelivery sweep sends them (past its grace).
        for row in rows:
            row.created_at -= timedelta(minutes=5)
        db.session.commit()
    assert redeliver_pending_task.delay().get() >= 1
    return consultant, f"第 {version['version']} 版"


def handoff_withdrawn(world, client, app):
    sender, receiver = world.operating_consultant(name="转出顾问"), world.operating_consultant(name="接收顾问")
    offered = client.post(f"{MP}/handoffs", headers=sender.auth, json={
        "project_id": world.project(), "buyer_name": "周先生", "buyer_phone": world.next_buyer_phone(),
        "to_consultant_id": receiver.id})
    assert offered.status_code == 201, offered.get_json()
    assert client.post(f"{MP}/handoffs/{offered.get_json()['id']}/cancel", headers=sender.auth).status_code == 200
    return receiver, "已撤回"


def deal_recorded(world, client, app):
    consultant, project, phone = deal_of(world)
    world.deal(project, phone, unit="1-101")
    return consultant, "1-101"


def deal_cancelled(world, client, app):
    consultant, project, phone = deal_of(world)
    deal = world.deal(project, phone, unit="1-102")
    response = client.post(f"{ADMIN}/deals/{deal['id']}/cancel", json={"reason": "客户贷款未获批"},
                           headers=world.staff_auth("finance"))
    assert response.status_code == 200, response.get_json()
    return consultant, "客户贷款未获批"


def deal_repriced(world, client, app):
    consultant, project, phone = deal_of(world)
    deal = world.deal(project, phone, unit="1-103")
    response = client.post(f"{ADMIN}/deals/{deal['id']}/price", json={"price_cents": 250_000_000, "reason": "优惠折扣"},
                           headers=world.staff_auth("finance"))
    assert response.status_code == 200, response.get_json()
    return consultant, "优惠折扣"


def deal_change_requested(world, client, app):
    consultant, _ = site_staff_deal(world, app)
    return consultant, "可提出异议"


def deal_change_rejected(world, client, app):
    consultant, request = site_staff_deal(world, app)
    response = client.post(f"{ADMIN}/deal-requests/{request['id']}/reject", json={"note": "缺少退房协议"},
                           headers=world.staff_auth("operations"))
    assert response.status_code == 200, response.get_json()
    return consultant, "缺少退房协议"


TRIGGERS = {"consultant_approved": approved, "consultant_rejected": rejected, "consultant_suspended": suspended,
            "consultant_reinstated": reinstated, "consultant_terminated": terminated,
            "agreement_published": agreement_published, "handoff_withdrawn": handoff_withdrawn,
            "deal_recorded": deal_recorded, "deal_cancelled": deal_cancelled, "deal_repriced": deal_repriced,
            "deal_change_requested": deal_change_requested, "deal_change_rejected": deal_change_rejected}


def test_every_kind_of_the_issue_has_a_title_and_a_trigger():
    assert set(TRIGGERS) == set(ISSUE_15_KINDS) and set(ISSUE_15_KINDS) <= set(KINDS)


@pytest.mark.parametrize("kind", ISSUE_15_KINDS)
def test_the_consultant_is_told_with_the_kinds_own_template(kind, world, client, app):
    real_sender(app)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.get(f"{BASE}/cgi-bin/token", json={"access_token": "tok", "expires_in": 7200})
        mocked.post(f"{BASE}/cgi-bin/message/subscribe/send", json={"errcode": 0, "errmsg": "ok"})
        consultant, words = TRIGGERS[kind](world, client, app)
        messages = [json.loads(call.request.body) for call in mocked.calls
                    if call.request.url.startswith(f"{BASE}/cgi-bin/message/subscribe/send")]

    sent = [m for m in messages if m["template_id"] == f"tmpl-{kind}"]
    assert sent and all(m["touser"] == consultant.openid for m in sent)
    assert all(m["data"]["thing1"] == {"value": KINDS[kind]} for m in sent)
    inbox = client.get(f"{MP}/notifications", headers=consultant.auth).get_json()["items"]
    [note] = [n for n in inbox if n["kind"] == kind and words in n["body"]]
    assert note["title"] == KINDS[kind]
    with app.app_context():
        row = db.session.get(Notification, note["id"])
        assert row.delivered_at is not None and row.delivery_error is None
