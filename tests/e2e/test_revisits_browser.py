"""The revisit queue in a real browser: operations generate the tasks, claim 周先生's call,
read the script, reveal his number (logged) and record what he said.

Chromium (Debian's, via Playwright) talks to the app over HTTP on 127.0.0.1; the market is
made with the ``world`` factories in the same database. The pages' clock is moved to the
morning after the visit, when the calls are due. Screenshots go to the artifacts directory.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from estate_platform.registrations.models import PhoneReveal
from estate_platform.revisits import rules
from tests.e2e.test_admin_browser import sign_in, watch  # noqa: F401 (watch is a fixture)
from tests.integration.dispute_scene import run
from tests.integration.test_revisits import Clock, build_market, shanghai_midnight

pytestmark = pytest.mark.chromium


@pytest.fixture
def market(world):
    return build_market(world)


@pytest.fixture
def clock(monkeypatch, market) -> Clock:
    """10:00 in Shanghai on the day after the visit: the visit's and the deal's calls are due."""
    from estate_platform.clock import local_date
    fake = Clock(shanghai_midnight(local_date(market.t0) + timedelta(days=1)) + timedelta(hours=10))
    monkeypatch.setattr("admin.revisits_pages.utcnow", fake)
    return fake


def test_operations_work_the_revisit_queue(page: Page, app, world, live_server, artifacts_dir, market, clock,
                                           watch):  # noqa: F811
    app.config["REVISIT_DEAL_SAMPLE_BPS"] = 10_000  # every deal is checked
    staff_id, username, password = world.staff("operations")
    sign_in(page, username, password)

    page.get_by_role("link", name="回访", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/revisits/$"))
    expect(page.get_by_role("heading", name="回访任务")).to_be_visible()
    expect(page.locator("table.revisits tbody tr")).to_have_text(["暂无回访任务"])

    page.get_by_role("button", name="立即生成回访任务").click()
    expect(page.get_by_role("status")).to_have_text(
        f"已生成 2 条回访任务：{rules.KIND_LABELS['after_visit']} 1 条，{rules.KIND_LABELS['deal_sample']} 1 条")
    rows = page.locator("table.revisits tbody tr")
    expect(rows).to_have_count(2)
    zhou = rows.filter(has_text="周先生")
    expect(zhou).to_contain_text("到访后回访")
    expect(zhou).to_contain_text(market.zhou_phone[:3] + "****" + market.zhou_phone[-4:])
    expect(zhou).not_to_contain_text(market.zhou_phone)
    expect(rows.filter(has_text="李女士")).to_contain_text("成交抽查回访")
    page.screenshot(path=str(artifacts_dir / "revisit-queue.png"), full_page=True)

    zhou.get_by_role("button", name="领取").click()
    page.wait_for_url(re.compile(r"/admin/revisits/\d+$"))
    expect(page.locator("h1")).to_contain_text("我已领取")
    expect(page.locator("ol.script li").first).to_have_text(
        "您好，请问是周先生吗？我是新房顾问合作平台的回访专员，想就您在金陵府看房的情况做个简短回访，大约占用您两分钟，方便吗？")
    expect(page.locator("ol.script")).to_contain_text("是我们平台的顾问甲陪同您去的吗？")

    page.get_by_role("button", name="查看完整号码").click()
    expect(page.locator("[data-phone=full]")).to_have_text(market.zhou_phone)
    assert run(app, lambda s: s.scalar(select(func.count()).select_from(PhoneReveal)
                                       .where(PhoneReveal.staff_user_id == staff_id))) == 1
    page.screenshot(path=str(artifacts_dir / "revisit-call.png"), full_page=True)

    # 周先生 bought through another agency: the form asks which one before it records anything.
    page.get_by_label("已通过其他中介购买", exact=True).check()
    page.get_by_role("button", name="提交回访结果").click()
    expect(page.get_by_role("alert")).to_have_text("提交的数据有误，请按提示修改后重试")
    expect(page.locator(".field-error")).to_have_text(["请填写客户购房所通过的中介或经纪公司"])

    page.get_by_label("客户确认", exact=True).check()
    page.get_by_label("备注").fill("客户确认由甲全程陪同")
    page.get_by_role("button", name="提交回访结果").click()
    page.wait_for_url(re.compile(r"/admin/revisits/$"))
    expect(page.get_by_role("status")).to_contain_text("已记录：客户确认")
    expect(page.locator("table.revisits tbody tr")).to_have_count(1)  # 李女士's call is still open

    page.get_by_label("状态").select_option(label="已结束")
    page.get_by_role("button", name="筛选").click()
    done = page.locator("table.revisits tbody tr")
    expect(done).to_have_count(1)
    expect(done).to_contain_text("客户确认")
