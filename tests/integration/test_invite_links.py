"""Invite links (邀请/打标): making them, opening them, and tying a buyer's sign-up,
registration and visit to the link that brought him (first touch, per-project window).

Each buyer's browser is its own test client (its own cookie jar, a phone's user
agent), so "the same visitor" and "another device" are what they are in real life.
Opening a link is what a phone does: fetch the page, then run its script, which
reports the open (tests/integration/test_invite_open_counting.py proves that
fetching alone, by crawlers and link previews, counts nothing).
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from estate_platform.invites import qr
from estate_platform.invites import services as invites
from estate_platform.invites.models import Attribution, InviteLink, LinkOpen
from tests.conftest import now

from . import openapi_helpers as oa

LINKS = "/api/mp/v1/invite-links"
SCENE = re.compile(r"[\x21-\x7e]{1,32}")  # what wxacode accepts: at most 32 visible ASCII characters
FORM_TOKEN = re.compile(r'name="form_token" value="([0-9a-f]{64})"')
PAGE_TOKEN = re.compile(r'data-page-token="([0-9a-f]{64})"')
IPHONE_SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Version/17.0 Mobile/15E148 Safari/604.1")
SUCCESS = "已提交，顾问将尽快联系您"


# --- helpers ------------------------------------------------------------------------------------

def make_link(client, consultant, *, channel="moments", project_id=None, expect=201) -> dict:
    body = {"channel": channel} if project_id is None else {"channel": channel, "project_id": project_id}
    response = client.post(LINKS, json=body, headers=consultant.auth)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


class Browser:
    """One buyer's phone: its own cookies (the visitor id), talking to the app."""

    def __init__(self, app, user_agent: str = IPHONE_SAFARI):
        self.app = app
        self.client = app.test_client()
        self.client.environ_base["HTTP_USER_AGENT"] = user_agent
        self.pages: dict[str, str] = {}

    def open(self, link: dict, *, referrer: str = "", **headers):
        """Fetch the page and, as its script does once it is shown, report the open."""
        response = self.client.get(f"/i/{link['token']}", headers=headers)
        self.pages[link["token"]] = response.get_data(as_text=True)
        if response.status_code == 200:
            beacon = self.report_open(link, referrer=referrer)
            assert beacon.status_code == 204, beacon.get_data(as_text=True)
        return response

    def report_open(self, link: dict, *, referrer: str = "", **headers):
        """The beacon of open.js: the page token of the page last shown, the cookie, same origin."""
        page_token = PAGE_TOKEN.search(self.pages[link["token"]]).group(1)
        headers = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin", **headers}
        return self.client.post(f"/i/{link['token']}/open", data={"page_token": page_token, "referrer": referrer},
                                headers={name: value for name, value in headers.items() if value is not None})

    def send_code(self, phone: str) -> str:
        response = self.client.post("/api/mp/v1/auth/sms/send", json={"phone": phone})
        assert response.status_code == 200, response.get_json()
        return self.app.extensions["adapters"].sms.last_code("+86" + phone)

    def submit(self, link: dict, phone: str, /, *, name: str = "周先生", code: str | None = None, **fields):
        """Fill the form of the page last opened for ``link`` and submit it."""
        form_token = FORM_TOKEN.search(self.pages[link["token"]]).group(1)
        if code is None:
            code = self.send_code(phone)
        data = {"form_token": form_token, "name": name, "phone": phone, "sms_code": code, **fields}
        return self.client.post(f"/i/{link['token']}/signup", data=data)


@pytest.fixture
def browser(app):
    return lambda **kwargs: Browser(app, **kwargs)


def stats(client, consultant, link: dict) -> dict:
    response = client.get(f"{LINKS}/{link['id']}/stats", headers=consultant.auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def registrations_of(client, consultant) -> list[dict]:
    response = client.get("/api/mp/v1/registrations", headers=consultant.auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def rows(app, model, *where):
    from estate_platform.db import db
    with app.app_context():
        found = db.session.scalars(select(model).where(*where).order_by(model.id)).all()
        db.session.expunge_all()
        return found


def age_opens(app, days: int) -> None:
    """Move every recorded open ``days`` into the past (the buyer opened the link then)."""
    from estate_platform.db import db
    with app.app_context():
        for row in db.session.scalars(select(LinkOpen)):
            row.opened_at = row.opened_at - timedelta(days=days)
        db.session.commit()


# --- making links ---------------------------------------------------------------------------------

def test_a_link_has_an_unguessable_token_a_share_url_a_wxacode_scene_and_qr_codes(client, world):
    consultant = world.operating_consultant(name="张顾问")
    project_id = world.project(name="滨江壹号")

    first = make_link(client, consultant, channel="poster", project_id=project_id)
    second = make_link(client, consultant, channel="poster", project_id=project_id)

    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", first["token"]), first["token"]  # 128 random bits
    assert first["share_url"] == f"http://localhost/i/{first['token']}"
    assert SCENE.fullmatch(first["scene"]), first["scene"]
    assert {first["token"], first["scene"]}.isdisjoint({second["token"], second["scene"]})
    assert first["project"]["name"] == "滨江壹号"
    assert (first["channel"], first["channel_label"], first["active"]) == ("poster", "海报", True)

    svg = client.get(first["qr_svg_url"], headers=consultant.auth)
    png = client.get(first["qr_png_url"], headers=consultant.auth)
    assert (svg.status_code, svg.mimetype) == (200, "image/svg+xml")
    assert (png.status_code, png.mimetype) == (200, "image/png")
    # Both encode exactly the share URL (the encoder is deterministic).
    assert svg.data == qr.render(first["share_url"], "svg") and svg.data.startswith(b"<svg")
    assert png.data == qr.render(first["share_url"], "png") and png.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert png.data != qr.render(second["share_url"], "png")


def test_a_link_without_a_project_is_the_consultants_own_card(client, world):
    consultant = world.operating_consultant()
    link = make_link(client, consultant, channel="chat")
    assert link["project"] is None and link["channel_label"] == "微信私聊"


def test_qr_images_are_documented_as_binary_with_their_content_types(client):
    spec = oa.load_spec(client, oa.MP)
    for suffix, content_type in (("svg", "image/svg+xml"), ("png", "image/png")):
        ok = spec["paths"][f"{LINKS}/{{link_id}}/qr.{suffix}"]["get"]["responses"]["200"]
        assert ok["content"] == {content_type: {"schema": {"type": "string", "format": "binary"}}}


@pytest.mark.parametrize("body, status, code", [
    ({"channel": "tiktok"}, 422, "validation_error"),
    ({"channel": "moments", "project_id": 999_999}, 404, "project_not_found"),
    ({"channel": "moments", "project_id": "paused"}, 409, "project_not_accepting"),
    ({"channel": "moments", "project_id": "sold_out"}, 409, "project_not_accepting"),
])
def test_a_link_for_an_unknown_or_closed_project_is_refused(client, world, counts, body, status, code):
    consultant = world.operating_consultant()
    if isinstance(body.get("project_id"), str):
        body = {**body, "project_id": world.project(status=body["project_id"])}
    before = counts()
    response = client.post(LINKS, json=body, headers=consultant.auth)
    oa.assert_error_envelope(response, status, code)
    assert counts() == before


@pytest.mark.parametrize("who, status, code", [
    ("pending", 403, "consultant_inactive"),
    ("not_applied", 404, "consultant_not_applied"),
])
def test_only_an_operating_consultant_makes_links(client, world, counts, who, status, code):
    if who == "pending":
        headers = world.apply().auth
    else:
        headers = {"Authorization": f"Bearer {world.wechat_login()[0]}"}
    before = counts()
    response = client.post(LINKS, json={"channel": "moments"}, headers=headers)
    oa.assert_error_envelope(response, status, code)
    assert counts() == before


# --- whose links -----------------------------------------------------------------------------------

@pytest.mark.parametrize("method, suffix", [("GET", ""), ("GET", "/stats"), ("GET", "/qr.svg"), ("GET", "/qr.png"),
                                            ("DELETE", "")])
def test_a_consultant_cannot_read_or_change_another_consultants_link(client, world, counts, method, suffix):
    owner = world.operating_consultant(name="王顾问")
    other = world.operating_consultant(name="李顾问")
    link = make_link(client, owner, project_id=world.project())
    before = counts()

    response = client.open(f"{LINKS}/{link['id']}{suffix}", method=method, headers=other.auth)

    oa.assert_error_envelope(response, 404, "invite_link_not_found")
    assert counts() == before
    assert client.get(f"{LINKS}/{link['id']}", headers=owner.auth).get_json()["active"] is True
    assert client.get(LINKS, headers=other.auth).get_json()["total"] == 0


def test_the_list_shows_only_own_links_newest_first_with_their_funnel_and_filters(client, world, browser):
    consultant = world.operating_consultant()
    other = world.operating_consultant()
    project_id = world.project()
    moments = make_link(client, consultant, channel="moments", project_id=project_id)
    poster = make_link(client, consultant, channel="poster")
    make_link(client, other, channel="moments")
    browser().open(moments)
    browser().open(moments)

    page = client.get(LINKS, headers=consultant.auth).get_json()
    assert page["total"] == 2
    assert [item["link"]["id"] for item in page["items"]] == [poster["id"], moments["id"]]
    assert page["items"][1]["stats"] == {"link_id": moments["id"], "opens": 2, "unique_visitors": 2, "signups": 0,
                                         "registrations": 0, "visits": 0, "deals": 0, "gmv_cents": 0}

    by_channel = client.get(LINKS, query_string={"channel": "poster"}, headers=consultant.auth).get_json()
    assert [item["link"]["id"] for item in by_channel["items"]] == [poster["id"]]
    by_project = client.get(LINKS, query_string={"project_id": project_id}, headers=consultant.auth).get_json()
    assert [item["link"]["id"] for item in by_project["items"]] == [moments["id"]]
    second_page = client.get(LINKS, query_string={"per_page": 1, "page": 2}, headers=consultant.auth).get_json()
    assert [item["link"]["id"] for item in second_page["items"]] == [moments["id"]]


def test_a_disabled_link_keeps_its_history_and_shows_buyers_a_clear_page(client, world, browser, app):
    consultant = world.operating_consultant()
    link = make_link(client, consultant, project_id=world.project())
    browser().open(link)

    response = client.delete(f"{LINKS}/{link['id']}", headers=consultant.auth)
    assert response.status_code == 200 and response.get_json()["active"] is False
    disabled_at = response.get_json()["disabled_at"]
    again = client.delete(f"{LINKS}/{link['id']}", headers=consultant.auth)
    assert again.get_json()["disabled_at"] == disabled_at  # idempotent

    page = browser().open(link)
    assert page.status_code == 404 and "链接无效或已失效" in page.get_data(as_text=True)
    assert stats(client, consultant, link)["opens"] == 1


# --- opening a link ----------------------------------------------------------------------------------

def test_the_page_counts_nothing_until_its_script_reports_the_open_with_the_visitors_details(
        app, client, world, browser):
    consultant = world.operating_consultant(name="陈顾问", kind="company", company_name="安居地产")
    link = make_link(client, consultant, channel="group", project_id=world.project(name="江岸花园"))
    buyer = browser(user_agent="Mozilla/5.0 (iPhone) MicroMessenger/8.0")

    response = buyer.client.get(f"/i/{link['token']}", headers={"Referer": "https://weixin.qq.com/"})

    assert response.status_code == 200 and response.mimetype == "text/html"
    html = buyer.pages[link["token"]] = response.get_data(as_text=True)
    for text in ("江岸花园", "陈顾问", "安居地产", "获取验证码", "预约到访日期", 'property="og:title"'):
        assert text in html
    assert response.headers["Cache-Control"] == "no-store"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/i" in cookie and "Max-Age=" in cookie
    assert rows(app, LinkOpen) == []  # shown is not seen: the page's script says when it was

    assert buyer.report_open(link, referrer="https://weixin.qq.com/").status_code == 204

    [opened] = rows(app, LinkOpen)
    assert opened.link_id == link["id"] and opened.channel == "group"
    assert opened.user_agent == "Mozilla/5.0 (iPhone) MicroMessenger/8.0"
    assert opened.referrer == "https://weixin.qq.com/"
    assert re.fullmatch(r"[0-9a-f]{64}", opened.ip_hash) and "127.0.0.1" not in opened.ip_hash
    assert opened.ip_hash == invites.hash_ip("127.0.0.1", app.config["SECRET_KEY"])
    assert opened.ip_hash != invites.hash_ip("127.0.0.1", "another-secret")

    buyer.open(link)  # the same phone again: same visitor
    browser().open(link)  # someone else
    assert len({row.visitor_id for row in rows(app, LinkOpen)}) == 2
    assert stats(client, consultant, link) | {"link_id": 0} == {
        "link_id": 0, "opens": 3, "unique_visitors": 2, "signups": 0, "registrations": 0, "visits": 0, "deals": 0,
        "gmv_cents": 0}


@pytest.mark.parametrize("token", ["unknown", "tampered", "truncated", "../../etc/passwd", "x" * 300, "",
                                   "a/b", "%3Cscript%3E", "suspended"])
def test_an_unknown_tampered_or_dead_link_shows_a_clear_page_and_records_nothing(client, world, counts, app,
                                                                                 token):
    consultant = world.operating_consultant()
    link = make_link(client, consultant, project_id=world.project())
    real = link["token"]
    token = {"unknown": "AAAAAAAAAAAAAAAAAAAAAA", "tampered": real[:-1] + ("A" if real[-1] != "A" else "B"),
             "truncated": real[:-3], "suspended": real}.get(token, token)
    if token == real:
        response = client.post(f"/admin/api/v1/consultants/{consultant.id}/suspend", json={"reason": "投诉核查中"},
                               headers=world.staff_auth("operations"))
        assert response.status_code == 200, response.get_json()
    before = counts()

    response = client.get(f"/i/{token}")

    assert response.status_code == 404 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "链接无效或已失效" in html and "请联系分享给您的顾问" in html
    oa.assert_no_leak(html, f"/i/{token}")
    assert "Set-Cookie" not in response.headers
    assert counts() == before


def test_an_unexpected_failure_on_a_landing_page_is_a_chinese_page_and_records_nothing(client, world, counts,
                                                                                        browser, monkeypatch):
    from estate_platform.db import db
    from mini_program_api import h5

    link = make_link(client, world.operating_consultant(), project_id=world.project())
    buyer = browser()
    buyer.open(link)
    real_count = invites.count_open

    def count_then_fail(*args, **kwargs):
        real_count(*args, **kwargs)
        db.session.flush()
        raise RuntimeError("SELECT secret FROM link_opens")

    monkeypatch.setattr(h5.invites, "count_open", count_then_fail)
    before = counts()
    beacon = buyer.report_open(link)

    assert beacon.status_code == 500 and "secret" not in beacon.get_data(as_text=True)
    assert counts() == before

    def fail(*args, **kwargs):
        raise RuntimeError("SELECT secret FROM invite_links")

    monkeypatch.setattr(h5.invites, "landing_link", fail)
    response = client.get(f"/i/{link['token']}")

    assert response.status_code == 500 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "页面暂时无法打开" in html and "secret" not in html
    oa.assert_no_leak(html)
    assert counts() == before


def test_a_signup_posted_to_a_dead_link_is_the_same_clear_page(client, counts):
    before = counts()
    response = client.post("/i/AAAAAAAAAAAAAAAAAAAAAA/signup", data={"name": "周先生", "phone": "13912345678"})
    assert response.status_code == 404 and "链接无效或已失效" in response.get_data(as_text=True)
    assert counts() == before


# --- signing up from a link -----------------------------------------------------------------------------

def test_signing_up_on_a_project_link_registers_the_buyer_for_the_consultant_with_the_link_as_source(
        app, client, world, browser):
    consultant = world.operating_consultant(name="赵顾问")
    project_id = world.project(name="城南新苑")
    link = make_link(client, consultant, project_id=project_id)
    buyer, phone = browser(), world.next_buyer_phone()
    buyer.open(link)
    [opened] = rows(app, LinkOpen)

    response = buyer.submit(link, phone, name="孙女士", visit_date=(now() + timedelta(days=3)).date().isoformat())

    assert response.status_code == 200, response.get_data(as_text=True)
    assert SUCCESS in response.get_data(as_text=True)
    [registration] = registrations_of(client, consultant)
    assert (registration["buyer_name"], registration["buyer_phone"]) == ("孙女士", phone)
    assert registration["source_link_id"] == link["id"] and registration["project"]["id"] == project_id
    assert registration["expected_visit_at"] is not None
    [attribution] = rows(app, Attribution)
    assert (attribution.link_id, attribution.consultant_id, attribution.project_id) == (
        link["id"], consultant.id, project_id)
    assert opened.opened_at == attribution.first_opened_at < attribution.attributed_at
    assert attribution.expires_at == attribution.attributed_at + timedelta(days=30)  # the default window
    assert stats(client, consultant, link) == {"link_id": link["id"], "opens": 1, "unique_visitors": 1,
                                               "signups": 1, "registrations": 1, "visits": 0, "deals": 0,
                                               "gmv_cents": 0}


def test_a_link_without_a_project_signs_the_buyer_up_without_registering_him(app, client, world, browser):
    consultant = world.operating_consultant()
    link = make_link(client, consultant, channel="chat")
    buyer = browser()
    buyer.open(link)
    assert "预约到访日期" not in buyer.pages[link["token"]]

    response = buyer.submit(link, world.next_buyer_phone())

    assert response.status_code == 200 and SUCCESS in response.get_data(as_text=True)
    [attribution] = rows(app, Attribution)
    assert attribution.project_id is None and attribution.link_id == link["id"]
    assert registrations_of(client, consultant) == []
    assert stats(client, consultant, link)["signups"] == 1


def test_the_first_link_opened_wins_over_the_link_signed_up_on(app, client, world, browser):
    first = world.operating_consultant(name="先到顾问")
    second = world.operating_consultant(name="后到顾问")
    project_id = world.project()
    first_link = make_link(client, first, project_id=project_id)
    second_link = make_link(client, second, project_id=project_id)
    buyer = browser()
    buyer.open(first_link)
    buyer.open(second_link)

    response = buyer.submit(second_link, world.next_buyer_phone())

    assert response.status_code == 200 and SUCCESS in response.get_data(as_text=True)
    [registration] = registrations_of(client, first)
    assert registration["source_link_id"] == first_link["id"]
    assert registrations_of(client, second) == []
    assert stats(client, first, first_link)["signups"] == 1
    assert stats(client, second, second_link) | {"link_id": 0} == {
        "link_id": 0, "opens": 1, "unique_visitors": 1, "signups": 0, "registrations": 0, "visits": 0, "deals": 0,
        "gmv_cents": 0}


@pytest.mark.parametrize("window_days, days_ago, winner", [
    (7, 6, "first"), (7, 8, "second"),        # a project's own window
    (None, 29, "first"), (None, 31, "second"),  # the default: 30 days
])
def test_an_open_older_than_the_projects_window_no_longer_counts(app, client, world, browser, window_days,
                                                                 days_ago, winner):
    project_fields = {} if window_days is None else {"attribution_window_days": window_days}
    project_id = world.project(**project_fields)
    consultants = {"first": world.operating_consultant(), "second": world.operating_consultant()}
    links = {key: make_link(client, c, project_id=project_id) for key, c in consultants.items()}
    buyer = browser()
    buyer.open(links["first"])
    age_opens(app, days_ago)
    buyer.open(links["second"])

    buyer.submit(links["second"], world.next_buyer_phone())

    [attribution] = rows(app, Attribution)
    assert attribution.link_id == links[winner]["id"]
    [registration] = registrations_of(client, consultants[winner])
    assert registration["source_link_id"] == links[winner]["id"]
    loser = "second" if winner == "first" else "first"
    assert registrations_of(client, consultants[loser]) == []


def test_an_unexpired_attribution_stays_when_the_buyer_signs_up_again_elsewhere(app, client, world, browser,
                                                                               monkeypatch):
    """到访为王: the first registration binds nobody, so only the attribution keeps the buyer."""
    monkeypatch.setitem(app.config, "SMS_PHONE_INTERVAL_SECONDS", 0)  # the same phone gets a second code
    first = world.operating_consultant(name="甲顾问")
    second = world.operating_consultant(name="乙顾问")
    project_id = world.project(protection_mode="visit_deal")
    first_link = make_link(client, first, project_id=project_id)
    second_link = make_link(client, second, project_id=project_id)
    phone = world.next_buyer_phone()
    phone_browser = browser()
    phone_browser.open(first_link)
    phone_browser.submit(first_link, phone)
    assert registrations_of(client, first)[0]["binding"] is False

    laptop = browser()  # another device: no earlier open recorded there
    laptop.open(second_link)
    response = laptop.submit(second_link, phone)

    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "您已登记过该楼盘" in html and "甲顾问" not in html
    assert [a.link_id for a in rows(app, Attribution)] == [first_link["id"]]
    assert registrations_of(client, second) == []
    assert stats(client, second, second_link)["signups"] == 0


def test_a_buyer_bound_by_an_active_registration_is_never_rebound_by_a_link(app, client, world, browser, counts):
    holder = world.operating_consultant(name="钱顾问")
    sharer = world.operating_consultant(name="孙顾问")
    project_id = world.project()
    phone = world.next_buyer_phone()
    world.register(holder, project_id, phone=phone)
    link = make_link(client, sharer, project_id=project_id)
    buyer = browser()
    buyer.open(link)
    code = buyer.send_code(phone)
    before = counts()

    response = buyer.submit(link, phone, code=code)

    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "您已登记过该楼盘" in html
    assert "钱顾问" not in html and SUCCESS not in html  # the buyer does not learn who holds him
    assert rows(app, Attribution) == []
    assert registrations_of(client, sharer) == []
    assert [r["source_link_id"] for r in registrations_of(client, holder)] == [None]
    assert counts() == before  # no attribution, no registration: only the code is marked used


def test_a_consultant_who_must_resign_the_agreement_gets_the_attribution_but_no_registration(
        app, client, world, browser):
    consultant = world.operating_consultant()
    link = make_link(client, consultant, project_id=world.project())
    world.publish_agreement("平台顾问合作协议第二版：条款更新。" * 3, title="顾问合作协议（第二版）")
    buyer = browser()
    buyer.open(link)

    response = buyer.submit(link, world.next_buyer_phone())

    assert response.status_code == 200 and "暂时无法为您在线登记" in response.get_data(as_text=True)
    assert [a.link_id for a in rows(app, Attribution)] == [link["id"]]
    assert registrations_of(client, consultant) == []


# --- the form refuses bad input -------------------------------------------------------------------

def test_a_wrong_code_is_refused_on_the_page_and_counts_as_an_attempt(app, client, world, browser):
    from estate_platform.identity.models import SmsCode

    consultant = world.operating_consultant()
    link = make_link(client, consultant, project_id=world.project())
    buyer, phone = browser(), world.next_buyer_phone()
    buyer.open(link)
    code = buyer.send_code(phone)
    wrong = "000000" if code != "000000" else "111111"

    response = buyer.submit(link, phone, code=wrong, name="吴先生")

    html = response.get_data(as_text=True)
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert "验证码错误" in html and 'value="吴先生"' in html  # what he typed is kept
    [sms] = rows(app, SmsCode)
    assert sms.attempts == 1 and sms.consumed_at is None
    assert rows(app, Attribution) == [] and registrations_of(client, consultant) == []

    buyer.pages[link["token"]] = html  # the re-rendered form carries a valid token too
    assert buyer.submit(link, phone, code=code).status_code == 200
    assert len(registrations_of(client, consultant)) == 1


@pytest.mark.parametrize("fields, named", [
    ({"name": "  "}, {"name"}),
    ({"phone": "12345"}, {"phone"}),
    ({"sms_code": "12ab"}, {"sms_code"}),
    ({"visit_date": "2020-01-01"}, {"visit_date"}),
    ({"visit_date": "明天"}, {"visit_date"}),
    ({"name": "", "phone": "1", "sms_code": ""}, {"name", "phone", "sms_code"}),
])
def test_bad_form_fields_are_each_named_on_the_page_and_change_nothing(client, world, browser, counts, fields,
                                                                       named):
    link = make_link(client, world.operating_consultant(), project_id=world.project())
    buyer = browser()
    buyer.open(link)
    before = counts()

    response = buyer.submit(link, world.next_buyer_phone(), code="123456", **fields)

    html = response.get_data(as_text=True)
    assert response.status_code == 422 and response.mimetype == "text/html"
    shown = set(re.findall(r'<p class="field-error" id="(\w+)-error">', html))
    assert shown == {{"sms_code": "code", "visit_date": "date"}.get(name, name) for name in named}
    assert counts() == before


@pytest.mark.parametrize("form_token", ["missing", "forged", "another_visitor"])
def test_a_signup_without_this_visitors_form_token_is_refused(app, client, world, browser, counts, form_token):
    link = make_link(client, world.operating_consultant(), project_id=world.project())
    buyer, phone = browser(), world.next_buyer_phone()
    buyer.open(link)
    other = browser()
    other.open(link)
    code = buyer.send_code(phone)
    data = {"name": "周先生", "phone": phone, "sms_code": code}
    if form_token == "forged":
        data["form_token"] = "0" * 64
    elif form_token == "another_visitor":
        data["form_token"] = FORM_TOKEN.search(other.pages[link["token"]]).group(1)
    before = counts()

    response = buyer.client.post(f"/i/{link['token']}/signup", data=data)

    assert response.status_code == 400 and "页面已过期" in response.get_data(as_text=True)
    assert counts() == before


# --- the funnel counts visits ------------------------------------------------------------------------

def test_stats_count_registrations_of_the_link_with_a_confirmed_visit(app, client, world, browser):
    from estate_platform.db import db
    from estate_platform.visits.models import Visit

    consultant = world.operating_consultant()
    link = make_link(client, consultant, project_id=world.project())
    for _ in range(3):
        buyer = browser()
        buyer.open(link)
        buyer.submit(link, world.next_buyer_phone())
    registered = registrations_of(client, consultant)
    with app.app_context():
        for registration, status, code in zip(registered, ("confirmed", "scheduled", "cancelled"),
                                              ("K7Q2M9P4", "K7Q2M9P5", "K7Q2M9P6")):
            db.session.add(Visit(registration_id=registration["id"], scheduled_at=now(), check_in_code=code,
                                 status=status, confirmed_at=now() if status == "confirmed" else None,
                                 confirmed_by_type="staff" if status == "confirmed" else None, created_at=now()))
        db.session.commit()

    assert stats(client, consultant, link) == {"link_id": link["id"], "opens": 3, "unique_visitors": 3,
                                               "signups": 3, "registrations": 3, "visits": 1, "deals": 0,
                                               "gmv_cents": 0}


# --- the scene and the IP hash, as values -------------------------------------------------------------

def test_scenes_are_short_visible_ascii_and_distinct():
    scenes = {invites._new_scene() for _ in range(2000)}
    assert len(scenes) == 2000
    assert all(SCENE.fullmatch(scene) and scene.startswith("i=") for scene in scenes)


def test_links_are_stored_with_the_consultant_and_channel(app, client, world):
    consultant = world.operating_consultant()
    link = make_link(client, consultant, channel="offline")
    [stored] = rows(app, InviteLink)
    assert (stored.id, stored.consultant_id, stored.channel, stored.token, stored.disabled_at) == (
        link["id"], consultant.id, "offline", link["token"], None)
