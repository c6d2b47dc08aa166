"""The buyer's landing page (/i/<token>) on a phone, in Debian's Chromium.

A consultant makes a link over the API; the buyer opens it at 390×844, asks for
an SMS code, submits name, phone, code and a visit day; the registration then
appears in the consultant's own list with the link as its source. The open is
counted once, by the page's own script after the page was shown (a real browser
load), never by fetching the page. Screenshots go to the artifacts directory for
people to look at.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from estate_platform.clock import local_date
from estate_platform.invites.models import Attribution, LinkOpen
from tests.conftest import now

pytestmark = pytest.mark.chromium

PHONE_VIEWPORT = {"width": 390, "height": 844}
WECHAT_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN")


@pytest.fixture
def phone(browser, live_server):
    """A phone-sized, touch, Chinese-locale tab with the WeChat in-app browser's user agent."""
    context = browser.new_context(viewport=PHONE_VIEWPORT, is_mobile=True, has_touch=True, device_scale_factor=2,
                                  user_agent=WECHAT_IPHONE, locale="zh-CN", timezone_id="Asia/Shanghai",
                                  base_url=live_server.url)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def watch(phone: Page, live_server):
    """What must never happen: a JS error, a 5xx, or a request leaving the app (no CDN)."""
    problems: list[str] = []
    phone.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    phone.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 500 else None)
    phone.on("request", lambda r: problems.append(f"external {r.url}")
             if not r.url.startswith((live_server.url, "data:")) else None)
    yield problems
    assert problems == []


def rows(app, model):
    from estate_platform.db import db
    with app.app_context():
        found = db.session.scalars(select(model).order_by(model.id)).all()
        db.session.expunge_all()
        return found


def assert_fits_the_phone(tab: Page) -> None:
    width = tab.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_VIEWPORT["width"], f"the page scrolls sideways: {width}px"
    font = tab.evaluate("getComputedStyle(document.body).fontFamily")
    assert "Noto Sans CJK SC" in font, font


def test_a_buyer_opens_a_link_on_his_phone_signs_up_and_lands_in_the_consultants_list(
        phone, watch, world, client, app, live_server, artifacts_dir):
    consultant = world.operating_consultant(name="林晓", kind="company", company_name="安家置业建邺店")
    project_id = world.project(name="滨江·悦府", district="建邺区", address="江东中路 168 号",
                               description="地铁 2 号线旁，建面 89–143㎡ 三至四居。",
                               price_min_cents=320_000_000, price_max_cents=560_000_000)
    response = client.post("/api/mp/v1/invite-links", json={"channel": "moments", "project_id": project_id},
                           headers=consultant.auth)
    assert response.status_code == 201, response.get_json()
    link = response.get_json()
    buyer_phone = world.next_buyer_phone()

    with phone.expect_response(lambda r: r.url.endswith(f"/i/{link['token']}/open")) as beacon:
        landing = phone.goto(f"/i/{link['token']}")

    assert landing.status == 200
    assert beacon.value.status == 204 and beacon.value.request.method == "POST"
    expect(phone).to_have_title(re.compile("滨江·悦府"))
    expect(phone.get_by_role("heading", name="滨江·悦府")).to_be_visible()
    expect(phone.get_by_text("320–560")).to_be_visible()
    consultant_card = phone.get_by_label("顾问名片")
    expect(consultant_card).to_contain_text("林晓")
    expect(consultant_card).to_contain_text("安家置业建邺店")
    # The page's script counted the open before the buyer typed anything: exactly one.
    [opened] = rows(app, LinkOpen)
    assert opened.link_id == link["id"] and opened.channel == "moments" and "MicroMessenger" in opened.user_agent
    assert rows(app, Attribution) == []
    assert_fits_the_phone(phone)
    phone.screenshot(path=str(artifacts_dir / "h5-landing.png"), full_page=True)

    phone.get_by_label("姓名").fill("周先生")
    phone.get_by_label("手机号").fill(buyer_phone)
    send = phone.get_by_role("button", name="获取验证码")
    with phone.expect_response(lambda r: r.url.endswith("/api/mp/v1/auth/sms/send")) as sent:
        send.tap()
    assert sent.value.status == 200
    expect(phone.get_by_role("status")).to_contain_text("验证码已发送")
    expect(phone.locator("#send-code")).to_be_disabled()
    expect(phone.locator("#send-code")).to_contain_text("秒后重发")
    code = app.extensions["adapters"].sms.last_code("+86" + buyer_phone)
    assert code and re.fullmatch(r"\d{6}", code)
    phone.get_by_label("短信验证码").fill(code)
    visit_day = local_date(now()) + timedelta(days=2)
    phone.get_by_label("预约到访日期").fill(visit_day.isoformat())
    phone.screenshot(path=str(artifacts_dir / "h5-landing-filled.png"), full_page=True)

    with phone.expect_navigation():
        phone.get_by_role("button", name="提交").tap()

    expect(phone.get_by_role("heading", name="已提交，顾问将尽快联系您")).to_be_visible()
    expect(phone.get_by_text("林晓")).to_have_count(0)  # who holds the buyer is not the page's business
    assert_fits_the_phone(phone)
    phone.screenshot(path=str(artifacts_dir / "h5-signup-success.png"), full_page=True)

    listed = client.get("/api/mp/v1/registrations", headers=consultant.auth).get_json()["items"]
    assert [(r["buyer_name"], r["buyer_phone"], r["source_link_id"], r["project"]["id"]) for r in listed] == [
        ("周先生", buyer_phone, link["id"], project_id)]
    [attribution] = rows(app, Attribution)
    assert attribution.link_id == link["id"]
    assert opened.opened_at == attribution.first_opened_at < attribution.attributed_at
    stats = client.get(f"/api/mp/v1/invite-links/{link['id']}/stats", headers=consultant.auth).get_json()
    assert (stats["opens"], stats["unique_visitors"], stats["signups"], stats["registrations"]) == (1, 1, 1, 1)


def test_a_real_browser_load_counts_one_open_and_a_reload_another_by_the_same_visitor(
        phone, watch, world, client, app):
    consultant = world.operating_consultant()
    link = client.post("/api/mp/v1/invite-links", json={"channel": "chat"}, headers=consultant.auth).get_json()
    # What a link preview does: fetch the page without running it. Nothing is counted.
    assert phone.request.get(f"/i/{link['token']}").status == 200
    assert rows(app, LinkOpen) == []

    for _ in range(2):
        with phone.expect_response(lambda r: r.url.endswith(f"/i/{link['token']}/open")) as beacon:
            phone.goto(f"/i/{link['token']}")
        assert beacon.value.status == 204
    phone.wait_for_timeout(300)  # a second beacon from the same load would land by now

    opens = rows(app, LinkOpen)
    assert len(opens) == 2 and len({o.visitor_id for o in opens}) == 1
    assert all("MicroMessenger" in o.user_agent for o in opens)
    stats = client.get(f"/api/mp/v1/invite-links/{link['id']}/stats", headers=consultant.auth).get_json()
    assert (stats["opens"], stats["unique_visitors"]) == (2, 1)


def test_a_mangled_link_shows_a_clear_chinese_page_on_the_phone(phone, watch, world, client, app,
                                                                 artifacts_dir):
    consultant = world.operating_consultant()
    link = client.post("/api/mp/v1/invite-links", json={"channel": "chat"}, headers=consultant.auth).get_json()
    mangled = link["token"][:-4]  # a link cut short when it was copied

    response = phone.goto(f"/i/{mangled}")

    assert response.status == 404
    assert response.headers["content-type"].startswith("text/html")
    expect(phone.get_by_role("heading", name="链接无效或已失效")).to_be_visible()
    expect(phone.get_by_text("请联系分享给您的顾问")).to_be_visible()
    expect(phone.locator("body")).not_to_contain_text("Traceback")
    assert_fits_the_phone(phone)
    assert rows(app, LinkOpen) == []
    phone.screenshot(path=str(artifacts_dir / "h5-link-unavailable.png"), full_page=True)


def test_a_friend_accepts_an_owners_referral_on_his_phone(phone, watch, world, client, app, artifacts_dir):
    """老带新: the owner's share page, SMS code through the page's own script, the referral recorded."""
    from estate_platform.db import db
    from estate_platform.identity.models import Buyer
    from estate_platform.referrals.models import ReferralEdge
    owner_phone, friend_phone = world.next_buyer_phone(), world.next_buyer_phone()
    assert client.post("/api/mp/v1/auth/sms/send", json={"phone": owner_phone}).status_code == 200
    code = app.extensions["adapters"].sms.last_code("+86" + owner_phone)
    token = client.post("/api/mp/v1/auth/sms/verify", json={"phone": owner_phone, "code": code}).get_json()["token"]
    with app.app_context():
        db.session.scalar(select(Buyer).where(Buyer.phone == "+86" + owner_phone)).name = "周先生"
        db.session.commit()
    share = client.get("/api/mp/v1/buyer/referral-code", headers={"Authorization": f"Bearer {token}"}).get_json()

    page = phone.goto(f"/r/{share['code']}")

    assert page.status == 200
    expect(phone.get_by_role("heading", name="周** 邀请您了解新房")).to_be_visible()
    assert_fits_the_phone(phone)
    phone.get_by_label("您的称呼").fill("王女士")
    phone.get_by_label("手机号").fill(friend_phone)
    with phone.expect_response(lambda r: r.url.endswith("/api/mp/v1/auth/sms/send")) as sent:
        phone.get_by_role("button", name="获取验证码").tap()
    assert sent.value.status == 200
    phone.get_by_label("短信验证码").fill(app.extensions["adapters"].sms.last_code("+86" + friend_phone))
    phone.screenshot(path=str(artifacts_dir / "h5-referral.png"), full_page=True)
    with phone.expect_navigation():
        phone.get_by_role("button", name="接受推荐").tap()

    expect(phone.get_by_role("heading", name="推荐已登记")).to_be_visible()
    [edge] = rows(app, ReferralEdge)
    assert edge.kind == "buyer_referral"
