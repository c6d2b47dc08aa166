"""The admin pages in a real browser: login, consultant review, role refusal.

Chromium (Debian's, via Playwright) talks to the app over HTTP on 127.0.0.1;
the data is made with the ``world`` factories in the same database. Screenshots
go to the artifacts directory for people to look at.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.chromium


@pytest.fixture
def watch(page: Page):
    """Records what must never happen in a page: a JS error or a 5xx response."""
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 500 else None)
    yield problems
    assert problems == []


def sign_in(page: Page, username: str, password: str) -> None:
    page.goto("/admin/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/admin/$"))


def test_login_refuses_a_wrong_password_then_lets_the_right_one_in(page, world, live_server, artifacts_dir,
                                                                   watch):
    _, username, password = world.staff("operations")

    page.goto("/admin/login")
    expect(page).to_have_title(re.compile("登录"))
    expect(page.get_by_role("heading", name="员工登录")).to_be_visible()
    # Nobody is signed in: no navigation for staff yet.
    expect(page.get_by_role("link", name="顾问审核")).to_have_count(0)

    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill("wrong-password")
    with page.expect_response(lambda r: r.url.endswith("/admin/login") and r.request.method == "POST") as info:
        page.get_by_role("button", name="登录").click()
    assert info.value.status == 401
    assert info.value.headers["content-type"].startswith("text/html")

    alert = page.get_by_role("alert")
    expect(alert).to_have_text("用户名或密码错误")
    expect(alert).to_be_visible()
    expect(page).to_have_url(re.compile(r"/admin/login$"))
    expect(page.get_by_role("heading", name="员工登录")).to_be_visible()
    # The username is kept so only the password has to be typed again; the password is not.
    expect(page.get_by_label("用户名")).to_have_value(username)
    expect(page.get_by_label("密码")).to_have_value("")
    page.screenshot(path=str(artifacts_dir / "admin-login.png"), full_page=True)

    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/admin/$"))
    expect(page.get_by_role("heading", name="概览")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.locator(".topbar .who")).to_contain_text("测试operations（运营）")
    expect(page.get_by_role("link", name="顾问审核")).to_be_visible()


def test_operations_approves_one_pending_consultant_and_rejects_another(page, world, live_server,
                                                                        artifacts_dir, watch):
    wang = world.apply(name="王芳", kind="store", company_name="鼓楼门店")
    li = world.apply(name="李强", kind="independent")
    _, username, password = world.staff("operations")
    api = world.staff_auth("operations")

    sign_in(page, username, password)
    page.get_by_role("link", name="顾问审核").click()
    page.wait_for_url(re.compile(r"/admin/consultants\?status=pending$"))
    expect(page.get_by_role("heading", name="顾问管理")).to_be_visible()
    expect(page.locator(".tabs a.active")).to_have_text("待审核（2）")

    rows = page.locator("table.grid tbody tr")
    expect(rows).to_have_count(2)
    wang_row = rows.filter(has_text="王芳")
    expect(wang_row).to_have_count(1)
    expect(wang_row.locator("td").nth(3)).to_have_text("门店经纪人")
    expect(wang_row.locator("td").nth(4)).to_have_text("鼓楼门店")
    expect(wang_row.locator(".badge")).to_have_text("待审核")
    page.screenshot(path=str(artifacts_dir / "admin-consultants-pending.png"), full_page=True)

    # Approve 王芳.
    wang_row.get_by_role("link", name="审核").click()
    page.wait_for_url(re.compile(rf"/admin/consultants/{wang.id}$"))
    expect(page.get_by_role("heading", name=re.compile("王芳"))).to_be_visible()
    expect(page.locator("h1 .badge")).to_have_text("待审核")
    page.get_by_role("button", name="审核通过").click()
    page.wait_for_url(re.compile(rf"/admin/consultants/{wang.id}$"))
    expect(page.get_by_role("status")).to_have_text("已审核通过")
    expect(page.locator("h1 .badge")).to_have_text("已激活")
    expect(page.get_by_role("button", name="审核通过")).to_have_count(0)
    expect(page.locator("table.grid").first.locator("tbody tr")).to_contain_text(["待审核 → 已激活"])
    page.screenshot(path=str(artifacts_dir / "admin-consultant-approved.png"), full_page=True)

    stored = world.client.get(f"/admin/api/v1/consultants/{wang.id}", headers=api).get_json()
    assert stored["status"] == "active", stored

    # Reject 李强: the reason is required, so an empty one is stopped by the browser.
    reject_posts: list[str] = []
    page.on("request", lambda r: reject_posts.append(r.post_data or "")
            if r.method == "POST" and r.url.endswith(f"/consultants/{li.id}/reject") else None)
    page.goto(f"/admin/consultants/{li.id}")
    reject_form = page.locator("form[data-action=reject]")
    reason = reject_form.locator("input[name=reason]")
    expect(reason).to_have_attribute("required", "")
    reject_form.get_by_role("button", name="驳回").click()
    assert reason.evaluate("el => el.validity.valueMissing") is True
    expect(page).to_have_url(re.compile(rf"/admin/consultants/{li.id}$"))
    expect(page.locator("h1 .badge")).to_have_text("待审核")
    assert world.client.get(f"/admin/api/v1/consultants/{li.id}", headers=api).get_json()["status"] == "pending"

    reason.fill("资料不全")
    reject_form.get_by_role("button", name="驳回").click()
    expect(page.get_by_role("status")).to_have_text("已驳回")
    expect(page.locator("h1 .badge")).to_have_text("已驳回")
    expect(page.locator(".facts")).to_contain_text("资料不全")
    assert len(reject_posts) == 1 and "%E8%B5%84%E6%96%99%E4%B8%8D%E5%85%A8" in reject_posts[0], reject_posts

    stored = world.client.get(f"/admin/api/v1/consultants/{li.id}", headers=api).get_json()
    assert (stored["status"], stored["status_reason"]) == ("rejected", "资料不全"), stored

    # Back on the pending tab, nobody is left to review.
    page.get_by_role("link", name="顾问审核").click()
    page.wait_for_url(re.compile(r"/admin/consultants\?status=pending$"))
    expect(page.locator("table.grid tbody tr")).to_have_text(["没有符合条件的顾问"])


def test_site_staff_gets_the_html_error_page_for_consultants(page, world, live_server, artifacts_dir, watch):
    _, username, password = world.staff("site_staff")
    sign_in(page, username, password)
    expect(page.get_by_role("link", name="顾问审核")).to_have_count(0)

    response = page.goto("/admin/consultants")
    assert response is not None and response.status == 403
    assert response.headers["content-type"].startswith("text/html")
    expect(page.get_by_role("heading", level=1)).to_have_text("403 · 您的角色无权访问此功能")
    expect(page.locator("main")).to_contain_text("role_forbidden")
    body = page.locator("body").inner_text()
    assert "Traceback" not in body and '"error"' not in body
    expect(page.get_by_role("link", name="返回首页")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "admin-forbidden.png"), full_page=True)

    page.get_by_role("link", name="返回首页").click()
    page.wait_for_url(re.compile(r"/admin/$"))
    expect(page.get_by_role("heading", name="概览")).to_be_visible()
