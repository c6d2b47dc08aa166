"""The adapters to WeChat and the SMS gateway, with HTTP intercepted by ``responses``.

No test here reaches the network: ``responses`` refuses any request it was not
told about.
"""
from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from estate_platform.adapters import Adapters, build_adapters
from estate_platform.adapters.sms import HttpSmsSender, LocalSmsSender, SmsUnavailable
from estate_platform.adapters.wechat import (HttpWechatAuth, LocalWechatAuth, WechatCodeInvalid,
                                             WechatSession, WechatUnavailable)
from estate_platform.errors import UpstreamUnavailable
from tests.conftest import make_app, table_counts

WX_BASE = "https://wx.example.test"
WX_URL = f"{WX_BASE}/sns/jscode2session"
APP_ID = "wx0123456789abcdef"
APP_SECRET = "app-secret-7f3c9a1e5b2d4c6e8f0a"
SMS_URL = "https://sms.example.test/v1/send"
SMS_KEY = "sms-api-key-4e1d2c3b"


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


@pytest.fixture
def wechat() -> HttpWechatAuth:
    # A trailing slash on the base must not produce "//sns".
    return HttpWechatAuth(APP_ID, APP_SECRET, base_url=WX_BASE + "/", timeout=2.0)


@pytest.fixture
def sms() -> HttpSmsSender:
    return HttpSmsSender(SMS_URL, SMS_KEY, sign_name="新房分销平台", template_code="SMS_LOGIN", timeout=2.0)


def query_of(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


# --- HttpWechatAuth -------------------------------------------------------------------

def test_wechat_code_to_session_returns_openid_and_unionid(mocked, wechat):
    mocked.get(WX_URL, json={"openid": "o-abc123", "unionid": "u-xyz789", "session_key": "sk"})

    result = wechat.code_to_session("js-code-1")

    assert result == WechatSession(openid="o-abc123", unionid="u-xyz789")
    assert len(mocked.calls) == 1
    call = mocked.calls[0]
    assert call.request.method == "GET"
    assert urlsplit(call.request.url).path == "/sns/jscode2session"
    assert query_of(call) == {"appid": [APP_ID], "secret": [APP_SECRET], "js_code": ["js-code-1"],
                              "grant_type": ["authorization_code"]}


def test_wechat_without_unionid_and_with_errcode_zero_is_a_success(mocked, wechat):
    mocked.get(WX_URL, json={"errcode": 0, "errmsg": "ok", "openid": "o-only", "session_key": "sk"})
    assert wechat.code_to_session("c") == WechatSession(openid="o-only", unionid=None)


@pytest.mark.parametrize("errcode", [40029, 40163, 40226])
def test_wechat_rejected_code_is_code_invalid_401(mocked, wechat, errcode):
    mocked.get(WX_URL, json={"errcode": errcode, "errmsg": "invalid code"})

    with pytest.raises(WechatCodeInvalid) as caught:
        wechat.code_to_session("stale-code")

    assert caught.value.code == "wechat_code_invalid"
    assert caught.value.status == 401
    assert not isinstance(caught.value, UpstreamUnavailable)


def _assert_unavailable(excinfo) -> None:
    assert excinfo.value.code == "wechat_unavailable"
    assert excinfo.value.status == 502
    assert not isinstance(excinfo.value, WechatCodeInvalid)


@pytest.mark.parametrize("reply", [
    pytest.param({"json": {"errcode": -1, "errmsg": "system error"}}, id="errcode -1 (busy)"),
    pytest.param({"json": {"errcode": 45011, "errmsg": "api minute-quota reach limit"}}, id="rate limited"),
    pytest.param({"json": {"session_key": "sk"}}, id="no openid"),
    pytest.param({"status": 500, "json": {"errcode": 0}}, id="HTTP 500"),
    pytest.param({"status": 503, "body": "Service Unavailable"}, id="HTTP 503"),
    pytest.param({"body": "<html>gateway</html>", "content_type": "text/html"}, id="not JSON"),
    pytest.param({"body": requests.ConnectionError("connection refused")}, id="connection error"),
    pytest.param({"body": requests.Timeout("read timed out")}, id="timeout"),
])
def test_wechat_failures_are_unavailable_502(mocked, wechat, reply):
    mocked.get(WX_URL, **reply)
    with pytest.raises(WechatUnavailable) as caught:
        wechat.code_to_session("c")
    _assert_unavailable(caught)


@pytest.mark.parametrize("body", ["null", "[]", '"ok"'])
def test_wechat_json_that_is_not_an_object_is_unavailable_not_a_crash(mocked, wechat, body):
    """Any misbehaving upstream is a 502 refusal; an AttributeError would be a 500."""
    mocked.get(WX_URL, body=body, content_type="application/json")
    with pytest.raises(WechatUnavailable) as caught:
        wechat.code_to_session("c")
    _assert_unavailable(caught)


@pytest.mark.parametrize("reply", [
    pytest.param({"status": 500}, id="HTTP 500"),
    pytest.param({"json": {"errcode": -1, "errmsg": "system error"}}, id="errcode -1"),
])
def test_wechat_failure_logs_do_not_contain_the_app_secret(mocked, wechat, reply, caplog):
    """requests puts the full URL (query string included) in HTTPError messages."""
    mocked.get(WX_URL, **reply)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(WechatUnavailable):
        wechat.code_to_session("user-js-code")
    assert caplog.records, "a failure should be logged"
    assert APP_SECRET not in caplog.text


# --- HttpSmsSender ---------------------------------------------------------------------

def test_sms_posts_json_with_bearer_key(mocked, sms):
    mocked.post(SMS_URL, json={"code": "OK", "request_id": "r-1"})

    assert sms.send_code("13800138000", "123456") is None

    assert len(mocked.calls) == 1
    request = mocked.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {SMS_KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {"phone": "13800138000", "sign_name": "新房分销平台",
                                        "template_code": "SMS_LOGIN", "params": {"code": "123456"}}


@pytest.mark.parametrize("reply", [
    pytest.param({"json": {"code": "isv.BUSINESS_LIMIT_CONTROL", "message": "触发流控"}}, id="code != OK"),
    pytest.param({"json": {"code": "FAIL"}}, id="code FAIL"),
    pytest.param({"status": 500, "json": {"code": "OK"}}, id="HTTP 500"),
    pytest.param({"status": 401, "json": {"code": "Unauthorized"}}, id="HTTP 401 (bad key)"),
    pytest.param({"body": "not json", "content_type": "text/plain"}, id="not JSON"),
    pytest.param({"body": requests.Timeout("read timed out")}, id="timeout"),
    pytest.param({"body": requests.ConnectionError("connection reset")}, id="connection error"),
])
def test_sms_failures_are_sms_unavailable(mocked, sms, reply):
    mocked.post(SMS_URL, **reply)
    with pytest.raises(SmsUnavailable) as caught:
        sms.send_code("13800138000", "123456")
    assert caught.value.code == "sms_unavailable"
    assert caught.value.status == 502


@pytest.mark.parametrize("body", ["null", "[]"])
def test_sms_json_that_is_not_an_object_is_unavailable_not_a_crash(mocked, sms, body):
    mocked.post(SMS_URL, body=body, content_type="application/json")
    with pytest.raises(SmsUnavailable):
        sms.send_code("13800138000", "123456")


def test_sms_accepts_ok_in_any_case(mocked, sms):
    mocked.post(SMS_URL, json={"code": "ok"})
    sms.send_code("13800138000", "654321")
    assert len(mocked.calls) == 1


# --- local fakes ---------------------------------------------------------------------------

def test_local_wechat_dev_code_is_that_openid():
    auth = LocalWechatAuth()
    assert auth.code_to_session("dev:o-alice") == WechatSession(openid="o-alice")
    assert auth.code_to_session("dev:demo-consultant-1").openid == "demo-consultant-1"


def test_local_wechat_other_codes_map_to_a_stable_openid():
    first, again = LocalWechatAuth(), LocalWechatAuth()
    one = first.code_to_session("071abcDEF")
    assert one == again.code_to_session("071abcDEF") == first.code_to_session("071abcDEF")
    assert one.openid != first.code_to_session("071abcDEG").openid
    assert 0 < len(one.openid) <= 64  # fits wechat_users.openid


def test_local_wechat_invalid_code_is_refused():
    with pytest.raises(WechatCodeInvalid):
        LocalWechatAuth().code_to_session("invalid-code")


def test_local_sms_records_codes():
    sender = LocalSmsSender()
    assert sender.last_code("13800138000") is None
    sender.send_code("13800138000", "111111")
    sender.send_code("13900139000", "222222")
    sender.send_code("13800138000", "333333")
    assert sender.outbox == [("13800138000", "111111"), ("13900139000", "222222"), ("13800138000", "333333")]
    assert sender.last_code("13800138000") == "333333"
    assert sender.last_code("13900139000") == "222222"
    for i in range(150):
        sender.send_code("13700000000", f"{i:06d}")
    assert len(sender.outbox) == 100  # bounded
    assert sender.last_code("13700000000") == "000149"


# --- build_adapters --------------------------------------------------------------------------

HTTP_CONFIG = {
    "WECHAT_ADAPTER": "http", "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET,
    "WECHAT_API_BASE": WX_BASE,
    "SMS_ADAPTER": "http", "SMS_API_URL": SMS_URL, "SMS_API_KEY": SMS_KEY,
    "SMS_SIGN_NAME": "新房分销平台", "SMS_TEMPLATE_CODE": "SMS_LOGIN",
}


def test_build_adapters_http():
    adapters = build_adapters(HTTP_CONFIG)
    assert isinstance(adapters, Adapters)
    assert isinstance(adapters.wechat, HttpWechatAuth)
    assert (adapters.wechat.app_id, adapters.wechat.app_secret, adapters.wechat.base_url) == (
        APP_ID, APP_SECRET, WX_BASE)
    assert isinstance(adapters.sms, HttpSmsSender)
    assert (adapters.sms.url, adapters.sms.api_key, adapters.sms.sign_name, adapters.sms.template_code) == (
        SMS_URL, SMS_KEY, "新房分销平台", "SMS_LOGIN")


def test_build_adapters_mixed_and_local():
    mixed = build_adapters(dict(HTTP_CONFIG, SMS_ADAPTER="local"))
    assert isinstance(mixed.wechat, HttpWechatAuth) and isinstance(mixed.sms, LocalSmsSender)
    local = build_adapters(dict(HTTP_CONFIG, WECHAT_ADAPTER="local", SMS_ADAPTER="local"))
    assert isinstance(local.wechat, LocalWechatAuth) and isinstance(local.sms, LocalSmsSender)


# --- over HTTP, through the app --------------------------------------------------------------

@pytest.fixture
def http_app(database_url, tmp_path):
    application = make_app(database_url, tmp_path / "instance", WECHAT_ADAPTER="http",
                           WECHAT_APP_ID=APP_ID, WECHAT_APP_SECRET=APP_SECRET, WECHAT_API_BASE=WX_BASE)
    yield application
    from estate_platform.db import db
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def test_app_built_with_http_wechat_uses_it(http_app):
    assert isinstance(http_app.extensions["adapters"].wechat, HttpWechatAuth)
    assert isinstance(http_app.extensions["adapters"].sms, LocalSmsSender)


def test_wechat_login_over_http_returns_a_token(http_app, mocked):
    mocked.get(WX_URL, json={"openid": "o-real-user-1", "unionid": "u-real-1", "session_key": "sk"})
    client = http_app.test_client()

    response = client.post("/api/mp/v1/auth/wechat", json={"code": "0a1b2c3d"})

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["token"] and body["user"]["openid"] == "o-real-user-1"
    assert body["user"]["consultant_id"] is None
    assert query_of(mocked.calls[0])["js_code"] == ["0a1b2c3d"]
    # The token signs the user in.
    revoke = client.post("/api/mp/v1/auth/revoke", headers={"Authorization": f"Bearer {body['token']}"})
    assert revoke.status_code == 204

    # The dev shortcut of the local fake is not honoured by the real adapter.
    mocked.replace(responses.GET, WX_URL, json={"errcode": 40029, "errmsg": "invalid code"})
    forged = client.post("/api/mp/v1/auth/wechat", json={"code": "dev:o-real-user-1"})
    assert forged.status_code == 401


def test_wechat_login_with_rejected_code_is_401_and_writes_nothing(http_app, mocked):
    mocked.get(WX_URL, json={"errcode": 40029, "errmsg": "invalid code, rid: 1"})
    before = table_counts(http_app)

    response = http_app.test_client().post("/api/mp/v1/auth/wechat", json={"code": "used-code"})

    assert response.status_code == 401
    error = response.get_json()["error"]
    assert error["code"] == "wechat_code_invalid"
    assert error["message"]
    assert table_counts(http_app) == before


def test_wechat_login_when_wechat_is_down_is_502(http_app, mocked):
    mocked.get(WX_URL, status=500)
    response = http_app.test_client().post("/api/mp/v1/auth/wechat", json={"code": "c"})
    assert response.status_code == 502
    assert response.get_json()["error"]["code"] == "wechat_unavailable"
