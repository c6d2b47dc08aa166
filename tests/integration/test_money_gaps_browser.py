"""The payout-limits page driven in Chromium (issue 12 §2): finance sees the limits in force and
the configured defaults, changes them, and the change shows with who and the old and new values.
Screenshot in the artifacts directory."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import browser, live_server, page  # noqa: F401 (fixtures)
from tests.e2e.test_admin_browser import sign_in, watch  # noqa: F401 (watch is a fixture)

pytestmark = pytest.mark.chromium


def test_finance_changes_the_payout_limits_and_sees_the_change_recorded(
        page: Page, world, app, live_server, artifacts_dir, watch):  # noqa: F811
    app.config.update(PAYOUT_MIN_CENTS=10_000, PAYOUT_MAX_CENTS=50_000_000, PAYOUT_DAILY_MAX_CENTS=5_000_000_000)
    _, username, password = world.staff("finance", username="fin-limits")
    sign_in(page, username, password)
    page.goto("/admin/settlements/")
    page.get_by_role("link", name="付款限额").click()
    page.wait_for_url(re.compile(r"/admin/settlements/limits$"))
    expect(page.locator("#current-min")).to_have_text("¥100.00")
    expect(page.locator("#limit-changes tbody tr")).to_have_text(["尚未修改过，使用配置中的默认值"])

    page.get_by_label("最低付款额（元）").fill("200")
    page.get_by_label("单日付款上限（元）").fill("1000000")
    page.get_by_label("修改说明").fill("年底调整")
    page.get_by_role("button", name="保存").click()
    expect(page.locator("body")).to_contain_text("付款限额已修改")
    expect(page.locator("#current-min")).to_have_text("¥200.00")
    expect(page.locator("#current-daily-max")).to_have_text("¥1,000,000.00")
    row = page.locator("#limit-changes tbody tr").first
    expect(row).to_contain_text("¥100.00 → ¥200.00")
    expect(row).to_contain_text("年底调整")
    page.screenshot(path=str(artifacts_dir / "settlement-limits.png"), full_page=True)

    page.get_by_label("单笔付款上限（元）").fill("100")  # below the minimum: refused, nothing changes
    page.get_by_role("button", name="保存").click()
    expect(page.locator("body")).to_contain_text("单笔上限不能低于最低付款额")
    expect(page.locator("#limit-changes tbody tr")).to_have_count(1)
