"""The consultant app's buy-back pages (佣金垫付, issue 17 on issue 13 §1), on a 390 × 844 phone in Chromium.

A consultant with two recognised, pending commission lines finds 佣金垫付 from his earnings and
from "me", ticks one line and gets a quote with every fee in plain Chinese (face, days to the
developer's payment, discount, minimum fee, advance, remainder, the annual rate as a percentage,
the countdown and the terms with recourse), requests it after agreeing to the terms and sees it
pending; requests the other one and cancels it (with a confirm). Asked for more than his limit
allows, he reads the refusal with the amount still available. Every page is photographed,
checked not to scroll sideways and to have no tap target under 44 px; no console error, no 5xx,
no request leaving the app, and the only refused call is the one the story expects.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_consultant_app_browser import (  # noqa: F401 (the fixtures phones and patient_expectations)
    SMALL_TAP_TARGETS, patient_expectations, phones, sign_in)
from tests.integration.test_buyback import MP, set_settings, signed_line

pytestmark = pytest.mark.chromium


def yuan(cents: int) -> str:
    return f"¥{cents // 100:,}.{cents % 100:02d}"


def percent(bps: int) -> str:
    return f"{bps // 100}.{bps % 100:02d}%"


def test_a_consultant_quotes_requests_and_cancels_a_buyback_on_his_phone(phones, world):
    first = signed_line(world)                                                         # ¥60,000
    second = signed_line(world, consultant=first.consultant, project_id=first.project_id,
                         price_cents=100_000_000)                                      # ¥20,000
    seller = first.consultant
    phone = phones("buyback")
    tab = sign_in(phone, seller.openid)

    # The way in: from his earnings, and from "me".
    tab.goto("/m/earnings")
    expect(tab.get_by_role("link", name="佣金垫付")).to_be_visible()
    tab.goto("/m/me")
    tab.locator(".grid-links").get_by_role("link", name="佣金垫付").tap()
    tab.wait_for_url(re.compile(r"/m/buyback$"))
    lines = tab.locator("#bb-lines .item")
    expect(lines).to_have_count(2)
    expect(tab.locator("#bb-refusal")).to_be_hidden()
    expect(tab.get_by_role("button", name="获取报价")).to_be_disabled()
    phone.snap("60-buyback-lines")

    # A quote on the first line: every fee, as the API priced it, in plain Chinese.
    tab.locator(f'[data-line-id="{first.line_id}"] input').check()
    expect(tab.locator("#bb-picked-sum")).to_have_text(yuan(first.face_cents))
    with tab.expect_response(lambda r: r.url.endswith(f"{MP}/buyback/quotes")) as answer:
        tab.get_by_role("button", name="获取报价").tap()
    quote = answer.value.json()
    assert answer.value.status == 201, quote
    box = tab.locator("#bb-quote")
    expect(box).to_be_visible()
    expect(tab.locator("#q-face")).to_have_text(yuan(first.face_cents))
    expect(tab.locator("#q-discount")).to_have_text("-" + yuan(quote["discount_cents"]))
    expect(tab.locator("#q-advance")).to_have_text(yuan(quote["advance_cents"]))
    expect(tab.locator("#q-remainder")).to_have_text(yuan(quote["remainder_cents"]))
    expect(tab.locator("#q-min-fee")).to_contain_text(yuan(quote["min_fee_cents"]))
    expect(tab.locator("#q-annual")).to_have_text(percent(quote["equivalent_annual_bps"]))
    expect(tab.locator("#q-days")).to_contain_text(f"约 {quote['lines'][0]['days']} 天后")
    expect(tab.locator("#q-left")).to_contain_text("剩")
    expect(tab.locator("#q-terms")).to_contain_text("追索")
    expect(tab.locator("#q-lines .item")).to_have_count(1)
    assert quote["advance_cents"] + quote["discount_cents"] + quote["remainder_cents"] == first.face_cents
    phone.snap("61-buyback-quote")

    # The terms must be accepted before the request; then it is pending, listed in his requests.
    tab.get_by_role("button", name="申请垫付").tap()
    expect(tab.locator('[data-error-for="agree"]')).to_have_text("请先阅读并同意条款")
    tab.get_by_label("我已阅读条款，知悉成交退房时已垫付款项将被追索").check()
    tab.get_by_role("button", name="申请垫付").tap()
    tab.wait_for_url(re.compile(r"/m/buyback/requests"))
    pending = tab.locator("#bb-request-list .item").first
    expect(pending).to_contain_text("待审核")
    expect(pending).to_contain_text("垫付 " + yuan(quote["advance_cents"]))
    expect(pending).to_contain_text("审核中")
    phone.snap("62-buyback-requested")

    # The other line: only it is left to tick; requested, then cancelled before finance decides.
    tab.goto("/m/buyback")
    expect(lines).to_have_count(1)
    tab.locator(f'[data-line-id="{second.line_id}"] input').check()
    tab.get_by_role("button", name="获取报价").tap()
    expect(tab.locator("#q-face")).to_have_text(yuan(second.face_cents))
    tab.get_by_label("我已阅读条款，知悉成交退房时已垫付款项将被追索").check()
    tab.get_by_role("button", name="申请垫付").tap()
    tab.wait_for_url(re.compile(r"/m/buyback/requests"))
    items = tab.locator("#bb-request-list .item")
    expect(items).to_have_count(2)
    newest = items.first
    expect(newest).to_contain_text(yuan(second.face_cents))
    tab.once("dialog", lambda dialog: dialog.accept())
    newest.get_by_role("button", name="取消申请").tap()
    expect(items.first).to_contain_text("已取消")
    expect(items.first.get_by_role("button", name="取消申请")).to_have_count(0)
    expect(items.nth(1)).to_contain_text("待审核")
    phone.snap("63-buyback-cancelled")
    statuses = [r["status"] for r in world.client.get(f"{MP}/buyback/requests",
                                                      headers=seller.auth).get_json()["items"]]
    assert statuses == ["cancelled", "requested"]

    # Asked for more than his limit allows: the refusal in Chinese, with what is still available.
    set_settings(world, consultant_limit_cents=first.face_cents + 100)
    tab.goto("/m/buyback")
    tab.locator(f'[data-line-id="{second.line_id}"] input').check()
    tab.get_by_role("button", name="获取报价").tap()
    alert = tab.locator("#bb-form [data-form-error]")
    expect(alert).to_contain_text("您的垫付额度不足")
    expect(alert).to_contain_text("当前可用额度 ¥1.00")
    expect(tab.locator("#bb-quote")).to_be_hidden()
    phone.snap("64-buyback-refused")

    assert phone.problems == []
    assert phone.refused == [(409, "POST", f"{MP}/buyback/quotes")]


@pytest.mark.parametrize("width", [360, 414])
def test_the_buyback_pages_and_their_links_fit_the_narrowest_and_widest_phones(browser, live_server, world, width):
    sold = signed_line(world)
    quoted = world.client.post(f"{MP}/buyback/quotes", json={"line_ids": [sold.line_id]}, headers=sold.consultant.auth)
    made = world.client.post(f"{MP}/buyback/requests", json={"quote_id": quoted.get_json()["id"]},
                             headers=sold.consultant.auth)
    assert made.status_code == 201, made.get_json()
    context = browser.new_context(viewport={"width": width, "height": 800}, is_mobile=True, has_touch=True,
                                  locale="zh-CN", timezone_id="Asia/Shanghai", base_url=live_server.url)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        tab.goto("/m/signin")
        tab.get_by_label("openid").fill(sold.consultant.openid)
        tab.get_by_role("button", name="以 dev 身份登录").tap()
        tab.wait_for_url(re.compile(r"/m/$"))
        for path in ("/m/buyback", "/m/buyback/requests", "/m/earnings", "/m/me"):
            tab.goto(path)
            tab.wait_for_load_state("networkidle")
            expect(tab.locator(".state.loading:visible")).to_have_count(0)
            assert tab.evaluate("document.documentElement.scrollWidth") <= width, path
            assert tab.evaluate(SMALL_TAP_TARGETS) == [], path
            if path == "/m/buyback/requests":
                expect(tab.locator("#bb-request-list .item")).to_contain_text("待审核")
                expect(tab.get_by_role("button", name="取消申请")).to_be_visible()
    finally:
        context.close()
    assert errors == []
