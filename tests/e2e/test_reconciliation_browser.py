"""Sales-list reconciliation in a real browser: operations upload a developer's XLSX list,
confirm the columns on the mapping step, watch the progress while the list is reconciled
and read the result: counts per category, the 跑单 row with its dispute, the export link.

The Celery task is held back while the page first shows the queued list, then run here
(as the worker would), so the page's own script is seen polling and reloading.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from estate_platform.db import commit, db, utcnow
from estate_platform.reconciliation import services as reconciliation
from estate_platform.reconciliation import tasks as reconciliation_tasks
from tests.e2e.test_admin_browser import sign_in, watch  # noqa: F401 (watch is a fixture)
from tests.integration.test_reconciliation import build_scene, sales_rows, today, xlsx_file

pytestmark = pytest.mark.chromium


def test_operations_upload_a_list_confirm_its_columns_and_read_the_result(
        page: Page, world, app, live_server, artifacts_dir, monkeypatch, watch):  # noqa: F811
    scene = build_scene(world)
    queued: list[int] = []
    monkeypatch.setattr(reconciliation_tasks.run_reconciliation_task, "delay", queued.append)
    _, username, password = world.staff("operations")
    sign_in(page, username, password)

    page.get_by_role("link", name="销售对账").click()
    page.wait_for_url(re.compile(r"/admin/reconciliations/$"))
    expect(page.get_by_role("heading", name="销售对账")).to_be_visible()
    page.get_by_label("楼盘").select_option(value=str(scene.project))
    page.get_by_label("对账期间自").fill((today() - timedelta(days=30)).isoformat())
    page.get_by_label("至", exact=True).fill(today().isoformat())
    page.get_by_label("台账文件").set_input_files({
        "name": "金陵府十一月台账.xlsx", "buffer": xlsx_file(sales_rows(scene)),
        "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})
    page.get_by_role("button", name="下一步：确认列").click()

    # The mapping step: a dropdown per field, pre-filled from the header, sample rows below.
    expect(page.get_by_role("heading", name="确认台账的列")).to_be_visible()
    expect(page.get_by_text("表头在第 3 行")).to_be_visible()
    expect(page.get_by_label("电话")).to_have_value("联系电话")
    expect(page.get_by_label("签约日期")).to_have_value("签约日期")
    expect(page.get_by_label("成交价单位")).to_have_value("wan")
    expect(page.locator("table.samples")).to_contain_text("周建国")
    page.get_by_label("其他表示“无渠道”的写法").fill("自然来电")
    page.screenshot(path=str(artifacts_dir / "reconciliation-mapping.png"), full_page=True)
    page.get_by_role("button", name="开始核对").click()

    page.wait_for_url(re.compile(r"/admin/reconciliations/\d+$"))
    expect(page.get_by_role("status")).to_contain_text("正在后台核对")
    expect(page.locator("#recon-progress [data-role=label]")).to_have_text("排队中")
    page.screenshot(path=str(artifacts_dir / "reconciliation-queued.png"), full_page=True)

    # The worker runs it now; the page polls its status and reloads when it is done.
    assert len(queued) == 1
    with app.app_context():
        reconciliation.run_upload(db.session, queued[0], storage_dir=reconciliation_tasks.storage_dir(),
                                  now=utcnow(), after_chunk=lambda: commit(db.session))
        commit(db.session)
    expect(page.locator("#recon-progress [data-role=label]")).to_have_text("已完成", timeout=15_000)
    expect(page.locator("nav.recon-counts")).to_contain_text("跑单 1")
    expect(page.locator("nav.recon-counts")).to_contain_text("撬单 1")
    expect(page.locator("nav.recon-counts")).to_contain_text("无法读取 1")
    expect(page.locator("table.recon-rows tbody tr")).to_have_count(9)
    page.screenshot(path=str(artifacts_dir / "reconciliation-result.png"), full_page=True)

    page.locator("nav.recon-counts").get_by_role("link", name=re.compile("^跑单")).click()
    rows = page.locator("table.recon-rows tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("7")  # the sheet's own row number
    expect(rows.first).to_contain_text("王芳")
    expect(rows.first.get_by_role("link", name=re.compile(r"争议 #\d+"))).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="导出 XLSX").click()
    assert download.value.suggested_filename.endswith(".xlsx")
    page.screenshot(path=str(artifacts_dir / "reconciliation-jumped.png"), full_page=True)
