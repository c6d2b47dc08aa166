"""The dashboards and an export in a real browser (issue 13 §2, §3): operations read the funnel,
change its breakdown, open the leaderboard and a team page; finance downloads the deals export
from the list page. Charts are inline SVG (no script, nothing from another host), each with its
table beneath; no page is wider than the window. Screenshots go to the artifacts directory."""
from __future__ import annotations

import io
import re

import openpyxl
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_admin_browser import sign_in, watch  # noqa: F401 (watch is a fixture)
from tests.integration.test_dashboards import scene  # noqa: F401 (a fixture)

pytestmark = pytest.mark.chromium


def no_overflow(page: Page) -> None:
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"{page.url}: {width}px wide in a {inner}px window"


def test_operations_read_the_funnel_the_leaderboard_and_a_team(page: Page, world, live_server, artifacts_dir,
                                                               scene, watch):  # noqa: F811
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    _, username, password = world.staff("operations")
    sign_in(page, username, password)

    page.get_by_role("link", name="看板", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/dashboards/$"))
    expect(page.get_by_role("heading", name="业绩漏斗", exact=True)).to_be_visible()
    expect(page.locator('#funnel-tiles [data-step="opens"]')).to_have_text("7")
    expect(page.locator('#funnel-tiles [data-step="deals"]')).to_have_text("2")
    expect(page.locator('#funnel-tiles [data-step="gmv"]')).to_have_text("¥5,000,000.00")
    steps = page.locator("#funnel-steps tbody tr")
    expect(steps.nth(1)).to_contain_text("42.85%")
    expect(steps.nth(3)).to_contain_text("60%")
    charts = page.locator("svg.chart")
    expect(charts).to_have_count(3)
    expect(charts.first).to_have_attribute("role", "img")
    assert page.locator("svg.chart rect.bar").count() > 5
    expect(page.locator("#funnel-groups tbody tr")).to_have_count(2)  # 南京, 苏州
    no_overflow(page)
    page.screenshot(path=str(artifacts_dir / "dashboards-funnel-by-city.png"), full_page=True)

    page.get_by_label("分组").select_option("project")
    page.get_by_role("button", name="筛选").click()
    page.wait_for_url(re.compile(r"by=project"))
    expect(page.locator("#funnel-groups")).to_contain_text("金陵府")
    expect(page.locator("#funnel-groups")).to_contain_text("未指定楼盘")
    no_overflow(page)
    page.screenshot(path=str(artifacts_dir / "dashboards-funnel-by-project.png"), full_page=True)

    page.get_by_role("link", name="顾问排行榜").click()
    page.wait_for_url(re.compile(r"/admin/dashboards/leaderboard"))
    rows = page.locator("#leaderboard tbody tr")
    expect(rows.first).to_contain_text("领队甲")
    expect(rows.first).to_contain_text("¥3,000,000.00")
    expect(page.locator("svg.chart rect.bar")).to_have_count(2)
    no_overflow(page)
    page.screenshot(path=str(artifacts_dir / "dashboards-leaderboard.png"), full_page=True)

    rows.first.get_by_role("link", name="团队").click()
    page.wait_for_url(re.compile(r"/admin/dashboards/teams/\d+"))
    expect(page.get_by_role("heading", name="领队甲 的团队")).to_be_visible()
    expect(page.locator("#team-members tbody tr")).to_have_count(2)
    expect(page.locator("#team-members")).to_contain_text("队员乙")
    expect(page.locator("svg.chart")).to_have_count(3)
    no_overflow(page)
    page.screenshot(path=str(artifacts_dir / "dashboards-team.png"), full_page=True)

    page.set_viewport_size({"width": 1024, "height": 768})
    for path in ("/admin/dashboards/?by=month", "/admin/dashboards/leaderboard"):
        page.goto(path)
        no_overflow(page)
    assert all(url.startswith(live_server.url) for url in requests), "only the app's own assets"


def test_finance_downloads_the_deals_export_from_the_list_page(page: Page, world, live_server, artifacts_dir,
                                                               scene, watch):  # noqa: F811
    _, username, password = world.staff("finance")
    sign_in(page, username, password)
    page.goto(f"/admin/deals/?project_id={scene['jinling']}")
    with page.expect_download() as info:
        page.locator("#export-link").click()
    download = info.value
    assert re.fullmatch(r"成交记录-\d{8}\.xlsx", download.suggested_filename)
    sheet = openpyxl.load_workbook(io.BytesIO(open(download.path(), "rb").read())).worksheets[0]
    table = list(sheet.iter_rows(values_only=True))
    assert table[0][:3] == ("成交编号", "认购日期", "楼盘")
    assert {row[2] for row in table[1:]} == {"金陵府"} and len(table) == 3  # the live deal and the cancelled one
    page.screenshot(path=str(artifacts_dir / "deals-list-with-export.png"), full_page=True)

    page.get_by_role("link", name="看板", exact=True).click()
    page.get_by_role("link", name="每月打款").click()
    page.wait_for_url(re.compile(r"/admin/dashboards/payouts"))
    expect(page.locator("#payout-months tbody tr")).to_have_text(["本期无到账的打款"])
    expect(page.locator("svg.chart text.chart-empty")).to_have_text("暂无数据")
    expect(page.get_by_role("link", name="应收账龄")).to_have_attribute("href", "/admin/receivables/aging")
    no_overflow(page)
    page.screenshot(path=str(artifacts_dir / "dashboards-payouts-empty.png"), full_page=True)
