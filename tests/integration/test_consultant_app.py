"""The consultant pages' sign-in and token model (/m/session), and one user per person.

A sign-in sets one HttpOnly, SameSite=Strict cookie scoped to /m/session; the page buys
short bearer tokens with it; every POST needs the fetch header; signing out revokes.
WeChat's web authorisation runs through the real adapter with HTTP intercepted, and the
same consultant coming through the mini-program, the Official Account or his phone stays
one user.
"""
from __future__ import annotations

from datetime import timedelta
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from sqlalchemy import func, select

from estate_platform.db import commit, db, utcnow
from estate_platform.identity.models import WechatUser
from tests.conftest import make_app

FETCH = {"X-Requested-With": "fetch"}
WX_BASE = "https://wx.example.test"
OA_APP_ID = "wxoa0123456789abcd"
OA_SECRET = "oa-secret-5d1c9e7a3b"
MP_APP_ID = "wxmp0123456789abcd"
MP_SECRET = "mp-secret-2b8f6a4c1e"
TOKEN_URL = f"{WX_BASE}/sns/oauth2/access_token"
CODE2SESSION_URL = f"{WX_BASE}/sns/jscode2session"


def session_cookie(response) -> dict:
    """The Set-Cookie of the session cookie, as attribute → value (lower-case names)."""
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith("ep_m_session="):
            parsed = SimpleCookie()
            parsed.load(header)
            morsel = parsed["ep_m_session"]
            flags = {key.lower() for key in header.split(";")[1:] if "=" not in key}
            return {"value": morsel.value, **{k: v for k, v in morsel.items() if v}, **{f.strip(): True for f in flags}}
    return {}


def dev_sign_in(client, openid: str):
    response = client.post("/m/session/dev", json={"openid": openid}, headers=FETCH)
    assert response.status_code == 200, response.get_json()
    return response


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def users(app) -> list[WechatUser]:
    with app.app_context():
        found = db.session.scalars(select(WechatUser).order_by(WechatUser.id)).all()
        db.session.expunge_all()
        return found


# --- the session cookie and the page's token ----------------------------------------------------

def test_signing_in_sets_an_httponly_strict_cookie_scoped_to_the_session_endpoints(client, world):
    consultant = world.operating_consultant()
    response = dev_sign_in(client, consultant.openid)

    cookie = session_cookie(response)
    assert cookie["path"] == "/m/session"
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert "secure" not in cookie  # plain http in development
    assert int(cookie["max-age"]) == 30 * 86400
    body = response.get_json()
    assert body["user"]["consultant_id"] == consultant.id and body["user"]["operating"] is True
    assert client.get("/api/mp/v1/consultants/me", headers=bearer(body["token"])).get_json()["id"] == consultant.id


def test_the_cookie_is_secure_over_https(client, world):
    consultant = world.apply()
    response = client.post("/m/session/dev", json={"openid": consultant.openid}, headers=FETCH,
                           base_url="https://localhost")
    assert session_cookie(response)["secure"] is True


def test_the_page_buys_a_short_bearer_token_with_the_cookie(app, client, world):
    consultant = world.operating_consultant()
    dev_sign_in(client, consultant.openid)

    response = client.post("/m/session/token", headers=FETCH)

    assert response.status_code == 200
    body = response.get_json()
    expires = body["expires_at"]
    assert app.config["CONSULTANT_ACCESS_TTL_SECONDS"] == 900
    assert abs((utcnow() + timedelta(seconds=900)).timestamp() - _ts(expires)) < 5
    assert client.get("/api/mp/v1/consultants/me", headers=bearer(body["token"])).status_code == 200
    assert session_cookie(response)["path"] == "/m/session"  # the cookie's lifetime starts again


def _ts(iso: str) -> float:
    from datetime import datetime
    return datetime.fromisoformat(iso).timestamp()


def test_the_cookie_itself_is_no_bearer_token(client, world):
    consultant = world.operating_consultant()
    cookie = session_cookie(dev_sign_in(client, consultant.openid))["value"]

    response = client.get("/api/mp/v1/consultants/me", headers=bearer(cookie))

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "token_invalid"


def test_without_a_session_the_token_endpoint_answers_401(client):
    response = client.post("/m/session/token", headers=FETCH)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "token_missing"


@pytest.mark.parametrize("headers", [
    {},                                                              # a plain form or image: no custom header
    {"X-Requested-With": "XMLHttpRequest"},                          # not ours
    {**FETCH, "Origin": "https://evil.example"},                     # another site's script
    {**FETCH, "Origin": "null"},                                     # a sandboxed frame
])
def test_posts_without_the_fetch_header_or_from_another_origin_are_refused(client, world, headers):
    consultant = world.operating_consultant()
    dev_sign_in(client, consultant.openid)

    for path in ("/m/session/token", "/m/session/sign-out", "/m/session/dev", "/m/session/sms"):
        response = client.post(path, json={}, headers=headers)
        assert response.status_code == 403, path
        assert response.get_json()["error"]["code"] == "csrf_refused"
    # Nothing happened: the session still buys tokens.
    assert client.post("/m/session/token", headers=FETCH).status_code == 200


def test_our_own_origin_is_accepted(client, world):
    consultant = world.operating_consultant()
    dev_sign_in(client, consultant.openid)
    response = client.post("/m/session/token", headers={**FETCH, "Origin": "http://localhost"})
    assert response.status_code == 200


def test_an_expired_bearer_token_is_refused_and_the_cookie_buys_a_fresh_one(client, world, monkeypatch):
    consultant = world.operating_consultant()
    token = dev_sign_in(client, consultant.openid).get_json()["token"]
    later = utcnow() + timedelta(minutes=20)
    import consultant_app.session as session_module
    import mini_program_api.callers as callers
    monkeypatch.setattr(callers, "utcnow", lambda: later)
    monkeypatch.setattr(session_module, "utcnow", lambda: later)

    expired = client.get("/api/mp/v1/consultants/me", headers=bearer(token))
    assert expired.status_code == 401
    assert expired.get_json()["error"]["code"] == "token_expired"

    fresh = client.post("/m/session/token", headers=FETCH).get_json()["token"]
    assert client.get("/api/mp/v1/consultants/me", headers=bearer(fresh)).status_code == 200


def test_signing_out_clears_the_cookie_and_revokes_every_token(client, world):
    consultant = world.operating_consultant()
    signed_in = dev_sign_in(client, consultant.openid)
    cookie = session_cookie(signed_in)["value"]
    token = signed_in.get_json()["token"]

    response = client.post("/m/session/sign-out", headers=FETCH)

    assert response.status_code == 200
    cleared = session_cookie(response)
    assert cleared["value"] == "" and cleared["path"] == "/m/session"
    assert client.post("/m/session/token", headers=FETCH).status_code == 401  # the browser has none
    client.set_cookie("ep_m_session", cookie, path="/m/session")  # replaying the old cookie
    replay = client.post("/m/session/token", headers=FETCH)
    assert replay.status_code == 401 and replay.get_json()["error"]["code"] == "token_revoked"
    assert client.get("/api/mp/v1/consultants/me", headers=bearer(token)).status_code == 401
    assert client.get("/api/mp/v1/consultants/me", headers=consultant.auth).status_code == 401  # the mini-program's too


def test_signing_out_without_a_session_is_harmless(client):
    assert client.post("/m/session/sign-out", headers=FETCH).status_code == 200


def test_dev_sign_in_exists_only_with_the_local_wechat_adapter(database_url, tmp_path):
    app = make_app(database_url, tmp_path / "instance", WECHAT_ADAPTER="http", WECHAT_APP_ID=MP_APP_ID,
                   WECHAT_APP_SECRET=MP_SECRET)
    client = app.test_client()
    response = client.post("/m/session/dev", json={"openid": "demo-consultant-1"}, headers=FETCH)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "dev_sign_in_unavailable"
    assert "开发环境登录" not in client.get("/m/signin").get_data(as_text=True)


def test_dev_sign_in_names_a_bad_openid_next_to_its_field(client):
    response = client.post("/m/session/dev", json={"openid": "bad openid!"}, headers=FETCH)
    assert response.status_code == 422
    assert "openid" in response.get_json()["error"]["details"]["fields"]


# --- SMS to the consultant's phone ----------------------------------------------------------------

def sms_code(app, client, phone: str) -> str:
    assert client.post("/api/mp/v1/auth/sms/send", json={"phone": phone}).status_code == 200
    return app.extensions["adapters"].sms.last_code("+86" + phone)


def test_a_consultant_signs_in_with_the_code_sent_to_his_phone(app, client, world):
    phone = world.next_phone()
    consultant = world.operating_consultant(phone=phone)
    code = sms_code(app, client, phone)

    response = client.post("/m/session/sms", json={"phone": f"{phone[:3]} {phone[3:7]} {phone[7:]}", "code": code},
                           headers=FETCH)

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["user"]["consultant_id"] == consultant.id
    assert session_cookie(response)["httponly"] is True


def test_a_phone_no_consultant_applied_with_is_named_next_to_the_phone_field(app, client, world):
    phone = world.next_buyer_phone()
    code = sms_code(app, client, phone)

    response = client.post("/m/session/sms", json={"phone": phone, "code": code}, headers=FETCH)

    assert response.status_code == 404
    error = response.get_json()["error"]
    assert error["code"] == "consultant_phone_unknown"
    assert error["details"]["fields"]["phone"] == [error["message"]]
    assert session_cookie(response) == {}


def test_a_wrong_code_signs_nobody_in(app, client, world):
    phone = world.next_phone()
    world.operating_consultant(phone=phone)
    code = sms_code(app, client, phone)
    wrong = "000000" if code != "000000" else "111111"

    response = client.post("/m/session/sms", json={"phone": phone, "code": wrong}, headers=FETCH)

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "sms_code_invalid"
    assert session_cookie(response) == {}


# --- WeChat web authorisation through the real adapter (HTTP intercepted) ------------------------

@pytest.fixture
def wechat_app(database_url, tmp_path):
    """The real WeChat adapters (mini-program and Official Account) against an intercepted host."""
    application = make_app(database_url, tmp_path / "instance", WECHAT_ADAPTER="http", WECHAT_APP_ID=MP_APP_ID,
                           WECHAT_APP_SECRET=MP_SECRET, WECHAT_OA_APP_ID=OA_APP_ID, WECHAT_OA_APP_SECRET=OA_SECRET,
                           WECHAT_API_BASE=WX_BASE)
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def wx():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mocked:
        yield mocked


def start_authorisation(client, next_page: str = "/m/projects") -> str:
    """Follow the sign-in button to WeChat; return the state WeChat would send back."""
    response = client.get("/m/session/wechat/start", query_string={"next": next_page})
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    assert (target.scheme, target.netloc, target.path) == ("https", "open.weixin.qq.com", "/connect/oauth2/authorize")
    assert target.fragment == "wechat_redirect"
    query = parse_qs(target.query)
    assert query["appid"] == [OA_APP_ID]
    assert query["redirect_uri"] == ["http://localhost/m/session/wechat/callback"]
    assert query["response_type"] == ["code"] and query["scope"] == ["snsapi_base"]
    return query["state"][0]


def test_wechat_web_authorisation_signs_a_new_person_in_and_returns_him_to_his_page(wechat_app, wx):
    client = wechat_app.test_client()
    wx.get(TOKEN_URL, json={"access_token": "at", "expires_in": 7200, "refresh_token": "rt",
                            "openid": "oa-openid-1", "scope": "snsapi_base"})
    state = start_authorisation(client)

    response = client.get("/m/session/wechat/callback", query_string={"code": "wx-code-1", "state": state})

    assert response.status_code == 302
    assert response.headers["Location"] == "/m/projects"
    assert session_cookie(response)["samesite"] == "Strict"
    call = wx.calls[0]
    assert parse_qs(urlsplit(call.request.url).query) == {
        "appid": [OA_APP_ID], "secret": [OA_SECRET], "code": ["wx-code-1"], "grant_type": ["authorization_code"]}
    token = client.post("/m/session/token", headers=FETCH).get_json()
    assert token["user"]["consultant_id"] is None  # he has yet to apply: the pages send him to /m/join
    [user] = users(wechat_app)
    assert (user.openid, user.oa_openid, user.unionid) == (None, "oa-openid-1", None)


def test_the_state_cookie_goes_back_with_wechats_redirect(wechat_app):
    response = wechat_app.test_client().get("/m/session/wechat/start")
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("ep_m_oauth="))
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/m/session/wechat" in header


def test_a_code_without_our_state_is_refused_before_asking_wechat(wechat_app, wx):
    client = wechat_app.test_client()
    start_authorisation(client)

    response = client.get("/m/session/wechat/callback", query_string={"code": "stolen-code", "state": "forged"})

    assert response.status_code == 302
    assert response.headers["Location"] == "/m/signin?error=wechat_state_invalid"
    assert session_cookie(response) == {}
    assert len(wx.calls) == 0


def test_a_code_wechat_refuses_sends_him_back_to_sign_in_with_the_reason(wechat_app, wx):
    client = wechat_app.test_client()
    wx.get(TOKEN_URL, json={"errcode": 40163, "errmsg": "code been used"})
    state = start_authorisation(client)

    response = client.get("/m/session/wechat/callback", query_string={"code": "used", "state": state})

    assert response.headers["Location"] == "/m/signin?error=wechat_code_invalid"
    assert session_cookie(response) == {}
    assert "微信授权已失效" in client.get("/m/signin?error=wechat_code_invalid").get_data(as_text=True)


def test_wechat_down_is_a_reason_too_and_the_secret_is_not_logged(wechat_app, wx, caplog):
    client = wechat_app.test_client()
    wx.get(TOKEN_URL, status=502)
    state = start_authorisation(client)

    response = client.get("/m/session/wechat/callback", query_string={"code": "c", "state": state})

    assert response.headers["Location"] == "/m/signin?error=wechat_unavailable"
    assert OA_SECRET not in caplog.text


def test_a_declined_authorisation_comes_back_without_a_code(wechat_app, wx):
    client = wechat_app.test_client()
    state = start_authorisation(client)
    response = client.get("/m/session/wechat/callback", query_string={"state": state})
    assert response.headers["Location"] == "/m/signin?error=wechat_denied"


@pytest.mark.parametrize("next_page", ["//evil.example/m/", "https://evil.example/", "/admin/", "/m/session/token"])
def test_after_sign_in_only_the_apps_own_pages_are_a_destination(wechat_app, wx, next_page):
    client = wechat_app.test_client()
    wx.get(TOKEN_URL, json={"openid": "oa-openid-2"})
    response = client.get("/m/session/wechat/start", query_string={"next": next_page})
    state = parse_qs(urlsplit(response.headers["Location"]).query)["state"][0]

    callback = client.get("/m/session/wechat/callback", query_string={"code": "c", "state": state})

    assert callback.headers["Location"] == "/m/"


def test_without_an_official_account_the_pages_offer_sms_only(database_url, tmp_path):
    app = make_app(database_url, tmp_path / "instance", WECHAT_ADAPTER="http", WECHAT_APP_ID=MP_APP_ID,
                   WECHAT_APP_SECRET=MP_SECRET)
    client = app.test_client()
    assert "微信授权登录" not in client.get("/m/signin").get_data(as_text=True)
    response = client.get("/m/session/wechat/start")
    assert response.headers["Location"] == "/m/signin?error=wechat_web_unavailable"


# --- one consultant, one user ---------------------------------------------------------------------

def mini_program_sign_in(client, wx, *, openid: str, unionid: str | None) -> str:
    wx.get(CODE2SESSION_URL, json={"openid": openid, "session_key": "sk", **({"unionid": unionid} if unionid else {})})
    response = client.post("/api/mp/v1/auth/wechat", json={"code": f"js-{openid}"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["token"]


def web_sign_in(client, wx, *, openid: str, unionid: str | None):
    wx.get(TOKEN_URL, json={"openid": openid, **({"unionid": unionid} if unionid else {})})
    state = start_authorisation(client, "/m/")
    response = client.get("/m/session/wechat/callback", query_string={"code": f"web-{openid}", "state": state})
    assert response.status_code == 302 and session_cookie(response)
    return client.post("/m/session/token", headers=FETCH).get_json()


def apply(client, token: str, phone: str) -> int:
    response = client.post("/api/mp/v1/consultants", headers=bearer(token),
                           json={"name": "韩梅", "phone": phone, "city": "南京", "kind": "independent"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_the_unionid_makes_the_mini_program_consultant_and_the_web_visitor_one_user(wechat_app, wx, world):
    client = wechat_app.test_client()
    token = mini_program_sign_in(client, wx, openid="mp-openid-9", unionid="union-9")
    consultant_id = apply(client, token, world.next_phone())

    signed_in = web_sign_in(client, wx, openid="oa-openid-9", unionid="union-9")

    assert signed_in["user"]["consultant_id"] == consultant_id
    [user] = users(wechat_app)
    assert (user.openid, user.oa_openid, user.unionid) == ("mp-openid-9", "oa-openid-9", "union-9")


def test_the_unionid_links_the_other_way_round_too(wechat_app, wx, world):
    client = wechat_app.test_client()
    web = web_sign_in(client, wx, openid="oa-openid-7", unionid="union-7")
    consultant_id = apply(client, web["token"], world.next_phone())  # applied on the web pages

    token = mini_program_sign_in(client, wx, openid="mp-openid-7", unionid="union-7")

    me = client.get("/api/mp/v1/consultants/me", headers=bearer(token))
    assert me.get_json()["id"] == consultant_id
    [user] = users(wechat_app)
    assert (user.openid, user.oa_openid) == ("mp-openid-7", "oa-openid-7")


def test_without_a_unionid_the_verified_phone_links_the_web_identity_to_the_consultant(app, client, world):
    phone = world.next_phone()
    consultant = world.operating_consultant(phone=phone)
    # Inside WeChat, the (local) Official Account authorisation: a web identity nobody knows.
    start = client.get("/m/session/wechat/start", query_string={"next": "/m/"})
    client.get(start.headers["Location"].replace("http://localhost", ""))
    assert client.post("/m/session/token", headers=FETCH).get_json()["user"]["consultant_id"] is None
    before = len(users(app))

    response = client.post("/m/session/sms", json={"phone": phone, "code": sms_code(app, client, phone)},
                           headers=FETCH)

    assert response.get_json()["user"]["consultant_id"] == consultant.id
    assert len(users(app)) == before - 1  # the empty web-only row is gone
    with app.app_context():
        linked = db.session.scalar(select(WechatUser).where(WechatUser.openid == consultant.openid))
        assert linked.oa_openid == "oa-wechat-web"
    # Next time, WeChat alone signs him in as the consultant.
    client.post("/m/session/sign-out", headers=FETCH)
    start = client.get("/m/session/wechat/start")
    client.get(start.headers["Location"].replace("http://localhost", ""))
    assert client.post("/m/session/token", headers=FETCH).get_json()["user"]["consultant_id"] == consultant.id


def test_a_phone_sign_in_from_another_consultants_session_links_nothing(app, client, world):
    first_phone, second_phone = world.next_phone(), world.next_phone()
    first = world.operating_consultant(phone=first_phone)
    second = world.operating_consultant(phone=second_phone)
    dev_sign_in(client, first.openid)

    response = client.post("/m/session/sms", json={"phone": second_phone,
                                                   "code": sms_code(app, client, second_phone)}, headers=FETCH)

    assert response.get_json()["user"]["consultant_id"] == second.id
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WechatUser).where(
            WechatUser.oa_openid.is_not(None))) == 0
    assert client.get("/api/mp/v1/consultants/me", headers=first.auth).status_code == 200  # untouched


# --- the pages ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/m/", "/m/signin", "/m/join", "/m/projects", "/m/projects/1", "/m/register",
                                  "/m/registrations/3", "/m/visits/4", "/m/links/5", "/m/deals/6", "/m/me"])
def test_every_page_is_a_shell_with_a_strict_content_security_policy(client, path):
    response = client.get(path)

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1' in html
    assert "<script>" not in html and " style=" not in html and "onclick" not in html
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"


def test_an_unknown_page_is_a_chinese_404_page(client):
    response = client.get("/m/nowhere")
    assert response.status_code == 404
    assert "页面不存在" in response.get_data(as_text=True)


def test_the_script_and_styles_are_served_by_the_app(client):
    for asset in ("app.js", "app.css", "icon.svg"):
        assert client.get(f"/m/static/{asset}").status_code == 200
    html = client.get("/m/").get_data(as_text=True)
    assert "http://" not in html and "https://" not in html  # nothing from a CDN


def test_the_join_page_prefills_the_inviter_code_from_the_link(client):
    assert 'data-invite="ABCD2345"' in client.get("/m/join?invite=ABCD2345").get_data(as_text=True)
    assert 'data-invite=""' in client.get("/m/join?invite=%3Cscript%3E").get_data(as_text=True)


def test_the_demo_fills_every_page_of_the_demo_consultants_day(app, client):
    from estate_platform.demo import load_demo
    with app.app_context():
        load_demo(db.session, now=utcnow(), encryption_key=app.config["PAYOUT_ENCRYPTION_KEY"])
        db.session.commit()
    token = dev_sign_in(client, "demo-consultant-1").get_json()["token"]

    def get(path):
        response = client.get("/api/mp/v1" + path, headers=bearer(token))
        assert response.status_code == 200, (path, response.get_json())
        return response.get_json()

    assert [h["status"] for h in get("/handoffs?role=received")["items"]] == ["offered"]
    open_registrations = get("/registrations?status=reported")["items"]
    visits = [v for r in open_registrations for v in get(f"/registrations/{r['id']}/visits")]
    assert [v["status"] for v in visits] == ["scheduled", "scheduled"]  # tomorrow's, and one within the hour
    assert get("/visits?status=scheduled")["total"] == 2
    assert any(hours_left(r["protected_until"]) <= 7 * 24 for r in open_registrations)
    assert any(c["next_contact_at"] for c in get("/clients")["items"])
    assert get("/invite-links")["total"] == 1
    [deal] = get("/deals")["items"]
    assert deal["commission_recognised"] is True
    assert get(f"/deals/{deal['id']}/commission")["lines"]
    earnings = get("/earnings")
    assert earnings["pending_cents"] > 0 and earnings["history"]
    assert get("/notifications")["unread"] > 0
    assert get("/team")["size"] > 0
    # The guards' pages (issue 17): a dispute to answer, credit history, a cancellation to object to.
    [dispute] = get("/disputes")["items"]
    assert dispute["my_role"] == "respondent" and dispute["can_answer"] is True
    credit = get("/credit")
    assert len(credit["events"]) == 3 and credit["score"] == 80 + 1 - 5 + 1
    [request] = get("/deal-requests?status=pending")["items"]
    assert request["kind"] == "cancel" and request["deal_id"] == deal["id"]
    assert get("/team/leaderboard?period=all")["me"]["deals"] == 1
    [account] = get("/payout-accounts")["items"]
    assert account["status"] == "verified" and account["account_number_masked"].endswith("5678")


def hours_left(iso: str) -> float:
    from datetime import datetime
    return (datetime.fromisoformat(iso) - utcnow()).total_seconds() / 3600


def test_a_consultant_known_only_through_the_web_pages_keeps_his_inbox_but_gets_no_mini_program_message(app, client,
                                                                                                          world):
    from estate_platform.notifications.models import Notification
    from estate_platform.notifications.services import notify
    start = client.get("/m/session/wechat/start")
    client.get(start.headers["Location"].replace("http://localhost", ""))  # the local web authorisation
    token = client.post("/m/session/token", headers=FETCH).get_json()["token"]
    consultant_id = apply(client, token, world.next_phone())
    outbox = app.extensions["adapters"].notify.outbox
    outbox.clear()

    with app.app_context():
        notify(db.session, consultant_id, "registration_accepted", "周先生已报备", now=utcnow())
        commit(db.session)  # delivery runs (eagerly in tests) once the unit of work committed
        row = db.session.scalar(select(Notification).where(Notification.consultant_id == consultant_id))
        assert (row.delivered_at, row.delivery_error) == (None, "no_mini_program_openid")
    assert outbox == []
    inbox = client.get("/api/mp/v1/notifications", headers=bearer(token)).get_json()
    assert [n["body"] for n in inbox["items"]] == ["周先生已报备"]
