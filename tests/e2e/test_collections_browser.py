"""Collections (回款) in a real browser: finance records a developer's payment against a chosen
deal, reads its allocation, applies the unapplied rest, downloads the developer's statement
(对账函) as XLSX and records the developer's objection, reads the aging chart, and undoes the
payment (a correcting transaction). Screenshots go to the artifacts directory.
"""
from __future__ import annotations

import re
from io import BytesIO

import openpyxl
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_admin_browser import sign_in, watch  # noqa: F401 (watch is a fixture)
from tests.integration.test_collections import COMMISSION, SERVING, Book, today

pytestmark = pytest.mark.chromium


def test_finance_records_allocates_downloads_the_statement_and_undoes_a_collection(
        page: Page, world, live_server, artifacts_dir, watch):  # noqa: F811
    book = Book(world)
    older = book.deal(signed_days_ago=45)
    newer = book.deal()
    with book.app.app_context():
        from estate_platform.db import db
        from estate_platform.projects.models import Developer
        developer_name = db.session.get(Developer, book.developer_id).name
    _, username, password = world.staff("finance", username="fin-zhao")
    sign_in(page, username, password)

    page.get_by_role("link", name="回款", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/collections/$"))
    expect(page.get_by_role("heading", name="开发商回款")).to_be_visible()
    expect(page.locator("table.collections tbody tr")).to_have_text(["暂无回款记录"])

    # Record ¥70,000.01 against the newer deal only: ¥60,000 pays it, ¥10,000.01 stays unapplied.
    page.get_by_role("link", name="登记回款").click()
    page.locator("#pick-developer select").select_option(str(book.developer_id))
    page.get_by_role("button", name="查看应收").click()
    expect(page.locator("fieldset")).to_contain_text(f"成交 #{older}")
    form = page.locator("form.collection-form")
    form.locator("select[name=developer_id]").select_option(str(book.developer_id))
    form.get_by_label("金额（元）").fill("70000.01")
    form.get_by_label("银行流水号").fill("ICBC-E2E-0001")
    form.locator(f"input[name=deal_ids][value='{newer}']").check()
    page.screenshot(path=str(artifacts_dir / "collection-new.png"), full_page=True)
    form.get_by_role("button", name="登记并核销").click()
    page.wait_for_url(re.compile(r"/admin/collections/\d+$"))
    expect(page.get_by_role("status")).to_contain_text("已登记回款 #")
    expect(page.locator("table.allocations tbody tr")).to_have_count(1)
    expect(page.locator("table.allocations")).to_contain_text(f"#{newer}")
    expect(page.locator("dl.facts")).to_contain_text("¥10,000.01")
    detail_url = page.url
    assert book.available() == SERVING
    page.screenshot(path=str(artifacts_dir / "collection-detail.png"), full_page=True)

    # The unapplied rest goes to the older deal.
    page.get_by_role("link", name="未核销回款").click()
    row = page.locator("table.unapplied tbody tr", has_text=developer_name)
    expect(row).to_contain_text("¥10,000.01")
    row.get_by_role("button", name="核销").click()
    expect(page.get_by_role("status")).to_contain_text("已核销 1 笔应收")
    expect(page.locator("table.unapplied tbody tr")).to_have_text(["暂无未核销回款"])
    assert book.available() == SERVING + 900_001  # 90% of ¥10,000.01, to the cent

    # Aging: the older deal is 1–30 days overdue, drawn and tabled.
    page.get_by_role("link", name="应收账龄").click()
    expect(page.locator("figure.chart svg")).to_be_visible()
    expect(page.locator("table.aging tbody")).to_contain_text(f"¥{(COMMISSION - 1_000_001) / 100:,.2f}")
    page.screenshot(path=str(artifacts_dir / "receivables-aging.png"), full_page=True)

    # The statement: printable page, XLSX download, the developer's objection recorded.
    page.get_by_role("link", name="对账函").click()
    page.locator("form.filters select[name=developer_id]").select_option(str(book.developer_id))
    page.locator("input[name=period_from]").fill(today().replace(day=1).isoformat())
    page.get_by_role("button", name="生成对账函").click()
    expect(page.locator("article.statement")).to_contain_text(developer_name)
    expect(page.locator("article.statement")).to_contain_text("¥49,999.99")  # 2 × 60,000 − 70,000.01
    with page.expect_download() as download_info:
        page.get_by_role("link", name="下载 Excel").click()
    workbook = openpyxl.load_workbook(BytesIO(download_info.value.path().read_bytes()))
    values = [c.value for row in workbook.active.iter_rows() for c in row if c.value is not None]
    assert "期末应收余额（元）" in values and 49_999.99 in values
    page.get_by_label("回函结果").select_option("objected")
    page.get_by_label("说明（有异议时必填）").fill("A 栋佣金比例应为 1.8%")
    page.get_by_role("button", name="保存回函").click()
    expect(page.get_by_role("status")).to_contain_text("已记录开发商回函")
    expect(page.locator("ul.responses")).to_contain_text("有异议")
    page.screenshot(path=str(artifacts_dir / "developer-statement.png"), full_page=True)

    # Undo: a correcting transaction; the released commission goes back to pending.
    page.goto(detail_url)
    page.get_by_label("撤销原因").fill("银行退票")
    page.get_by_role("button", name="撤销回款").click()
    expect(page.get_by_role("status")).to_contain_text("回款已撤销")
    expect(page.locator("h1 .badge")).to_have_text("已撤销")
    assert book.available() == 0 and book.pending() == 2 * SERVING
    page.screenshot(path=str(artifacts_dir / "collection-reversed.png"), full_page=True)
