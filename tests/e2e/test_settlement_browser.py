"""Settlement driven in Chromium (issue 12 §3): one finance user prepares a batch and cannot approve
it himself, a second approves, a third releases the first payout to a new account; a provider batch
is approved and its file downloaded; the failures queue and the payout accounts (masked, a logged
reveal) are shown. Screenshots go to the artifacts directory."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from estate_platform.db import db
from estate_platform.settlement.models import SensitiveRead
from tests.e2e.test_admin_browser import sign_in, watch  # noqa: F401 (watch is a fixture)
from tests.integration.settlement_scene import add_verified_account, age_accounts, balances, credit, id_number

pytestmark = pytest.mark.chromium


def second_page(browser, live_server, username, password) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai", base_url=live_server.url, accept_downloads=True)
    page = context.new_page()
    sign_in(page, username, password)
    return page


def test_finance_prepares_another_approves_and_the_provider_file_downloads(
        page: Page, browser, world, app, client, live_server, artifacts_dir, watch, tmp_path):  # noqa: F811
    app.config.update(SMS_PHONE_INTERVAL_SECONDS=0, SMS_IP_HOURLY_LIMIT=1000)
    consultant = world.operating_consultant(name="李结算")
    add_verified_account(client, app, consultant, holder_name="李结算", id_no=id_number(31),
                         account_number="6222021234567890")
    credit(app, "consultant", consultant.id, available=500_000, owes=30_000)
    age_accounts(app)
    _, maker, maker_pw = world.staff("finance", username="fin-zhang")
    _, checker, checker_pw = world.staff("finance", username="fin-wang")
    _, third, third_pw = world.staff("finance", username="fin-zhao")

    sign_in(page, maker, maker_pw)
    page.get_by_role("link", name="结算", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/settlements/$"))
    expect(page.locator("#batches tbody tr")).to_have_text(["还没有结算批次"])
    page.get_by_role("button", name="制单").click()
    page.wait_for_url(re.compile(r"/admin/settlements/\d+$"))
    expect(page.locator("#batch-status")).to_have_text("待审批")
    expect(page.locator("#items")).to_contain_text("李结算")
    expect(page.locator("#items")).to_contain_text("¥800.00")      # withholding on 5,000 元
    expect(page.locator("#items")).to_contain_text("¥3,900.00")    # net of owes and tax
    page.screenshot(path=str(artifacts_dir / "settlement-prepared.png"), full_page=True)
    page.get_by_role("button", name="审批并付款").click()           # the maker tries to approve his own batch
    expect(page.locator("body")).to_contain_text("另一位财务人员审批")
    expect(page.locator("#batch-status")).to_have_text("待审批")
    batch_url = page.url.replace(live_server.url, "")

    other = second_page(browser, live_server, checker, checker_pw)
    other.goto(batch_url)
    other.get_by_role("button", name="审批并付款").click()
    expect(other.locator("#batch-status")).to_have_text("已审批")
    expect(other.locator("#items")).to_contain_text("待复核")
    expect(other.locator("#approved-by")).to_contain_text("测试finance")
    other.screenshot(path=str(artifacts_dir / "settlement-approved.png"), full_page=True)

    last = second_page(browser, live_server, third, third_pw)
    last.goto(batch_url)
    last.get_by_role("button", name="复核首次付款到新账户").click()
    expect(last.locator("#batch-status")).to_have_text("已完成")
    expect(last.locator("#items")).to_contain_text("已付款")
    last.screenshot(path=str(artifacts_dir / "settlement-paid.png"), full_page=True)
    assert balances(app, "platform", 0)["cash"] == -390_000

    # A provider (灵活用工) batch for new earnings: approved by another user, file downloaded by finance.
    credit(app, "consultant", consultant.id, available=200_000, key="more-earnings")
    page.goto("/admin/settlements/")
    page.locator("#channel").select_option("provider")
    page.get_by_role("button", name="制单").click()
    page.wait_for_url(re.compile(r"/admin/settlements/\d+$"))
    provider_url = page.url.replace(live_server.url, "")
    other.goto(provider_url)
    other.get_by_role("button", name="审批并付款").click()
    expect(other.locator("#batch-status")).to_have_text("已审批")
    with other.expect_download() as download_info:
        other.locator("#provider-file").click()
    path = tmp_path / "provider.xlsx"
    download_info.value.save_as(path)
    import openpyxl
    rows = list(openpyxl.load_workbook(path).active.iter_rows(values_only=True))
    assert rows[1][1] == "李结算" and rows[1][2] == id_number(31) and rows[1][4] == "6222021234567890"
    with app.app_context():
        assert db.session.query(SensitiveRead).filter_by(subject_type="settlement_batch").count() == 1
    other.screenshot(path=str(artifacts_dir / "settlement-provider.png"), full_page=True)

    # The results come back: the row failed, the money returns and the failures queue shows it.
    book = openpyxl.Workbook()
    book.active.append(["明细编号", "结果", "失败原因", "代征税额（元）"])
    book.active.append([rows[1][0], "失败", "账户已冻结", 0])
    results = tmp_path / "results.xlsx"
    book.save(results)
    other.locator("#results-form input[type=file]").set_input_files(str(results))
    other.get_by_role("button", name="导入结果").click()
    expect(other.locator("body")).to_contain_text("失败 1 笔")
    other.get_by_role("link", name="付款失败队列").click()
    expect(other.locator("#failures")).to_contain_text("账户已冻结")
    other.screenshot(path=str(artifacts_dir / "settlement-failures.png"), full_page=True)

    # Payout accounts: masked in the list, the full number after a logged reveal.
    other.get_by_role("link", name="收款账户").click()
    expect(other.locator("#accounts")).to_contain_text("****7890")
    expect(other.locator("#accounts")).not_to_contain_text("6222021234567890")
    other.locator("#accounts button.reveal").first.click()
    expect(other.locator("#full-account")).to_have_text("6222021234567890")
    other.screenshot(path=str(artifacts_dir / "settlement-account-reveal.png"), full_page=True)
    with app.app_context():
        assert db.session.query(SensitiveRead).filter_by(subject_type="payout_account").count() == 1
    other.context.close()
    last.context.close()
