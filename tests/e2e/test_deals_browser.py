"""The deal pages in a real browser: finance records a deal on the form, marks it 网签,
reads the commission lines and the balanced trial balance.

Chromium (Debian's, via Playwright) talks to the app over HTTP on 127.0.0.1; the
consultants, project, rule, policy and registration are made with the ``world``
factories in the same database. Screenshots go to the artifacts directory.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from estate_platform.clock import SHANGHAI
from tests.conftest import now
from tests.e2e.test_admin_browser import sign_in, watch  # noqa: F401 (watch is a fixture)

pytestmark = pytest.mark.chromium


@pytest.fixture
def market(world):
    """甲 invited 乙; 乙 registered 周先生 at 金陵府 (2% on signing; fee 10%, uplines 10% / 5%)."""
    jia = world.operating_consultant(name="甲")
    yi = world.operating_consultant(name="乙", inviter_code=jia.invite_code)
    project = world.project(name="金陵府")
    world.commission_rule(project, text="网签后按成交价 2% 结佣，30 天内回款")
    world.split_policy()
    world.register(yi, project, phone="13912345678", name="周先生")
    return {"project": project, "jia": jia, "yi": yi}


def test_finance_records_a_deal_signs_it_and_sees_the_lines_and_the_balanced_ledger(
        page: Page, world, live_server, artifacts_dir, market, watch):  # noqa: F811
    _, username, password = world.staff("finance")
    sign_in(page, username, password)

    page.get_by_role("link", name="成交", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/deals/$"))
    expect(page.get_by_role("heading", name="成交记录")).to_be_visible()
    expect(page.locator("table.grid tbody tr")).to_have_text(["暂无成交"])
    page.get_by_role("link", name="录入成交").click()
    page.wait_for_url(re.compile(r"/admin/deals/new"))

    # A price finer than a cent is refused on the form, keeping what was typed.
    page.get_by_label("楼盘").select_option(label="金陵府（南京）")
    page.get_by_label("客户手机号").fill("139 1234 5678")
    page.get_by_label("房号").fill("3栋1201")
    page.get_by_label("成交价（元）").fill("3000000.055")
    page.get_by_role("button", name="录入成交").click()
    expect(page.get_by_role("alert")).to_have_text("提交的数据有误，请按提示修改后重试")
    expect(page.locator(".field-error")).to_have_text(["以元为单位的金额最多保留两位小数"])
    expect(page.get_by_label("房号")).to_have_value("3栋1201")
    expect(page.get_by_label("客户手机号")).to_have_value("139 1234 5678")

    page.get_by_label("成交价（元）").fill("3000000.05")
    page.get_by_role("button", name="录入成交").click()
    page.wait_for_url(re.compile(r"/admin/deals/\d+$"))
    expect(page.get_by_role("status")).to_contain_text("已录入成交：金陵府 3栋1201，成交价 ¥3,000,000.05")
    expect(page.locator("h1")).to_contain_text("认购")
    expect(page.locator("h1")).to_contain_text("佣金未确认")
    expect(page.locator("#commission")).to_contain_text("佣金尚未确认：到达结佣节点（网签）后")

    page.get_by_role("button", name="标记为网签").click()
    page.wait_for_url(re.compile(r"/admin/deals/\d+$"))
    expect(page.get_by_role("status")).to_have_text("已标记为「网签」，佣金 ¥60,000.00 已确认")
    expect(page.locator("h1 .badge").first).to_have_text("网签")
    expect(page.locator("h1")).to_contain_text("佣金已确认")

    # C = 6,000,000 分; fee 10% = 600,000; the rest 5,400,000: 甲 (upline 1) 10% = 540,000;
    # no second upline and no referrer: 乙 keeps 4,860,000.
    lines = page.locator("table.lines tbody tr")
    expect(lines).to_have_count(3)
    expect(lines.nth(0)).to_contain_text("平台服务费")
    expect(lines.nth(0)).to_contain_text("¥6,000.00")
    expect(lines.nth(1)).to_contain_text("上级（1 级）")
    expect(lines.nth(1)).to_contain_text("顾问 甲")
    expect(lines.nth(1)).to_contain_text("¥5,400.00")
    expect(lines.nth(2)).to_contain_text("成交顾问")
    expect(lines.nth(2)).to_contain_text("顾问 乙")
    expect(lines.nth(2)).to_contain_text("¥48,600.00")
    expect(page.locator("table.lines tfoot")).to_contain_text("¥60,000.00")
    expect(page.locator("table.lines tfoot")).to_contain_text("等于佣金 ¥60,000.00")
    expect(page.get_by_role("heading", name=re.compile("证据链"))).to_contain_text("校验通过")
    today = now().astimezone(SHANGHAI).date().isoformat()
    expect(page.locator(".facts").first).to_contain_text(f"网签日期{today}")
    expect(page.get_by_role("button", name="标记为放款")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "deal-detail.png"), full_page=True)

    page.get_by_role("link", name="财务", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/finance/ledger$"))
    expect(page.get_by_role("heading", name="试算平衡")).to_be_visible()
    expect(page.locator("#balance-badge")).to_have_text("借贷平衡")
    expect(page.locator("#ledger-total")).to_have_text("¥0.00")
    expect(page.locator("#no-unbalanced")).to_be_visible()
    receivable = page.locator("table.ledger tbody tr").filter(has_text="应收佣金")
    expect(receivable).to_contain_text("开发商")
    expect(receivable).to_contain_text("¥60,000.00")
    page.screenshot(path=str(artifacts_dir / "ledger.png"), full_page=True)

    page.get_by_role("button", name="立即确认到期佣金").click()
    page.wait_for_url(re.compile(r"/admin/finance/ledger$"))
    expect(page.get_by_role("status")).to_have_text("没有到期待确认的佣金")
    expect(page.locator("#ledger-total")).to_have_text("¥0.00")

    # The list shows the signed deal, masked.
    page.get_by_role("link", name="成交", exact=True).click()
    row = page.locator("table.grid tbody tr").filter(has_text="3栋1201")
    expect(row).to_contain_text("周先生 139****5678")
    expect(row).to_contain_text("¥3,000,000.05")
    expect(row.locator(".badge").first).to_have_text("网签")
    expect(row).to_contain_text("已确认")
