"""A dispute decided in a real browser: one operations member proposes the decision and
cannot approve it himself; a second approves it; the penalty is on the ledger once; the
printable evidence pack shows the verified timeline.

Chromium (Debian's, via Playwright) talks to the app over HTTP on 127.0.0.1; the market
(consultants, project, deal, dispute) is made with the factories in the same database.
Screenshots go to the artifacts directory.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from estate_platform.ledger.models import LedgerTransaction
from tests.e2e.test_admin_browser import sign_in, watch  # noqa: F401 (watch is a fixture)
from tests.integration.dispute_scene import build_market, run

pytestmark = pytest.mark.chromium


def test_operations_propose_a_decision_and_a_second_member_approves_it(
        page: Page, browser, world, live_server, artifacts_dir, watch):  # noqa: F811
    market = build_market(world)
    _, maker, maker_password = world.staff("operations", username="ops-li")
    _, checker, checker_password = world.staff("operations", username="ops-wang")

    sign_in(page, maker, maker_password)
    page.get_by_role("link", name="争议", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/disputes/$"))
    expect(page.get_by_role("heading", name="争议处理")).to_be_visible()
    expect(page.locator("table.grid tbody tr")).to_have_text(["暂无争议"])

    # Open a dispute about 甲's deal on the form.
    page.get_by_role("link", name="立案").click()
    page.get_by_label("成交编号").fill(str(market.deal))
    page.get_by_label("事由").fill("报备了未服务的客户")
    page.get_by_label("说明").fill("客户称全程由另一位顾问接待。\n有聊天记录为证。")
    page.get_by_role("button", name="立案").click()
    page.wait_for_url(re.compile(r"/admin/disputes/\d+$"))
    expect(page.get_by_role("status")).to_contain_text("已立案：争议 #")
    expect(page.locator("#dispute-status")).to_have_text("待处理")
    expect(page.locator("#terms")).to_contain_text("¥120,000.00")  # 2× the ¥60,000 commission at stake

    page.get_by_role("button", name="开始调查").click()
    expect(page.locator("#dispute-status")).to_have_text("调查中")
    page.locator("#propose-form select[name=outcome]").select_option("upheld")
    page.get_by_label("理由").fill("客户回访确认由乙接待，甲未服务")
    page.get_by_label(re.compile("改判成交顾问编号")).fill(str(market.yi.id))
    page.get_by_role("button", name="提出建议").click()
    expect(page.get_by_role("status")).to_contain_text("须由另一位运营或管理员审批后生效")
    # The maker sees no approve button: his own proposal waits for someone else.
    expect(page.get_by_role("button", name="审批通过，裁决生效")).to_have_count(0)
    expect(page.locator("#approve-hint")).to_have_text("您提出的建议须由另一位运营或管理员审批。")
    page.screenshot(path=str(artifacts_dir / "dispute-proposed.png"), full_page=True)

    # The checker, in a session of his own, approves it.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai", base_url=live_server.url)
    other = context.new_page()
    sign_in(other, checker, checker_password)
    other.goto(page.url.replace(live_server.url, ""))
    expect(other.locator("#decisions")).to_contain_text("运营")
    expect(other.locator("#decisions")).to_contain_text("¥120,000.00")
    other.get_by_role("button", name="审批通过，裁决生效").click()
    expect(other.get_by_role("status")).to_have_text("裁决已生效：争议成立")
    expect(other.locator("#dispute-status")).to_have_text("成立")
    expect(other.locator(".decision-approved")).to_contain_text("已审批生效")
    expect(other.locator(".decision-approved")).to_contain_text("改判成交顾问")
    expect(other.get_by_role("button", name="提出建议")).to_have_count(0)  # decided is final
    other.screenshot(path=str(artifacts_dir / "dispute-decided.png"), full_page=True)

    with other.expect_popup() as popup:
        other.get_by_role("link", name="证据包（可打印）").click()
    pack = popup.value
    pack.wait_for_load_state()
    expect(pack.get_by_role("heading", name=re.compile("争议证据包"))).to_be_visible()
    expect(pack.locator("#verification")).to_have_text("全部校验通过")
    expect(pack.locator("table.timeline tbody tr").first).to_contain_text("报备")
    expect(pack.locator("table.timeline")).to_contain_text("改判成交顾问")
    expect(pack.locator("#buyer-phone")).to_have_text(re.compile(r"^\d{3}\*{4}\d{4}$"))
    expect(pack.locator("[data-section=revisits]")).to_have_text("暂无")
    pack.screenshot(path=str(artifacts_dir / "dispute-evidence-pack.png"), full_page=True)
    context.close()

    penalties = run(world.app, lambda s: s.scalar(select(func.count()).select_from(LedgerTransaction)
                                                  .where(LedgerTransaction.kind == "dispute_penalty")))
    assert penalties == 1
