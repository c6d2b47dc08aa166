"""Issue 15's remaining gaps: a registration's full phone is read only for the purpose the
staff member states (logged); the project form's SMS-notice box; a buyer's objection opens
one risk flag; a staff download of a buyer's access copy is a logged full-phone read."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from estate_platform.db import db
from estate_platform.identity.models import Buyer
from estate_platform.notifications.models import Notification
from estate_platform.privacy import services as privacy
from estate_platform.privacy.models import RegistrationObjection
from estate_platform.projects.models import Project
from estate_platform.registrations import services as registrations
from estate_platform.registrations.models import PhoneReveal
from estate_platform.risk import objections
from estate_platform.risk.models import RiskFlag
from tests.conftest import now
from tests.integration.test_projects import page_form
from tests.integration.test_staff_auth import csrf_from, login_page

ADMIN = "/admin/api/v1"


def reveals(app) -> list[tuple[int, int | None, str]]:
    with app.app_context():
        return [(r.staff_user_id, r.registration_id, r.purpose)
                for r in db.session.scalars(select(PhoneReveal).order_by(PhoneReveal.id))]


def sms_to(app, phone: str) -> list:
    return [n for n in app.extensions["adapters"].sms.notices if n[0] == "+86" + phone]


def objection_path(app, phone: str) -> str:
    [(_, _, params)] = sms_to(app, phone)
    return params["link"].split("5000", 1)[1]


def flags(app, kind: str = objections.KIND) -> list[RiskFlag]:
    with app.app_context():
        return db.session.scalars(select(RiskFlag).where(RiskFlag.kind == kind).order_by(RiskFlag.id)).all()


# --- 1. the registration's reveal names the staff member's purpose ---------------------------------------

def test_a_registration_reveal_is_refused_without_a_purpose_and_logs_the_one_given(world, client, app):
    phone = world.next_buyer_phone()
    held = world.register(world.operating_consultant(), world.project(), phone)
    url = f"{ADMIN}/registrations/{held['id']}/reveal-phone"
    ops_id, username, password = world.staff("operations")
    token = client.post(f"{ADMIN}/auth/login", json={"username": username, "password": password}).get_json()["token"]
    ops = {"Authorization": f"Bearer {token}"}
    for body in ({}, {"purpose": ""}, {"purpose": "x" * 101}):
        refused = client.post(url, headers=ops, json=body)
        assert refused.status_code == 422, (body, refused.get_json())
    assert client.post(url, headers=ops, json={"purpose": "   "}).get_json()["error"]["code"] == "validation_error"
    assert reveals(app) == []
    shown = client.post(url, headers=ops, json={"purpose": "核实客户异议"})
    assert shown.status_code == 200 and shown.get_json() == {"registration_id": held["id"], "phone": phone}
    assert reveals(app) == [(ops_id, held["id"], f"报备 #{held['id']}：核实客户异议")]


def test_only_platform_staff_reveal_a_registrations_phone_and_a_missing_one_is_not_found(world, client, app):
    held = world.register(world.operating_consultant(), world.project())
    for role in ("finance", "site_staff"):
        refused = client.post(f"{ADMIN}/registrations/{held['id']}/reveal-phone", headers=world.staff_auth(role),
                              json={"purpose": "联系客户"})
        assert refused.status_code == 403, role
    missing = client.post(f"{ADMIN}/registrations/999999/reveal-phone", headers=world.staff_auth("admin"),
                          json={"purpose": "联系客户"})
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "registration_not_found"
    assert reveals(app) == []


def test_the_registration_page_asks_for_the_purpose_and_shows_the_number_only_with_it(world, client, app):
    phone = world.next_buyer_phone()
    held = world.register(world.operating_consultant(), world.project(), phone)
    staff_id, username, password = world.staff("operations")
    login_page(client, username, password)
    detail = client.get(f"/admin/registrations/{held['id']}").get_data(as_text=True)
    assert 'name="purpose"' in detail and phone not in detail
    url = f"/admin/registrations/{held['id']}/reveal-phone"
    blank = client.post(url, data={"csrf_token": csrf_from(detail), "purpose": " "})
    page = blank.get_data(as_text=True)
    assert blank.status_code == 422 and phone not in page and "请填写查看完整号码的用途" in page
    assert reveals(app) == []
    shown = client.post(url, data={"csrf_token": csrf_from(page), "purpose": "客户来电要求核实"})
    assert shown.status_code == 200 and phone in shown.get_data(as_text=True)
    assert reveals(app) == [(staff_id, held["id"], f"报备 #{held['id']}：客户来电要求核实")]


# --- 2. the project form's SMS-notice box -------------------------------------------------------------------

def test_the_project_form_tells_buyers_by_default_and_unchecking_the_box_stops_the_sms(world, client, app):
    _, username, password = world.staff("operations")
    login_page(client, username, password)
    with app.app_context():
        developer_id = db.session.get(Project, world.project()).developer_id
    form_page = client.get("/admin/projects/new").get_data(as_text=True)
    assert 'name="notify_buyer_on_registration" value="1" checked' in form_page
    created = client.post("/admin/projects/new", data={
        **page_form(name="静默府", developer_id=str(developer_id), daily_buyer_project_limit="5"),
        "notify_buyer_on_registration_shown": "1", "csrf_token": csrf_from(form_page)})  # the box left unchecked
    assert created.status_code == 302, created.get_data(as_text=True)
    with app.app_context():
        project = db.session.scalar(select(Project).where(Project.name == "静默府"))
        assert project.notify_buyer_on_registration is False
    project_id = project.id
    consultant = world.operating_consultant()
    quiet = world.next_buyer_phone()
    world.register(consultant, project_id, quiet)
    assert sms_to(app, quiet) == []

    edit = client.get(f"/admin/projects/{project_id}/edit").get_data(as_text=True)
    assert 'name="notify_buyer_on_registration" value="1" >' in edit  # shown unchecked
    saved = client.post(f"/admin/projects/{project_id}/edit", data={
        **page_form(name="静默府", developer_id=str(developer_id), daily_buyer_project_limit="5"),
        "notify_buyer_on_registration_shown": "1", "notify_buyer_on_registration": "1", "csrf_token": csrf_from(edit)})
    assert saved.status_code == 302
    told = world.next_buyer_phone()
    world.register(consultant, project_id, told)
    assert len(sms_to(app, told)) == 1


def test_a_form_that_did_not_show_the_box_leaves_the_setting_alone(world, client, app):
    _, username, password = world.staff("operations")
    login_page(client, username, password)
    project_id = world.project(notify_buyer_on_registration=False)
    with app.app_context():
        developer_id = db.session.get(Project, project_id).developer_id
    edit = client.get(f"/admin/projects/{project_id}/edit").get_data(as_text=True)
    saved = client.post(f"/admin/projects/{project_id}/edit",
                        data={**page_form(developer_id=str(developer_id)), "csrf_token": csrf_from(edit)})
    assert saved.status_code == 302
    with app.app_context():
        assert db.session.get(Project, project_id).notify_buyer_on_registration is False


def test_the_json_api_turns_the_buyer_notice_off_and_on(world, client, app):
    project_id = world.project()
    ops = world.staff_auth("operations")
    off = client.patch(f"{ADMIN}/projects/{project_id}", headers=ops, json={"notify_buyer_on_registration": False})
    assert off.status_code == 200 and off.get_json()["rules"]["notify_buyer_on_registration"] is False
    quiet = world.next_buyer_phone()
    world.register(world.operating_consultant(), project_id, quiet)
    assert sms_to(app, quiet) == []
    bad = client.patch(f"{ADMIN}/projects/{project_id}", headers=ops, json={"notify_buyer_on_registration": "maybe"})
    assert bad.status_code == 422


# --- 3. a buyer's objection opens one risk flag ---------------------------------------------------------------

def test_a_buyers_objection_opens_one_risk_flag_about_the_registering_consultant(world, client, app):
    consultant = world.operating_consultant(name="张三")
    project_id = world.project()
    phone = world.next_buyer_phone()
    held = world.register(consultant, project_id, phone)
    path = objection_path(app, phone)
    with app.app_context():
        told_before = db.session.scalar(select(func.count()).select_from(Notification)
                                        .where(Notification.consultant_id == consultant.id))
    assert client.post(path, data={"reason": "我不认识这位顾问"}).status_code == 200
    assert client.post(path, data={"reason": "再说一次"}).status_code == 409

    ops = world.staff_auth("operations")
    queue = client.get(f"{ADMIN}/risk-flags?kind=buyer_objection&status=open", headers=ops).get_json()
    assert queue["total"] == 1
    [flag] = flags(app)
    with app.app_context():
        objection_id = db.session.scalar(select(RegistrationObjection.id))
        told_after = db.session.scalar(select(func.count()).select_from(Notification)
                                       .where(Notification.consultant_id == consultant.id))
    assert (flag.consultant_id, flag.registration_id, flag.project_id) == (consultant.id, held["id"], project_id)
    assert flag.buyer_id is not None and flag.score == 70 and f"见异议 #{objection_id}" in flag.reason_zh
    assert "我不认识" not in flag.reason_zh  # the buyer's own words stay on the objection (erased with him)
    assert told_after == told_before  # a suspicion is not told to the consultant; a dispute would be
    assert queue["items"][0]["kind_label"] == "客户否认报备"
    disputed = client.post(f"{ADMIN}/risk-flags/{flag.id}/dispute", headers=ops, json={})
    assert disputed.status_code == 201, disputed.get_json()


def test_an_objection_without_a_reason_is_flagged_lower_and_raising_it_again_adds_nothing(world, client, app):
    phone = world.next_buyer_phone()
    held = world.register(world.operating_consultant(), world.project(), phone)
    assert client.post(objection_path(app, phone), data={"reason": ""}).status_code == 200
    [flag] = flags(app)
    assert flag.score == 60 and "未填写原因" in flag.reason_zh
    with app.app_context():
        registration = registrations.get_registration(db.session, held["id"])
        assert objections.flag_objection(db.session, registration, objection_id=1, gave_reason=True,
                                         now=now() + timedelta(hours=1)) == 0
        db.session.commit()
    assert [(f.id, f.score) for f in flags(app)] == [(flag.id, 60)]


def test_erasing_the_buyer_clears_his_words_on_the_objection_and_keeps_the_flag(world, client, app):
    phone = world.next_buyer_phone()
    world.register(world.operating_consultant(), world.project(), phone)
    assert client.post(objection_path(app, phone), data={"reason": "我叫王小明，没有委托过"}).status_code == 200
    with app.app_context():
        registrations.expire_due(db.session, now=now() + timedelta(days=400))
        db.session.commit()
        buyer_id = db.session.scalar(select(RegistrationObjection.buyer_id))
    ops = world.staff_auth("operations")
    asked = client.post(f"{ADMIN}/buyers/{buyer_id}/erasure", json={"note": "客户来电，已核实"}, headers=ops)
    approved = client.post(f"{ADMIN}/erasure-requests/{asked.get_json()['id']}/approve", headers=ops)
    assert approved.status_code == 200, approved.get_json()
    with app.app_context():
        assert db.session.scalar(select(RegistrationObjection.reason)) is None
    [flag] = flags(app)
    assert "王小明" not in flag.reason_zh


# --- 6. a staff download of the access copy is a logged full-phone read -------------------------------------

def test_staff_downloading_a_buyers_access_copy_is_logged_as_a_reveal(world, client, app):
    phone = world.next_buyer_phone()
    world.register(world.operating_consultant(), world.project(), phone)
    with app.app_context():
        buyer_id = db.session.scalar(select(Buyer.id).where(Buyer.phone == "+86" + phone))
    ops_id, username, password = world.staff("operations")
    token = client.post(f"{ADMIN}/auth/login", json={"username": username, "password": password}).get_json()["token"]
    copy = client.get(f"{ADMIN}/buyers/{buyer_id}/data-export", headers={"Authorization": f"Bearer {token}"})
    assert copy.status_code == 200 and copy.get_json()["buyer"]["phone"] == phone
    assert reveals(app) == [(ops_id, None, privacy.ACCESS_COPY_PURPOSE)]
    login_page(client, username, password)
    page = client.get(f"/admin/privacy/buyers/{buyer_id}/export.json")
    assert page.status_code == 200 and phone in page.get_data(as_text=True)
    assert reveals(app) == [(ops_id, None, privacy.ACCESS_COPY_PURPOSE)] * 2
