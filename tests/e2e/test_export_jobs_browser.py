"""Background exports (后台导出) in a real browser: operations click "后台导出" beside the
registrations list's export link, see the progress bar while the job waits and then runs,
and download the file from the link that replaces it; then the logged full-phone export asks
for its purpose. The Celery task is held back and run here (as the worker would), so the
page's own script is seen polling."""
from __future__ import annotations

import io
import re

import openpyxl
import pytest
from playwright.sync_api import Page, expect

from estate_platform.exports import tasks as export_tasks
from tests.e2e.test_admin_browser import sign_in, watch  # noqa: F401 (watch is a fixture)
from tests.integration.test_exports import market  # noqa: F401 (the fixture)

pytestmark = pytest.mark.chromium


def run_queued(app, queued: list[int]) -> None:
    with app.app_context():
        while queued:
            assert export_tasks.run_export_job_task.run(queued.pop(0)) == "done"


def downloaded_rows(download) -> list[tuple]:
    with open(download.path(), "rb") as handle:
        sheet = openpyxl.load_workbook(io.BytesIO(handle.read())).worksheets[0]
    return list(sheet.iter_rows(values_only=True))


def test_a_background_export_shows_its_progress_then_its_download(page: Page, world, app, live_server, market,
                                                                  artifacts_dir, monkeypatch, watch):  # noqa: F811
    queued: list[int] = []
    monkeypatch.setattr(export_tasks.run_export_job_task, "delay", queued.append)
    _, username, password = world.staff("operations")
    sign_in(page, username, password)
    page.goto("/admin/registrations/")
    page.get_by_role("button", name="后台导出").click()

    progress = page.locator(".export-job-progress")
    expect(progress).to_contain_text("排队中")
    expect(progress.locator("progress")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "export-job-queued.png"), full_page=True)

    run_queued(app, queued)  # the worker writes the file; the page's next poll shows the link
    link = progress.get_by_role("link", name=re.compile(r"下载（2 行）"))
    expect(link).to_be_visible(timeout=15_000)
    page.screenshot(path=str(artifacts_dir / "export-job-done.png"), full_page=True)
    with page.expect_download() as info:
        link.click()
    table = downloaded_rows(info.value)
    assert len(table) == 3 and "手机号（脱敏）" in table[0]

    # The logged full-phone export: it asks for the purpose first.
    page.once("dialog", lambda dialog: dialog.accept("回访核实购房意向"))
    page.get_by_role("button", name="导出完整号码").click()
    expect(page.locator(".export-job-progress")).to_contain_text("排队中")
    run_queued(app, queued)
    link = page.locator(".export-job-progress").get_by_role("link", name=re.compile("下载"))
    expect(link).to_be_visible(timeout=15_000)
    with page.expect_download() as info:
        link.click()
    table = downloaded_rows(info.value)
    phones = sorted(row[table[0].index("手机号（完整）")] for row in table[1:])
    assert phones == ["13912345678", "13987654321"]

    page.get_by_role("link", name="导出任务").click()
    page.wait_for_url(re.compile(r"/admin/exports/jobs$"))
    expect(page.locator("#export-jobs tbody tr")).to_have_count(2)
    expect(page.locator("#export-jobs")).to_contain_text("完整号码")
    page.screenshot(path=str(artifacts_dir / "export-jobs-list.png"), full_page=True)
