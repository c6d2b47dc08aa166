"""Buy-back in a real browser (issue 13 §1): finance approves a small request alone, a large one
with a second, different finance user (the first may not approve twice), bundles the bought lines
into a package with its printable statement, reads the book with its charts and changes a setting.
Screenshots go to the artifacts directory."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import VIEWPORT
from tests.e2e.test_admin_browser import sign_in, watch  # noqa: F401 (watch is a fixture)
from tests.integration.test_buyback import quote, request, signed_line

pytestmark = pytest.mark.chromium


def row(page: Page, request_id: int):
    return page.locator(f'tr[data-request-id="{request_id}"]')


def test_finance_approves_packages_and_reads_the_book(page: Page, browser, world, live_server, artifacts_dir,
                                                      watch):  # noqa: F811
    large = signed_line(world)                                              # ¥54,000: two approvers
    small = signed_line(world, consultant=large.consultant, project_id=large.project_id,
                        price_cents=100_000_000)                            # ¥18,000: one
    r_large = request(world, large, quote(world, large)["id"])
    r_small = request(world, small, quote(world, small)["id"])

    _, maker, password = world.staff("finance")
    sign_in(page, maker, password)
    page.get_by_role("link", name="佣金垫付", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/buyback/requests"))
    expect(page.locator("table.grid tbody tr")).to_have_count(2)
    expect(row(page, r_large["id"])).to_contain_text("须两人审核")
    page.screenshot(path=str(artifacts_dir / "buyback-queue.png"), full_page=True)

    row(page, r_small["id"]).get_by_role("button", name="通过").click()
    expect(page.locator("body")).to_contain_text(f"已通过垫付申请 #{r_small['id']}")
    row(page, r_large["id"]).get_by_role("button", name="通过").click()
    expect(page.locator("body")).to_contain_text("等待另一位财务复核")
    row(page, r_large["id"]).get_by_role("button", name="复核通过").click()
    expect(page.locator("body")).to_contain_text("不能由初审人本人复核")
    page.screenshot(path=str(artifacts_dir / "buyback-same-approver-refused.png"), full_page=True)

    _, checker, password2 = world.staff("finance")
    other = browser.new_context(viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai",
                                base_url=live_server.url)
    try:
        second = other.new_page()
        sign_in(second, checker, password2)
        second.goto("/admin/buyback/requests")
        row(second, r_large["id"]).get_by_role("button", name="复核通过").click()
        expect(second.locator("body")).to_contain_text(f"已通过垫付申请 #{r_large['id']}")
        second.goto("/admin/buyback/requests?status=approved")
        expect(second.locator("table.grid tbody tr")).to_have_count(2)
        second.screenshot(path=str(artifacts_dir / "buyback-approved.png"), full_page=True)
    finally:
        other.close()

    page.goto("/admin/buyback/packages")
    page.get_by_role("button", name="生成回款包").click()
    page.wait_for_url(re.compile(r"/admin/buyback/packages/\d+$"))
    expect(page.locator("table.grid tbody tr")).to_have_count(2)
    expect(page.locator("table.grid tfoot")).to_contain_text("¥72,000.00")   # 54,000 + 18,000
    expect(page.get_by_role("link", name="下载 Excel")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "buyback-package-statement.png"), full_page=True)

    page.get_by_role("link", name="垫付台账").click()
    page.wait_for_url(re.compile(r"/admin/buyback/book"))
    expect(page.locator("table.summary")).to_contain_text("¥72,000.00")
    expect(page.locator("svg.chart")).to_have_count(2)
    page.screenshot(path=str(artifacts_dir / "buyback-book.png"), full_page=True)

    page.get_by_role("link", name="垫付参数").click()
    page.get_by_label("年化费率（%）").fill("10.50")
    page.get_by_role("button", name="保存").click()
    expect(page.locator("body")).to_contain_text("垫付参数已保存")
    expect(page.get_by_label("年化费率（%）")).to_have_value("10.50")
    page.screenshot(path=str(artifacts_dir / "buyback-settings.png"), full_page=True)
