"""Notifications: the consultant's inbox over HTTP, and delivery as WeChat subscribe
messages through the notification adapter (local and real, HTTP intercepted)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import responses
from sqlalchemy import create_engine, text

from estate_platform.adapters.notify import (SENT, USER_NOT_SUBSCRIBED, HttpWechatSubscribeSender,
                                             LocalNotificationSender, NotificationUnavailable)

INBOX = "/api/mp/v1/notifications"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def use_sender(app, sender):
    """Give the app this notification adapter (as build_adapters does from NOTIFY_ADAPTER)."""
    adapters = app.extensions["adapters"]
    app.extensions["adapters"] = SimpleNamespace(**{**vars(adapters), "notify": sender})
    return sender


@pytest.fixture
def outbox(app) -> LocalNotificationSender:
    return use_sender(app, LocalNotificationSender())


class ScriptedSender:
    """Answers with the given outcomes in turn (an exception is raised), then SENT."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.sent: list[dict] = []

    def send(self, openid, kind, title, body, page, *, at=None):
        self.sent.append({"openid": openid, "kind": kind, "page": page})
        outcome = self.outcomes.pop(0) if self.outcomes else SENT
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def operating(world, **kwargs):
    """An operating consultant whose inbox starts empty: the notices of his own approval and of
    the agreement he signed (issue 15 §3) are set aside, so each test sees only what it caused."""
    from estate_platform.db import db
    from estate_platform.notifications.models import Notification
    consultant = world.operating_consultant(**kwargs)
    with world.app.app_context():
        db.session.query(Notification).filter_by(consultant_id=consultant.id).delete()
        db.session.commit()
    sender = world.app.extensions["adapters"].notify
    for sent in (getattr(sender, "outbox", None), getattr(sender, "sent", None)):
        if isinstance(sent, list):
            sent.clear()
    return consultant


def inbox_of(client, consultant, **query) -> dict:
    response = client.get(INBOX, query_string=query, headers=consultant.auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def rows(app, consultant_id: int) -> list:
    from estate_platform.db import db
    from estate_platform.notifications.models import Notification
    with app.app_context():
        found = db.session.query(Notification).filter_by(consultant_id=consultant_id).order_by(Notification.id).all()
        db.session.expunge_all()
        return found


def backdate(app, notification_id: int, minutes: int) -> None:
    from estate_platform.db import db
    from estate_platform.notifications.models import Notification
    with app.app_context():
        notification = db.session.get(Notification, notification_id)
        notification.created_at = notification.created_at - timedelta(minutes=minutes)
        db.session.commit()


# --- the inbox -------------------------------------------------------------------------------------

def test_a_registration_is_announced_in_the_inbox(world, client, outbox):
    consultant = operating(world)
    project_id = world.project(name="金陵府")
    registration = world.register(consultant, project_id, name="周先生")

    inbox = inbox_of(client, consultant)

    assert inbox["total"] == 1 and inbox["unread"] == 1
    [notification] = inbox["items"]
    assert notification["kind"] == "registration_accepted" and notification["title"] == "报备成功"
    assert "周先生" in notification["body"] and "金陵府" in notification["body"]
    assert notification["payload"] == {"registration_id": registration["id"]}
    assert notification["read"] is False and notification["read_at"] is None


def test_the_inbox_is_newest_first_paged_and_filters_unread(world, client, outbox):
    consultant = operating(world)
    project_id = world.project()
    names = ["甲", "乙", "丙"]
    for name in names:
        world.register(consultant, project_id, name=f"{name}先生")

    first_page = inbox_of(client, consultant, per_page=2)
    assert [n["body"][0] for n in first_page["items"]] == ["丙", "乙"]
    assert (first_page["total"], first_page["page"], first_page["per_page"]) == (3, 1, 2)
    assert [n["body"][0] for n in inbox_of(client, consultant, per_page=2, page=2)["items"]] == ["甲"]

    oldest = inbox_of(client, consultant)["items"][-1]
    client.post(f"{INBOX}/{oldest['id']}/read", headers=consultant.auth)
    unread = inbox_of(client, consultant, unread_only="true")
    assert [n["body"][0] for n in unread["items"]] == ["丙", "乙"] and unread["unread"] == 2


def test_reading_a_notification_marks_it_once(world, client, outbox):
    consultant = operating(world)
    world.register(consultant, world.project())
    [notification] = inbox_of(client, consultant)["items"]

    first = client.post(f"{INBOX}/{notification['id']}/read", headers=consultant.auth)
    assert first.status_code == 200
    assert first.get_json()["read"] is True and first.get_json()["read_at"]
    again = client.post(f"{INBOX}/{notification['id']}/read", headers=consultant.auth).get_json()
    assert again["read_at"] == first.get_json()["read_at"]
    assert inbox_of(client, consultant)["unread"] == 0


def test_read_all_marks_only_the_callers_notifications(world, client, outbox):
    consultant, other = operating(world), operating(world, name="李顾问")
    project_id = world.project()
    for _ in range(2):
        world.register(consultant, project_id)
    world.register(other, project_id)

    response = client.post(f"{INBOX}/read-all", headers=consultant.auth)

    assert response.status_code == 200 and response.get_json() == {"updated": 2, "unread": 0}
    assert inbox_of(client, consultant)["unread"] == 0
    assert inbox_of(client, other)["unread"] == 1
    assert client.post(f"{INBOX}/read-all", headers=consultant.auth).get_json()["updated"] == 0


def test_another_consultants_notification_is_not_found_and_stays_unread(world, client, counts, outbox):
    owner, other = operating(world), operating(world, name="李顾问")
    world.register(owner, world.project(), name="周先生")
    [notification] = inbox_of(client, owner)["items"]
    before = counts()

    response = client.post(f"{INBOX}/{notification['id']}/read", headers=other.auth)

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "notification_not_found"
    assert inbox_of(client, other) == {"items": [], "total": 0, "unread": 0, "page": 1, "per_page": 20}
    assert inbox_of(client, owner)["unread"] == 1
    assert counts() == before


def test_a_suspended_consultant_still_reads_his_notifications(world, client, outbox):
    consultant = operating(world)
    world.register(consultant, world.project())
    client.post(f"/admin/api/v1/consultants/{consultant.id}/suspend", json={"reason": "调查中"},
                headers=world.staff_auth("operations"))
    inbox = inbox_of(client, consultant)
    assert [n["kind"] for n in inbox["items"]] == ["consultant_suspended", "registration_accepted"]
    assert client.post(f"{INBOX}/read-all", headers=consultant.auth).status_code == 200


# --- delivery -----------------------------------------------------------------------------------------

def test_a_notification_is_delivered_to_the_consultants_wechat_after_commit(world, client, app, outbox):
    consultant = operating(world)
    registration = world.register(consultant, world.project(name="金陵府"), name="周先生")

    [message] = outbox.outbox
    assert message["openid"] == consultant.openid
    assert message["kind"] == "registration_accepted" and message["title"] == "报备成功"
    assert message["page"] == f"pages/registrations/detail?id={registration['id']}"
    [row] = rows(app, consultant.id)
    assert row.delivered_at is not None and row.delivery_error is None


def test_a_refused_registration_sends_nothing(world, client, app, outbox):
    consultant = operating(world)
    project_id = world.project()
    phone = world.next_buyer_phone()
    world.register(consultant, project_id, phone=phone)
    world.register(consultant, project_id, phone=phone, expect=409)
    assert len(outbox.outbox) == 1 and len(rows(app, consultant.id)) == 1


def test_delivering_twice_sends_once(world, app, outbox):
    from estate_platform.db import commit, db
    from estate_platform.notifications.delivery import ALREADY_DELIVERED, deliver

    consultant = operating(world)
    world.register(consultant, world.project())
    [row] = rows(app, consultant.id)
    sender = ScriptedSender()
    with app.app_context():
        assert deliver(db.session, row.id, sender, now=utcnow()) == ALREADY_DELIVERED
        commit(db.session)
    assert sender.sent == [] and len(outbox.outbox) == 1


def test_a_consultant_who_did_not_subscribe_is_recorded_and_not_retried(world, app):
    from estate_platform.notifications.tasks import redeliver_pending_task

    consultant = operating(world)
    sender = use_sender(app, ScriptedSender(USER_NOT_SUBSCRIBED))
    world.register(consultant, world.project())
    [row] = rows(app, consultant.id)
    assert (row.delivered_at, row.delivery_error) == (None, "user_not_subscribed")

    backdate(app, row.id, minutes=10)
    assert redeliver_pending_task.delay().get() == 0
    assert len(sender.sent) == 1


def test_a_failed_delivery_is_retried_by_the_sweeper_until_it_is_delivered(world, app):
    from estate_platform.notifications.tasks import redeliver_pending_task

    consultant = operating(world)
    sender = use_sender(app, ScriptedSender(NotificationUnavailable(), NotificationUnavailable()))
    world.register(consultant, world.project())
    [row] = rows(app, consultant.id)
    assert (row.delivered_at, row.delivery_error) == (None, "upstream_unavailable")

    assert redeliver_pending_task.delay().get() == 0  # still young: its own task may be in flight
    assert len(sender.sent) == 1
    backdate(app, row.id, minutes=10)
    assert redeliver_pending_task.delay().get() == 0  # WeChat still down
    assert redeliver_pending_task.delay().get() == 1
    assert redeliver_pending_task.delay().get() == 0  # nothing left
    assert len(sender.sent) == 3
    [row] = rows(app, consultant.id)
    assert row.delivered_at is not None and row.delivery_error is None


def test_the_sweeper_leaves_notifications_older_than_a_day_and_works_in_batches(world, app):
    from estate_platform.notifications.tasks import redeliver_pending_task

    consultant = operating(world)
    sender = use_sender(app, ScriptedSender(*[NotificationUnavailable()] * 4))
    project_id = world.project()
    for _ in range(4):
        world.register(consultant, project_id)
    stale, *recent = rows(app, consultant.id)
    backdate(app, stale.id, minutes=25 * 60)
    for row in recent:
        backdate(app, row.id, minutes=10)

    assert redeliver_pending_task.delay(2).get() == 2
    assert redeliver_pending_task.delay(2).get() == 1
    assert redeliver_pending_task.delay(2).get() == 0
    delivered = {row.id: row.delivered_at is not None for row in rows(app, consultant.id)}
    assert delivered == {stale.id: False, **{row.id: True for row in recent}}
    assert len(sender.sent) == 4 + 3


def test_the_real_adapter_sends_a_subscribe_message_for_a_registration(world, app):
    base = "https://wx.example.test"
    consultant = operating(world)
    use_sender(app, HttpWechatSubscribeSender("wx-app", "wx-secret", {"registration_accepted": "tmpl-reg"},
                                              base_url=base))
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mocked:
        mocked.get(f"{base}/cgi-bin/token", json={"access_token": "tok", "expires_in": 7200})
        mocked.post(f"{base}/cgi-bin/message/subscribe/send", json={"errcode": 0, "errmsg": "ok"})
        registration = world.register(consultant, world.project(name="金陵府"), name="周先生")
        message = json.loads(mocked.calls[1].request.body)  # (responses forgets its calls on exit)

    assert message["touser"] == consultant.openid and message["template_id"] == "tmpl-reg"
    assert message["page"] == f"pages/registrations/detail?id={registration['id']}"
    assert message["data"]["thing1"] == {"value": "报备成功"}
    assert len(message["data"]["thing2"]["value"]) <= 20
    [row] = rows(app, consultant.id)
    assert row.delivered_at is not None


@pytest.mark.postgres
def test_a_notification_being_sent_by_another_worker_is_skipped(world, app, database_url):
    from estate_platform.db import db
    from estate_platform.notifications.delivery import SKIPPED, deliver

    consultant = operating(world)
    use_sender(app, ScriptedSender(NotificationUnavailable()))
    world.register(consultant, world.project())
    [row] = rows(app, consultant.id)
    sender = ScriptedSender()
    engine = create_engine(database_url)
    try:
        with engine.connect() as other_worker, other_worker.begin():
            other_worker.execute(text("SELECT id FROM notifications WHERE id = :id FOR UPDATE"), {"id": row.id})
            with app.app_context():
                assert deliver(db.session, row.id, sender, now=utcnow()) == SKIPPED
                db.session.rollback()
    finally:
        engine.dispose()
    assert sender.sent == []
