"""Staff sign-in: hashed passwords, the throttle per username and per address (no lock-out,
no telling which names exist), session cookie, CSRF and roles."""
from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from estate_platform.db import db
from estate_platform.identity.models import LoginAttempt, LoginThrottle, StaffUser
from tests.parallel import parallel


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


class Clock:
    """The login endpoints' clock, moved by the test (services take ``now``)."""

    def __init__(self):
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr("admin.api.utcnow", fake)
    monkeypatch.setattr("admin.pages.utcnow", fake)
    return fake


def login(client, username, password, ip="198.51.100.7"):
    return client.post("/admin/api/v1/auth/login", json={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": ip})


def answer(response) -> tuple:
    """Everything a caller sees, except the per-request id."""
    body = response.get_json()
    body.get("error", {}).pop("request_id", None)
    return response.status_code, body, response.headers.get("Retry-After")


def code(response) -> str:
    return response.get_json()["error"]["code"]


def test_five_wrong_passwords_then_even_the_right_one_waits_30_seconds_but_nothing_is_locked(world, client, clock):
    _, username, password = world.staff("finance")
    assert [code(login(client, username, "wrong")) for _ in range(5)] == ["invalid_credentials"] * 5
    waiting = login(client, username, password)
    assert waiting.status_code == 429 and code(waiting) == "login_throttled"
    assert waiting.headers["Retry-After"] == "30"
    assert waiting.get_json()["error"]["details"]["retry_after_seconds"] == 30
    clock.advance(30)
    assert login(client, username, password).status_code == 200


def test_each_further_failure_doubles_the_wait_up_to_15_minutes(world, client, clock):
    _, username, _ = world.staff("finance")
    for _ in range(5):
        login(client, username, "wrong")
    waits = []
    for _ in range(7):
        probe = login(client, username, "wrong")
        assert probe.status_code == 429
        waits.append(int(probe.headers["Retry-After"]))
        clock.advance(waits[-1])
        assert code(login(client, username, "wrong")) == "invalid_credentials"
    assert waits == [30, 60, 120, 240, 480, 900, 900]


def test_a_successful_sign_in_resets_the_username_counter(world, client, clock):
    _, username, password = world.staff("finance")
    for _ in range(4):
        login(client, username, "wrong")
    assert login(client, username, password).status_code == 200
    assert [code(login(client, username, "wrong")) for _ in range(5)] == ["invalid_credentials"] * 5
    assert code(login(client, username, "wrong")) == "login_throttled"


def test_failures_are_forgotten_after_an_hour_without_one(world, client, clock):
    _, username, password = world.staff("finance")
    for _ in range(4):
        login(client, username, "wrong")
    clock.advance(61 * 60)
    assert [code(login(client, username, "wrong")) for _ in range(5)] == ["invalid_credentials"] * 5


def test_the_hourly_purge_forgets_quiet_counters_and_keeps_a_running_back_off(world, client, app, clock):
    from estate_platform.tasks import purge_stale_login_throttles_task
    _, quiet, _ = world.staff("finance")
    _, blocked, _ = world.staff("operations")
    login(client, quiet, "wrong")
    clock.advance(59 * 60)
    for _ in range(5):
        login(client, blocked, "wrong", ip="203.0.113.9")
    clock.advance(2 * 60)  # the quiet name is 61 minutes old; the other waits out its back-off
    with app.app_context():
        def scopes():
            return sorted((t.scope, t.key) for t in db.session.query(LoginThrottle))
        before = scopes()
        assert purge_stale_login_throttles_task.apply(args=[clock.now.isoformat()]).get() == 2
        db.session.expire_all()
        kept = scopes()
        assert len(before) == 4 and all(quiet not in key for _, key in kept) and len(kept) == 2
        assert purge_stale_login_throttles_task.apply(args=[clock.now.isoformat()]).get() == 0


def test_known_and_unknown_usernames_get_identical_answers_at_every_step(world, client, clock):
    _, username, _ = world.staff("finance")
    known = [answer(login(client, username, "wrong", ip="198.51.100.1")) for _ in range(7)]
    unknown = [answer(login(client, "nobody-here", "wrong", ip="198.51.100.2")) for _ in range(7)]
    clock.advance(30)
    known.append(answer(login(client, username, "wrong", ip="198.51.100.1")))
    unknown.append(answer(login(client, "nobody-here", "wrong", ip="198.51.100.2")))
    assert known == unknown
    assert [status for status, _, _ in known] == [401] * 5 + [429, 429, 401]


def test_an_unknown_username_costs_a_password_check_like_a_known_one(world, client, monkeypatch):
    from estate_platform.identity import services
    checks = []
    real = services.verify_password
    monkeypatch.setattr(services, "verify_password", lambda stored, given: checks.append(stored) or real(stored, given))
    _, username, _ = world.staff("finance")
    login(client, username, "wrong")
    login(client, "nobody-here", "wrong")
    assert len(checks) == 2 and all(stored.startswith("scrypt:") for stored in checks)


def test_a_deactivated_member_with_the_right_password_is_answered_like_a_wrong_password(world, client, app):
    _, username, password = world.staff("finance")
    wrong = answer(login(client, username, "wrong", ip="198.51.100.1"))
    with app.app_context():
        db.session.query(StaffUser).filter_by(username=username).one().is_active = False
        db.session.commit()
    right = answer(login(client, username, password, ip="198.51.100.2"))
    assert right == wrong and right[0] == 401


def test_the_username_throttle_holds_from_every_address(world, client, clock):
    """A guesser has many addresses; the victim's wait starts at 30 s and an admin can clear it."""
    _, username, password = world.staff("finance")
    for i in range(5):
        login(client, username, "wrong", ip=f"203.0.113.{i}")
    assert code(login(client, username, password, ip="198.51.100.99")) == "login_throttled"


def test_one_address_trying_many_usernames_is_throttled_after_twenty_failures(world, client, clock):
    _, username, password = world.staff("finance")
    codes = [code(login(client, f"guess-{i}", "wrong", ip="203.0.113.5")) for i in range(20)]
    assert codes == ["invalid_credentials"] * 20
    assert code(login(client, username, password, ip="203.0.113.5")) == "login_throttled"
    assert login(client, username, password, ip="198.51.100.8").status_code == 200


def test_ipv6_addresses_are_throttled_by_their_64_block(world, client, clock):
    for i in range(20):
        login(client, f"guess-{i}", "wrong", ip=f"2001:db8:1:2::{i + 1:x}")
    assert code(login(client, "guess-x", "wrong", ip="2001:db8:1:2:ffff::1")) == "login_throttled"
    assert code(login(client, "guess-x", "wrong", ip="2001:db8:1:3::1")) == "invalid_credentials"


def test_usernames_are_matched_without_case_or_spaces_and_share_one_counter(world, client, clock):
    _, username, password = world.staff("finance")
    assert login(client, f"  {username.upper()} ", password).status_code == 200
    for _ in range(5):
        login(client, username.upper(), "wrong")
    assert code(login(client, username, password)) == "login_throttled"


def test_every_attempt_is_recorded_although_the_answer_is_an_error(world, client, app, clock):
    _, username, password = world.staff("finance")
    for _ in range(5):
        login(client, username, "wrong")
    login(client, username, password)
    with app.app_context():
        attempts = db.session.query(LoginAttempt).filter_by(username=username).all()
        assert len(attempts) == 6 and not any(a.succeeded for a in attempts)
        assert {a.ip for a in attempts} == {"198.51.100.7"}


def test_the_login_page_while_throttled_says_how_long_to_wait(world, client, clock):
    _, username, password = world.staff("operations")
    for _ in range(5):
        login_page(client, username, "wrong")
    response = login_page(client, username, password)
    assert response.status_code == 429 and response.headers["Retry-After"] == "30"
    assert "请 30 秒后再试" in response.get_data(as_text=True)
    clock.advance(30)
    assert login_page(client, username, password).status_code == 302


@pytest.mark.postgres
def test_parallel_guesses_at_one_username_get_no_more_than_the_free_failures(world, app):
    """The counters are locked for each attempt, so a burst cannot all pass one check."""
    _, username, _ = world.staff("finance")
    outcome = parallel(app, [lambda c: c.post("/admin/api/v1/auth/login",
                                              json={"username": username, "password": "wrong"})] * 12)
    assert outcome == Counter({(401, "invalid_credentials"): 5, (429, "login_throttled"): 7})


def test_page_login_sets_a_safe_session_cookie_and_lands_on_the_dashboard(world, client):
    _, username, password = world.staff("operations")
    response = login_page(client, username, password)
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    dashboard = client.get("/admin/")
    assert dashboard.status_code == 200 and "概览" in dashboard.get_data(as_text=True)


def test_page_login_failure_shows_a_chinese_error_and_counts_toward_the_throttle(world, client, app):
    _, username, _ = world.staff("operations")
    response = login_page(client, username, "wrong")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.get_data(as_text=True)
    with app.app_context():
        counters = {t.scope: t.failures for t in db.session.query(LoginThrottle)}
    assert counters == {"username": 1, "ip": 1}


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
