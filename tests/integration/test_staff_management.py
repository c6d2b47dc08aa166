"""Staff management by admins (/admin/api/v1/staff and /admin/staff/): accounts, roles,
deactivation, password resets, sign-out everywhere, unlocking, and the audit log."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from estate_platform.db import db, utcnow
from estate_platform.identity import staff as accounts
from estate_platform.identity.models import StaffAuditEntry, StaffUser
from estate_platform.identity.passwords import password_problems

API = "/admin/api/v1/staff"
GOOD_PASSWORD = "blue-kettle-orbit-42"


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "form has no CSRF token"
    return match.group(1)


def page_login(client, username, password):
    page = client.get("/admin/login")
    return client.post("/admin/login", data={"username": username, "password": password,
                                             "csrf_token": csrf_from(page.get_data(as_text=True))})


def login(client, username, password, ip="198.51.100.7"):
    return client.post("/admin/api/v1/auth/login", json={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": ip})


def create(client, world, expect=201, **fields):
    body = {"username": "li.si", "display_name": "李四", "role": "finance", "password": GOOD_PASSWORD, **fields}
    response = client.post(API, json=body, headers=world.staff_auth("admin"))
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def audit_rows(app) -> list[StaffAuditEntry]:
    with app.app_context():
        rows = db.session.query(StaffAuditEntry).order_by(StaffAuditEntry.id).all()
        db.session.expunge_all()
        return rows


# --- who may -------------------------------------------------------------------------------------

ROUTES = [("get", ""), ("post", ""), ("get", "/audit"), ("get", "/1"), ("post", "/1/role"),
          ("post", "/1/deactivate"), ("post", "/1/reactivate"), ("post", "/1/password"), ("post", "/1/sign-out"),
          ("post", "/1/unlock")]


@pytest.mark.parametrize("role", ["finance", "operations", "site_staff"])
def test_only_admins_reach_any_staff_route(world, client, role):
    headers = world.staff_auth(role)
    for method, path in ROUTES:
        response = getattr(client, method)(API + path, headers=headers, json={} if method == "post" else None)
        assert (response.status_code, response.get_json()["error"]["code"]) == (403, "role_forbidden"), path


@pytest.mark.parametrize("role", ["finance", "operations", "site_staff"])
def test_only_admins_see_the_staff_pages(world, client, role):
    _, username, password = world.staff(role)
    page_login(client, username, password)
    for path in ("/admin/staff/", "/admin/staff/audit", "/admin/staff/1"):
        assert client.get(path).status_code == 403, path


def test_every_staff_route_needs_a_token(client):
    for method, path in ROUTES:
        response = getattr(client, method)(API + path, json={} if method == "post" else None)
        assert response.status_code == 401, path


# --- creating -------------------------------------------------------------------------------------

def test_an_admin_creates_a_member_who_can_sign_in_and_nothing_reveals_the_password(world, client, app):
    created = create(client, world, username="Li.Si")
    assert created["username"] == "li.si" and created["role"] == "finance" and created["is_active"]
    assert "password" not in created and "password_hash" not in created
    assert login(client, "li.si", GOOD_PASSWORD).status_code == 200
    [entry] = [e for e in audit_rows(app) if e.action == "create"]
    assert entry.details == {"username": "li.si", "display_name": "李四", "role": "finance"}
    assert entry.channel == "api" and entry.actor_id is not None and entry.target_id == created["id"]


def test_a_taken_username_is_a_409_whatever_its_case(world, client):
    create(client, world)
    response = client.post(API, headers=world.staff_auth("admin"),
                           json={"username": "LI.SI", "display_name": "另一个李四", "role": "finance",
                                 "password": GOOD_PASSWORD})
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "username_taken" and "scrypt" not in json.dumps(error)


@pytest.mark.parametrize("password, problem", [
    ("short-pw-1", "至少 12 个字符"),
    ("password123456", "过于常见"),
    ("1qaz2wsx3edc", "过于常见"),
    ("aaaaaaaaaaaaaaaa", "过于常见"),
    ("my-li.si-password-x", "不能包含用户名"),
])
def test_weak_passwords_are_refused_with_the_reason(world, client, counts, password, problem):
    world.staff_auth("admin")
    before = counts()
    response = client.post(API, headers=world.staff_auth("admin"),
                           json={"username": "li.si", "display_name": "李四", "role": "finance", "password": password})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "weak_password"
    assert any(problem in message for message in error["details"]["fields"]["password"])
    assert counts() == before


def test_the_policy_accepts_a_long_uncommon_password():
    assert password_problems(GOOD_PASSWORD, "li.si") == []
    assert password_problems("correct horse battery staple") == []


@pytest.mark.parametrize("fields, field", [
    ({"role": "site_staff"}, "developer_id"),
    ({"role": "site_staff", "developer_id": 999999}, "developer_id"),
    ({"role": "finance", "developer_id": 1}, "developer_id"),
    ({"username": "李四"}, "username"),
    ({"username": "-li"}, "username"),
])
def test_bad_accounts_are_refused_field_by_field(world, client, fields, field):
    response = client.post(API, headers=world.staff_auth("admin"),
                           json={"username": "li.si", "display_name": "李四", "role": "finance",
                                 "password": GOOD_PASSWORD, **fields})
    assert response.status_code == 422
    assert field in response.get_json()["error"]["details"]["fields"]


def test_site_staff_are_created_for_an_existing_developer(world, client):
    project_id = world.project()
    with world.app.app_context():
        from estate_platform.projects.models import Project
        developer_id = db.session.get(Project, project_id).developer_id
    created = create(client, world, role="site_staff", developer_id=developer_id)
    assert created["developer_id"] == developer_id


# --- listing --------------------------------------------------------------------------------------

def test_the_list_filters_by_role_state_and_text(world, client):
    create(client, world, username="wang.wu", display_name="王五", role="operations")
    create(client, world, username="zhao.liu", display_name="赵六", role="operations")
    zhao = client.get(f"{API}?q=赵", headers=world.staff_auth("admin")).get_json()
    assert [s["username"] for s in zhao["items"]] == ["zhao.liu"]
    ops = client.get(f"{API}?role=operations", headers=world.staff_auth("admin")).get_json()
    assert {s["username"] for s in ops["items"]} == {"wang.wu", "zhao.liu"} and ops["total"] == 2
    inactive = client.get(f"{API}?active=false", headers=world.staff_auth("admin")).get_json()
    assert inactive["items"] == []
    assert client.get(f"{API}?role=boss", headers=world.staff_auth("admin")).status_code == 422


# --- changing -------------------------------------------------------------------------------------

def test_changing_a_role_takes_effect_at_once_and_is_logged(world, client, app):
    created = create(client, world, role="finance")
    token = login(client, "li.si", GOOD_PASSWORD).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/admin/api/v1/consultants", headers=headers).status_code == 403
    response = client.post(f"{API}/{created['id']}/role", headers=world.staff_auth("admin"),
                           json={"role": "operations"})
    assert response.status_code == 200 and response.get_json()["role"] == "operations"
    assert client.get("/admin/api/v1/consultants", headers=headers).status_code == 200
    [entry] = [e for e in audit_rows(app) if e.action == "role"]
    assert entry.details == {"role_from": "finance", "role_to": "operations"}


def test_an_admin_cannot_demote_or_deactivate_himself(world, client):
    admin_headers = world.staff_auth("admin")
    me = client.get(f"{API}?role=admin", headers=admin_headers).get_json()["items"][0]
    for path, body in (("role", {"role": "finance"}), ("deactivate", {})):
        response = client.post(f"{API}/{me['id']}/{path}", headers=admin_headers, json=body)
        assert (response.status_code, response.get_json()["error"]["code"]) == (409, "cannot_change_self")
    assert client.get(f"{API}/{me['id']}", headers=admin_headers).get_json()["role"] == "admin"


def test_the_last_active_admin_cannot_be_removed_even_from_the_command_line(world, session):
    admin_id, _, _ = world.staff("admin")
    for change in (lambda: accounts.change_role(session, admin_id, "finance", actor=None, channel="cli", now=utcnow()),
                   lambda: accounts.set_active(session, admin_id, False, actor=None, channel="cli", now=utcnow())):
        with pytest.raises(accounts.LastAdmin):
            change()
    other_id, _, _ = world.staff("admin")
    accounts.set_active(session, admin_id, False, actor=None, channel="cli", now=utcnow())
    with pytest.raises(accounts.LastAdmin):
        accounts.change_role(session, other_id, "operations", actor=None, channel="cli", now=utcnow())


def test_a_deactivated_member_loses_his_token_his_page_session_and_his_sign_in(world, client, app):
    created = create(client, world)
    token = login(client, "li.si", GOOD_PASSWORD).get_json()["token"]
    pages = app.test_client()
    page_login(pages, "li.si", GOOD_PASSWORD)
    assert pages.get("/admin/").status_code == 200
    response = client.post(f"{API}/{created['id']}/deactivate", headers=world.staff_auth("admin"),
                           json={"reason": "离职"})
    assert response.status_code == 200 and response.get_json()["is_active"] is False
    revoked = client.post("/admin/api/v1/auth/revoke", headers={"Authorization": f"Bearer {token}"})
    assert revoked.status_code == 401
    assert pages.get("/admin/").status_code == 302
    assert login(client, "li.si", GOOD_PASSWORD).get_json()["error"]["code"] == "invalid_credentials"
    again = client.post(f"{API}/{created['id']}/deactivate", headers=world.staff_auth("admin"), json={})
    assert again.get_json()["error"]["code"] == "staff_status_unchanged"
    assert client.post(f"{API}/{created['id']}/reactivate", headers=world.staff_auth("admin"),
                       json={}).status_code == 200
    assert login(client, "li.si", GOOD_PASSWORD).status_code == 200
    assert [e.action for e in audit_rows(app)][-2:] == ["deactivate", "reactivate"]
    assert [e.details for e in audit_rows(app) if e.action == "deactivate"] == [{"reason": "离职"}]


def test_a_password_reset_applies_the_policy_and_ends_every_session(world, client, app):
    created = create(client, world)
    token = login(client, "li.si", GOOD_PASSWORD).get_json()["token"]
    weak = client.post(f"{API}/{created['id']}/password", headers=world.staff_auth("admin"), json={"password": "x"})
    assert (weak.status_code, weak.get_json()["error"]["code"]) == (422, "weak_password")
    new_password = "green-harbour-lantern-7"
    reset = client.post(f"{API}/{created['id']}/password", headers=world.staff_auth("admin"),
                        json={"password": new_password})
    assert reset.status_code == 200
    assert client.post("/admin/api/v1/auth/revoke", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert login(client, "li.si", GOOD_PASSWORD).status_code == 401
    assert login(client, "li.si", new_password).status_code == 200
    log = json.dumps([e.details for e in audit_rows(app)], ensure_ascii=False)
    assert new_password not in log and GOOD_PASSWORD not in log and "scrypt" not in log


def test_sign_out_everywhere_ends_tokens_and_page_sessions_but_not_the_account(world, client, app):
    created = create(client, world)
    token = login(client, "li.si", GOOD_PASSWORD).get_json()["token"]
    pages = app.test_client()
    page_login(pages, "li.si", GOOD_PASSWORD)
    assert client.post(f"{API}/{created['id']}/sign-out", headers=world.staff_auth("admin")).status_code == 200
    assert client.post("/admin/api/v1/auth/revoke", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert pages.get("/admin/").status_code == 302
    assert login(client, "li.si", GOOD_PASSWORD).status_code == 200
    assert audit_rows(app)[-1].action == "sign_out"


def test_an_admin_unlock_lets_a_throttled_member_straight_back_in(world, client, app):
    created = create(client, world)
    for _ in range(5):
        login(client, "li.si", "wrong-guess", ip="203.0.113.9")
    assert login(client, "li.si", GOOD_PASSWORD).get_json()["error"]["code"] == "login_throttled"
    shown = client.get(f"{API}/{created['id']}", headers=world.staff_auth("admin")).get_json()
    assert shown["login_failures"] == 5 and shown["login_blocked_until"] is not None
    assert client.post(f"{API}/{created['id']}/unlock", headers=world.staff_auth("admin")).status_code == 200
    assert login(client, "li.si", GOOD_PASSWORD).status_code == 200
    entry = audit_rows(app)[-1]
    assert entry.action == "unlock" and entry.details == {"failures": 5, "was_blocked": True}


def test_every_change_is_in_the_audit_log_with_who_what_whom_and_when(world, client):
    created = create(client, world)
    admin = world.staff_auth("admin")
    for path, body in (("role", {"role": "operations"}), ("sign-out", None), ("unlock", None),
                       ("password", {"password": "green-harbour-lantern-7"}), ("deactivate", {}),
                       ("reactivate", {})):
        assert client.post(f"{API}/{created['id']}/{path}", headers=admin, json=body).status_code == 200, path
    log = client.get(f"{API}/audit?staff_id={created['id']}", headers=admin).get_json()
    assert [e["action"] for e in log["items"]] == ["reactivate", "deactivate", "password", "unlock", "sign_out",
                                                   "role", "create"]
    assert {e["target"]["username"] for e in log["items"]} == {"li.si"}
    assert {e["actor"]["username"].startswith("admin-") for e in log["items"]} == {True}
    assert all(e["created_at"] and e["channel"] == "api" for e in log["items"])
    assert log["items"][0]["action_label"] == "重新启用"


def test_the_audit_log_cannot_be_rewritten(world, client, app):
    create(client, world)
    with app.app_context():
        for statement in ("UPDATE staff_audit_log SET action = 'unlock'", "DELETE FROM staff_audit_log"):
            with pytest.raises((IntegrityError, DBAPIError)) as refused:
                db.session.execute(text(statement))
            assert "immutable" in str(refused.value)
            db.session.rollback()


def test_an_unknown_member_is_a_404(world, client):
    response = client.post(f"{API}/999999/sign-out", headers=world.staff_auth("admin"))
    assert (response.status_code, response.get_json()["error"]["code"]) == (404, "staff_not_found")


# --- pages ----------------------------------------------------------------------------------------

@pytest.fixture
def admin_pages(world, client):
    _, username, password = world.staff("admin", username="boss")
    assert page_login(client, username, password).status_code == 302
    return client


def test_an_admin_creates_a_member_in_the_page_and_sees_it_logged(admin_pages, app):
    listing = admin_pages.get("/admin/staff/")
    assert listing.status_code == 200 and "新建员工账号" in listing.get_data(as_text=True)
    response = admin_pages.post("/admin/staff/", data={
        "csrf_token": csrf_from(listing.get_data(as_text=True)), "username": "li.si", "display_name": "李四",
        "role": "operations", "developer_id": "", "password": GOOD_PASSWORD})
    assert response.status_code == 302
    detail = admin_pages.get(response.headers["Location"]).get_data(as_text=True)
    assert "已创建员工账号 li.si" in detail and "创建账号" in detail and "后台页面" in detail
    audit = admin_pages.get("/admin/staff/audit").get_data(as_text=True)
    assert "李四（li.si）" in audit and "boss" in audit
    [entry] = [e for e in audit_rows(app) if e.action == "create"]
    assert entry.channel == "page"


def test_the_create_form_shows_the_password_problem_and_keeps_the_other_fields(admin_pages):
    listing = admin_pages.get("/admin/staff/").get_data(as_text=True)
    response = admin_pages.post("/admin/staff/", data={
        "csrf_token": csrf_from(listing), "username": "li.si", "display_name": "李四", "role": "finance",
        "password": "123"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "密码至少 12 个字符" in html and 'value="li.si"' in html


def test_page_forms_without_the_csrf_token_change_nothing(admin_pages, world, counts):
    member_id, _, _ = world.staff("finance")
    before = counts()
    assert admin_pages.post("/admin/staff/", data={"username": "li.si", "display_name": "李四", "role": "finance",
                                                   "password": GOOD_PASSWORD}).status_code == 400
    assert admin_pages.post(f"/admin/staff/{member_id}/deactivate", data={"csrf_token": "forged"}).status_code == 400
    assert counts() == before


def test_page_actions_deactivate_unlock_and_refuse_demoting_oneself(admin_pages, world, client, app):
    member_id, username, _ = world.staff("finance")
    detail = admin_pages.get(f"/admin/staff/{member_id}").get_data(as_text=True)
    token = csrf_from(detail)
    for _ in range(5):
        login(app.test_client(), username, "wrong-guess")
    assert "近期连续失败 5 次" in admin_pages.get(f"/admin/staff/{member_id}").get_data(as_text=True)
    assert admin_pages.post(f"/admin/staff/{member_id}/unlock", data={"csrf_token": token}).status_code == 302
    assert admin_pages.post(f"/admin/staff/{member_id}/deactivate",
                            data={"csrf_token": token, "reason": "离职"}).status_code == 302
    page = admin_pages.get(f"/admin/staff/{member_id}").get_data(as_text=True)
    assert "已停用" in page and "原因：离职" in page and "解除登录限制" in page
    with app.app_context():
        boss_id = db.session.query(StaffUser).filter_by(username="boss").one().id
    refused = admin_pages.post(f"/admin/staff/{boss_id}/role", data={"csrf_token": token, "role": "finance"})
    assert refused.status_code == 409 and "不能停用自己的账号或更改自己的角色" in refused.get_data(as_text=True)


def test_a_page_password_reset_needs_the_same_password_twice(admin_pages, world):
    member_id, _, _ = world.staff("finance")
    token = csrf_from(admin_pages.get(f"/admin/staff/{member_id}").get_data(as_text=True))
    mismatch = admin_pages.post(f"/admin/staff/{member_id}/password", data={
        "csrf_token": token, "password": "green-harbour-lantern-7", "password_confirm": "green-harbour-lantern-8"})
    assert mismatch.status_code == 422 and "两次输入的密码不一致" in mismatch.get_data(as_text=True)
    done = admin_pages.post(f"/admin/staff/{member_id}/password", data={
        "csrf_token": token, "password": "green-harbour-lantern-7", "password_confirm": "green-harbour-lantern-7"})
    assert done.status_code == 302
