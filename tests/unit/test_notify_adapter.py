"""The WeChat subscribe-message adapter: the real one over intercepted HTTP, and the local one."""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from estate_platform.adapters.notify import (SENT, TEMPLATE_MISSING, USER_NOT_SUBSCRIBED, HttpWechatSubscribeSender,
                                             LocalNotificationSender, NotificationUnavailable, Template, build_sender,
                                             fit, message_data)

BASE = "https://wx.example.test"
TOKEN_URL = f"{BASE}/cgi-bin/token"
SEND_URL = f"{BASE}/cgi-bin/message/subscribe/send"
APP_ID = "wx0123456789abcdef"
APP_SECRET = "app-secret-5d1e9c7a3b"
TOKEN = "ACCESS-TOKEN-first-8f2e"
FRESH_TOKEN = "ACCESS-TOKEN-fresh-1c4d"
TEMPLATES = {"registration_accepted": "tmpl-registration", "follow_up_due": "tmpl-follow;title=thing5,body=thing2,time=date3"}
AT = datetime(2026, 3, 1, 2, 30, tzinfo=timezone.utc)  # 10:30 in Shanghai


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sender(clock) -> HttpWechatSubscribeSender:
    return HttpWechatSubscribeSender(APP_ID, APP_SECRET, TEMPLATES, base_url=BASE + "/", timeout=2.0, clock=clock)


def query(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def send(sender, kind="registration_accepted", title="报备成功", body="周先生已报备至金陵府"):
    return sender.send("o-consultant-1", kind, title, body, "pages/registrations/detail?id=7", at=AT)


def token_reply(mocked, token=TOKEN, expires_in=7200):
    mocked.get(TOKEN_URL, json={"access_token": token, "expires_in": expires_in})


# --- sending ---------------------------------------------------------------------------------

def test_send_gets_a_token_then_posts_the_subscribe_message(mocked, sender):
    token_reply(mocked)
    mocked.post(SEND_URL, json={"errcode": 0, "errmsg": "ok"})

    assert send(sender) == SENT

    token_call, send_call = mocked.calls
    assert query(token_call) == {"grant_type": ["client_credential"], "appid": [APP_ID], "secret": [APP_SECRET]}
    assert query(send_call) == {"access_token": [TOKEN]}
    assert json.loads(send_call.request.body) == {
        "touser": "o-consultant-1", "template_id": "tmpl-registration",
        "page": "pages/registrations/detail?id=7", "miniprogram_state": "formal", "lang": "zh_CN",
        "data": {"thing1": {"value": "报备成功"}, "thing2": {"value": "周先生已报备至金陵府"},
                 "time3": {"value": "2026-03-01 10:30"}}}


def test_a_template_with_other_keywords_gets_its_own_layout(mocked, sender):
    token_reply(mocked)
    mocked.post(SEND_URL, json={"errcode": 0})

    send(sender, kind="follow_up_due", title="客户跟进提醒", body="该联系周先生了")

    data = json.loads(mocked.calls[1].request.body)["data"]
    assert data == {"thing5": {"value": "客户跟进提醒"}, "thing2": {"value": "该联系周先生了"},
                    "date3": {"value": "2026-03-01 10:30"}}


def test_thing_fields_are_cut_to_twenty_characters(mocked, sender):
    token_reply(mocked)
    mocked.post(SEND_URL, json={"errcode": 0})
    body = "周先生（139****0001）已报备至金陵府·江湾壹号，保护至 2026-04-01"

    send(sender, body=body)

    value = json.loads(mocked.calls[1].request.body)["data"]["thing2"]["value"]
    assert len(value) == 20 and value == body[:19] + "…"


def test_the_token_is_reused_until_shortly_before_it_expires(mocked, sender, clock):
    token_reply(mocked, TOKEN, expires_in=7200)
    mocked.post(SEND_URL, json={"errcode": 0})
    send(sender)
    clock.now += 7200 - 301  # still valid, outside the margin
    send(sender)
    assert [urlsplit(c.request.url).path for c in mocked.calls] == [
        "/cgi-bin/token", "/cgi-bin/message/subscribe/send", "/cgi-bin/message/subscribe/send"]

    clock.now += 2  # inside the five-minute margin: fetch a new one
    mocked.replace(responses.GET, TOKEN_URL, json={"access_token": FRESH_TOKEN, "expires_in": 7200})
    send(sender)
    assert query(mocked.calls[-1]) == {"access_token": [FRESH_TOKEN]}


@pytest.mark.parametrize("errcode", [40001, 42001])
def test_an_expired_token_is_refreshed_once_and_the_message_sent_again(mocked, sender, errcode):
    mocked.get(TOKEN_URL, json={"access_token": TOKEN, "expires_in": 7200})
    mocked.get(TOKEN_URL, json={"access_token": FRESH_TOKEN, "expires_in": 7200})
    mocked.post(SEND_URL, json={"errcode": errcode, "errmsg": "access_token expired"})
    mocked.post(SEND_URL, json={"errcode": 0, "errmsg": "ok"})

    assert send(sender) == SENT

    sends = [c for c in mocked.calls if c.request.method == "POST"]
    assert [query(c)["access_token"] for c in sends] == [[TOKEN], [FRESH_TOKEN]]


def test_a_token_refused_twice_is_a_retryable_failure_not_a_loop(mocked, sender):
    mocked.get(TOKEN_URL, json={"access_token": TOKEN, "expires_in": 7200})
    mocked.post(SEND_URL, json={"errcode": 40001, "errmsg": "invalid credential"})

    with pytest.raises(NotificationUnavailable):
        send(sender)

    assert len(mocked.calls) == 4  # token, send, token again, send again: then it gives up


def test_a_consultant_who_refused_the_subscription_is_a_final_outcome_not_an_error(mocked, sender):
    token_reply(mocked)
    mocked.post(SEND_URL, json={"errcode": 43101, "errmsg": "user refuse to accept the msg"})

    outcome = send(sender)

    assert outcome == USER_NOT_SUBSCRIBED
    assert not outcome.delivered and outcome.reason == "user_not_subscribed"
    assert len(mocked.calls) == 2  # no retry


def test_a_kind_without_a_template_is_not_sent(mocked, sender):
    assert send(sender, kind="handoff_offered") == TEMPLATE_MISSING
    assert len(mocked.calls) == 0


@pytest.mark.parametrize("reply", [
    pytest.param({"json": {"errcode": -1, "errmsg": "system error"}}, id="errcode -1 (busy)"),
    pytest.param({"json": {"errcode": 47003, "errmsg": "argument invalid"}}, id="argument invalid"),
    pytest.param({"json": {"errcode": "x"}}, id="unreadable errcode"),
    pytest.param({"status": 502, "body": "Bad Gateway"}, id="HTTP 502"),
    pytest.param({"body": "<html></html>", "content_type": "text/html"}, id="not JSON"),
    pytest.param({"body": "[]", "content_type": "application/json"}, id="JSON but not an object"),
    pytest.param({"body": requests.ConnectionError("connection refused")}, id="connection error"),
    pytest.param({"body": requests.Timeout("read timed out")}, id="timeout"),
])
def test_send_failures_are_retryable(mocked, sender, reply):
    token_reply(mocked)
    mocked.post(SEND_URL, **reply)
    with pytest.raises(NotificationUnavailable) as caught:
        send(sender)
    assert caught.value.code == "notification_unavailable" and caught.value.status == 502


@pytest.mark.parametrize("reply", [
    pytest.param({"json": {"errcode": 40013, "errmsg": "invalid appid"}}, id="invalid appid"),
    pytest.param({"json": {"expires_in": 7200}}, id="no token"),
    pytest.param({"status": 500}, id="HTTP 500"),
    pytest.param({"body": requests.ConnectionError("reset")}, id="connection error"),
])
def test_token_failures_are_retryable_and_nothing_is_sent(mocked, sender, reply):
    mocked.get(TOKEN_URL, **reply)
    with pytest.raises(NotificationUnavailable):
        send(sender)
    assert all(c.request.method == "GET" for c in mocked.calls)


@pytest.mark.parametrize("failure", ["token", "send"])
def test_logs_never_contain_the_secret_or_the_token(mocked, sender, caplog, failure):
    caplog.set_level(logging.DEBUG)
    if failure == "token":
        mocked.get(TOKEN_URL, status=500)
    else:
        token_reply(mocked)
        mocked.post(SEND_URL, status=500)
    with pytest.raises(NotificationUnavailable):
        send(sender)
    assert caplog.records, "a failure should be logged"
    assert APP_SECRET not in caplog.text and TOKEN not in caplog.text


# --- templates and fields --------------------------------------------------------------------

def test_template_settings_parse_the_default_and_a_custom_layout():
    assert Template.parse(" abc ") == Template("abc", {"title": "thing1", "body": "thing2", "time": "time3"})
    assert Template.parse("abc;body=thing4,title=thing1,time=time2").fields == {
        "body": "thing4", "title": "thing1", "time": "time2"}
    for bad in ("", ";title=thing1", "abc;heading=thing1", "abc;title="):
        with pytest.raises(ValueError):
            Template.parse(bad)


@pytest.mark.parametrize("keyword, value, expected", [
    ("thing1", "短文本", "短文本"),
    ("thing2", "一" * 20, "一" * 20),
    ("thing2", "一" * 21, "一" * 19 + "…"),
    ("name3", "欧阳娜娜娜娜娜娜娜娜娜", "欧阳娜娜娜娜娜娜娜…"),
    ("phrase4", "已经报备成功", "已经报备成"),
    ("thing5", "第一行\n第二行", "第一行 第二行"),
    ("time6", "2026-03-01 10:30", "2026-03-01 10:30"),
])
def test_fit_respects_wechat_keyword_limits(keyword, value, expected):
    assert fit(keyword, value) == expected


def test_message_data_shows_the_time_in_shanghai():
    data = message_data(Template.parse("t"), "标题", "内容", datetime(2026, 12, 31, 16, 5, tzinfo=timezone.utc))
    assert data["time3"] == {"value": "2027-01-01 00:05"}


# --- local sender and the factory -------------------------------------------------------------

def test_local_sender_keeps_a_bounded_outbox():
    local = LocalNotificationSender()
    assert local.send("o-1", "follow_up_due", "客户跟进提醒", "该联系周先生了", "pages/clients/detail?id=1") == SENT
    assert local.outbox == [{"openid": "o-1", "kind": "follow_up_due", "title": "客户跟进提醒",
                             "body": "该联系周先生了", "page": "pages/clients/detail?id=1"}]
    for i in range(150):
        local.send("o-2", "registration_accepted", "报备成功", str(i), "p")
    assert len(local.outbox) == 100 and local.outbox[-1]["body"] == "149"


def test_build_sender_follows_the_configuration():
    assert isinstance(build_sender({}), LocalNotificationSender)
    assert isinstance(build_sender({"NOTIFY_ADAPTER": "local"}), LocalNotificationSender)
    real = build_sender({"NOTIFY_ADAPTER": "http", "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET,
                         "WECHAT_API_BASE": BASE, "WECHAT_TEMPLATES": TEMPLATES})
    assert isinstance(real, HttpWechatSubscribeSender)
    assert (real.app_id, real.base_url) == (APP_ID, BASE)
    assert real.templates["registration_accepted"].template_id == "tmpl-registration"


def test_the_app_builds_the_sender_the_configuration_names(tmp_path):
    from tests.conftest import make_app
    default = make_app(f"sqlite:///{tmp_path}/a.db", tmp_path / "a")
    assert isinstance(default.extensions["adapters"].notify, LocalNotificationSender)
    real = make_app(f"sqlite:///{tmp_path}/b.db", tmp_path / "b", NOTIFY_ADAPTER="http", WECHAT_APP_ID=APP_ID,
                    WECHAT_APP_SECRET=APP_SECRET, WECHAT_API_BASE=BASE, WECHAT_TEMPLATES=TEMPLATES)
    assert isinstance(real.extensions["adapters"].notify, HttpWechatSubscribeSender)


def test_template_ids_come_from_the_environment():
    from estate_platform.config import load_config
    config = load_config({"NOTIFY_ADAPTER": "http", "WECHAT_TEMPLATE_REGISTRATION_ACCEPTED": " tmpl-1 ",
                          "WECHAT_TEMPLATE_FOLLOW_UP_DUE": "tmpl-2;title=thing5,body=thing2,time=date3",
                          "WECHAT_TEMPLATE_VISIT_CONFIRMED": ""})
    assert config["WECHAT_TEMPLATES"] == {"registration_accepted": "tmpl-1",
                                          "follow_up_due": "tmpl-2;title=thing5,body=thing2,time=date3"}
