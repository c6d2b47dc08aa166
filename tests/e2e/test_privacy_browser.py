"""Buyers' personal data in a real browser (issue 15 §1): the buyer objects to a registration
from the link in his SMS; operations see the objection, record his erasure request, see it
refused while he is protected and carried out once the protection ended; a visit's phone is
masked until a reveal names its purpose, and the admin sees that reveal in the log.
Screenshots go to the artifacts directory."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from estate_platform.db import db
from estate_platform.identity.models import Buyer
from estate_platform.registrations import services as registrations
from tests.conftest import now
from tests.e2e.test_admin_browser import sign_in, watch  # noqa: F401 (watch is a fixture)

pytestmark = pytest.mark.chromium


def test_objection_erasure_and_a_logged_reveal(page: Page, app, world, live_server, artifacts_dir,
                                              watch):  # noqa: F811
    consultant = world.operating_consultant(name="张三")
    project = world.project(name="紫金府", phone_disclosure="full")
    phone = world.next_buyer_phone()
    registered = world.register(consultant, project, phone, name="周先生")
    booked = world.client.post(f"/api/mp/v1/registrations/{registered['id']}/visits", headers=consultant.auth,
                               json={"scheduled_at": (now() + timedelta(hours=2)).isoformat()})
    visit_id = booked.get_json()["id"]
    link = app.extensions["adapters"].sms.notices[-1][2]["link"]

    # The buyer, from the SMS.
    page.goto(link.split("5000", 1)[1])
    expect(page.get_by_text("将您报备至「紫金府」")).to_be_visible()
    page.get_by_label("说明（选填）").fill("我不认识这位顾问")
    page.get_by_role("button", name="我没有委托该顾问").click()
    expect(page.get_by_role("heading", name="异议已提交")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "privacy-objection.png"), full_page=True)

    # Operations: the objection, the erasure queue, a masked visit revealed with a purpose.
    _, username, password = world.staff("operations")
    sign_in(page, username, password)
    page.get_by_role("link", name="个人信息", exact=True).click()
    page.get_by_role("link", name="报备异议 →").click()
    expect(page.locator("#objections tbody tr")).to_contain_text(["我不认识这位顾问"])

    with app.app_context():
        buyer_id = db.session.scalar(select(Buyer.id).where(Buyer.phone == "+86" + phone))
    page.goto("/admin/privacy/requests")
    page.get_by_label("购房者编号").fill(str(buyer_id))
    page.get_by_label("说明").fill("客户来电，已核实身份")
    page.get_by_role("button", name="登记删除申请").click()
    expect(page.locator(".flash")).to_contain_text("已登记删除申请")
    page.get_by_role("button", name="批准并删除").click()
    expect(page.locator(".flash")).to_contain_text("未执行：仍在报备保护期内")
    expect(page.locator("#erasure-requests")).to_contain_text("open_protection")

    page.goto(f"/admin/visits/{visit_id}")
    masked = phone[:3] + "****" + phone[-4:]
    expect(page.locator("#masked-phone")).to_have_text(masked)
    page.get_by_label("查看用途").fill("核实到访")
    page.get_by_role("button", name="显示完整号码").click()
    expect(page.locator("#revealed-phone")).to_have_text(phone)

    with app.app_context():  # the protection ends
        registrations.expire_due(db.session, now=now() + timedelta(days=400))
        db.session.commit()
    page.goto("/admin/privacy/requests")
    page.get_by_label("购房者编号").fill(str(buyer_id))
    page.get_by_role("button", name="登记删除申请").click()
    page.get_by_role("button", name="批准并删除").click()
    expect(page.locator(".flash")).to_contain_text("已执行")
    expect(page.locator("#erasure-requests tbody tr").first).to_contain_text("已删除")
    page.screenshot(path=str(artifacts_dir / "privacy-requests.png"), full_page=True)

    # The admin reads the reveal log by staff member.
    _, admin_name, admin_password = world.staff("admin")
    page.context.clear_cookies()
    sign_in(page, admin_name, admin_password)
    page.goto("/admin/privacy/reveals")
    expect(page.locator("#reveal-counts tbody tr")).to_contain_text([re.compile("测试operations.*1")])
    expect(page.locator("#reveals tbody tr")).to_contain_text([f"到访 #{visit_id}：核实到访"])
    page.screenshot(path=str(artifacts_dir / "privacy-reveals.png"), full_page=True)
