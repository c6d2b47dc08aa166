"""Staff sign-in: hashed passwords, lock-out, session cookie, CSRF and roles."""
from __future__ import annotations

import re

import pytest

from estate_platform.db import db
from estate_platform.identity.models import LoginAttempt, StaffUser


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "form has no CSRF token"
    return match.group(1)


def login_page(client, username, password):
    page = client.get("/admin/login")
    return client.post("/admin/login", data={"username": username, "password": password,
                                             "csrf_token": csrf_from(page.get_data(as_text=True))})


def test_passwords_are_stored_hashed(world, app):
    _, username, password = world.staff("finance")
    with app.app_context():
        stored = db.session.query(StaffUser).filter_by(username=username).one().password_hash
    assert password not in stored and stored.startswith("scrypt:")


def test_json_login_locks_the_account_after_repeated_failures(world, client, app):
    _, username, password = world.staff("finance")
    codes = [client.post("/admin/api/v1/auth/login", json={"username": username, "password": "wrong"}).get_json()
             ["error"]["code"] for _ in range(5)]
    assert codes == ["invalid_credentials"] * 4 + ["account_locked"]
    locked = client.post("/admin/api/v1/auth/login", json={"username": username, "password": password})
    assert locked.status_code == 429
    assert locked.get_json()["error"]["code"] == "account_locked"
    assert locked.get_json()["error"]["details"]["retry_after_seconds"] > 0
    with app.app_context():
        attempts = db.session.query(LoginAttempt).filter_by(username=username).all()
        assert len(attempts) == 6 and not any(a.succeeded for a in attempts)


def test_unknown_user_and_wrong_password_look_the_same(world, client):
    _, username, _ = world.staff("finance")
    a = client.post("/admin/api/v1/auth/login", json={"username": username, "password": "nope"})
    b = client.post("/admin/api/v1/auth/login", json={"username": "nobody", "password": "nope"})
    assert a.status_code == b.status_code == 401
    assert a.get_json() == b.get_json()


def test_page_login_sets_a_safe_session_cookie_and_lands_on_the_dashboard(world, client):
    _, username, password = world.staff("operations")
    response = login_page(client, username, password)
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    dashboard = client.get("/admin/")
    assert dashboard.status_code == 200 and "概览" in dashboard.get_data(as_text=True)


def test_page_login_failure_shows_a_chinese_error_and_counts_toward_lockout(world, client, app):
    _, username, _ = world.staff("operations")
    response = login_page(client, username, "wrong")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(StaffUser).filter_by(username=username).one().failed_logins == 1


def test_forms_without_the_csrf_token_are_refused(world, client, app):
    _, username, password = world.staff("operations")
    response = client.post("/admin/login", data={"username": username, "password": password})
    assert response.status_code == 400
    assert "页面已过期" in response.get_data(as_text=True)
    login_page(client, username, password)
    pending = world.apply()
    forged = client.post(f"/admin/consultants/{pending.id}/approve", data={"csrf_token": "forged"})
    assert forged.status_code == 400
    status = client.get(f"/admin/api/v1/consultants/{pending.id}", headers=world.staff_auth("operations")).get_json()
    assert status["status"] == "pending"


def test_pages_redirect_anonymous_visitors_to_login(client):
    response = client.get("/admin/consultants?status=pending")
    assert response.status_code == 302
    assert "/admin/login?next=" in response.headers["Location"]


@pytest.mark.parametrize("role,expected", [("operations", 200), ("admin", 200), ("finance", 403), ("site_staff", 403)])
def test_consultant_pages_and_api_allow_only_their_roles(world, client, role, expected):
    _, username, password = world.staff(role)
    login_page(client, username, password)
    page = client.get("/admin/consultants")
    assert page.status_code == expected
    if expected == 403:
        assert "您的角色无权访问此功能" in page.get_data(as_text=True)
        assert page.mimetype == "text/html"
    api = client.get("/admin/api/v1/consultants", headers=world.staff_auth(role))
    assert api.status_code == expected
    if expected == 403:
        assert api.get_json()["error"]["code"] == "role_forbidden"


def test_only_admins_publish_agreements(world, client):
    response = client.post("/admin/api/v1/agreements", headers=world.staff_auth("operations"),
                           json={"title": "协议", "text": "这是一份足够长的协议文本，用来测试发布权限。"})
    assert response.status_code == 403


def test_every_admin_route_declares_its_roles(app):
    """Pages and JSON endpoints alike: a route without declared roles is a hole."""
    undeclared = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin") or rule.endpoint.endswith(("static", "openapi_json", "openapi_swagger_ui")):
            continue
        view = app.view_functions[rule.endpoint]
        view_class = getattr(view, "view_class", None)
        if view_class is None:
            if not getattr(view, "allowed_roles", None):
                undeclared.append(rule.rule)
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            handler = getattr(view_class, method.lower())
            if not (getattr(handler, "allowed_roles", None) or getattr(view_class, "allowed_roles", None)):
                undeclared.append(f"{method} {rule.rule}")
    assert undeclared == []


def test_logout_ends_the_session(world, client):
    _, username, password = world.staff("admin")
    page = login_page(client, username, password)
    assert page.status_code == 302
    token = csrf_from(client.get("/admin/").get_data(as_text=True))
    client.post("/admin/logout", data={"csrf_token": token})
    assert client.get("/admin/").status_code == 302


def test_approval_through_the_page_is_recorded_with_the_staff_members_name(world, client):
    _, username, password = world.staff("operations")
    login_page(client, username, password)
    pending = world.apply(name="待审顾问")
    detail = client.get(f"/admin/consultants/{pending.id}").get_data(as_text=True)
    response = client.post(f"/admin/consultants/{pending.id}/approve", data={"csrf_token": csrf_from(detail)})
    assert response.status_code == 302
    page = client.get(f"/admin/consultants/{pending.id}").get_data(as_text=True)
    assert "已审核通过" in page and "待审核 → 已激活" in page and "测试operations" in page
