"""DESIGN §7.6, issue 15 §1: staff see masked phones by default; every full-phone read is a
POST with a purpose that writes a phone_reveals row; consultants see full phones only of
their own buyers."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from estate_platform.db import db
from estate_platform.identity.models import StaffUser
from estate_platform.registrations.models import PhoneReveal
from estate_platform.clock import local_date
from tests.conftest import now

ADMIN = "/admin/api/v1"


def reveals(app, **where) -> list[PhoneReveal]:
    with app.app_context():
        query = select(PhoneReveal).order_by(PhoneReveal.id)
        for field, value in where.items():
            query = query.where(getattr(PhoneReveal, field) == value)
        return db.session.scalars(query).all()


def site_staff(world, client, app) -> tuple[dict, int, int]:
    staff_id, username, password = world.staff("site_staff")
    token = client.post(f"{ADMIN}/auth/login", json={"username": username, "password": password}).get_json()["token"]
    with app.app_context():
        developer_id = db.session.get(StaffUser, staff_id).developer_id
    return {"Authorization": f"Bearer {token}"}, developer_id, staff_id


VISIT_AT = timedelta(hours=2)


def booked_visit(world, client, project_id: int, phone: str) -> tuple[int, object]:
    consultant = world.operating_consultant()
    registered = world.register(consultant, project_id, phone, name="周先生")
    booked = client.post(f"/api/mp/v1/registrations/{registered['id']}/visits", headers=consultant.auth,
                         json={"scheduled_at": (now() + VISIT_AT).isoformat()})
    assert booked.status_code == 201, booked.get_json()
    return booked.get_json()["id"], consultant


def test_existing_customers_are_masked_and_a_reveal_names_its_purpose_and_is_logged(world, client, app):
    headers, developer_id, staff_id = site_staff(world, client, app)
    project = world.project(developer_id=developer_id)
    marked = client.post(f"{ADMIN}/projects/{project}/existing-customers", headers=headers,
                         json={"phone": "13800138000", "name": "老客户"}).get_json()
    listed = client.get(f"{ADMIN}/projects/{project}/existing-customers", headers=headers).get_json()
    assert [c["phone"] for c in listed["items"]] == ["138****8000"]
    url = f"{ADMIN}/projects/{project}/existing-customers/{marked['id']}/reveal-phone"
    no_purpose = client.post(url, headers=headers, json={})
    assert no_purpose.status_code == 422 and reveals(app) == []
    shown = client.post(url, headers=headers, json={"purpose": "回电确认来访"})
    assert shown.status_code == 200 and shown.get_json()["phone"] == "13800138000"
    logged = reveals(app, staff_user_id=staff_id)
    assert len(logged) == 1 and "回电确认来访" in logged[0].purpose
    other_headers, _, _ = site_staff(world, client, app)  # another developer's staff: not his project
    assert client.post(url, headers=other_headers, json={"purpose": "x"}).status_code == 404
    assert len(reveals(app)) == 1


def test_visits_are_masked_for_everyone_even_where_the_project_discloses_in_full(world, client, app):
    project = world.project(phone_disclosure="full")
    phone = world.next_buyer_phone()
    visit_id, _ = booked_visit(world, client, project, phone)
    ops = world.staff_auth("operations")
    # The visit's own Shanghai day: after 22:00 Shanghai, two hours on is already tomorrow.
    day = local_date(now() + VISIT_AT).isoformat()
    listed = client.get(f"{ADMIN}/visits?status=scheduled&date={day}", headers=ops).get_json()
    assert len(listed) == 1
    assert phone not in str(listed) and phone[:3] + "****" + phone[-4:] in str(listed)
    shown = client.post(f"{ADMIN}/visits/{visit_id}/reveal-phone", headers=ops, json={"purpose": "核实到访"})
    assert shown.status_code == 200 and shown.get_json()["phone"] == phone
    assert [r.purpose for r in reveals(app)] == [f"到访 #{visit_id}：核实到访"]


def test_site_staff_reveal_only_where_their_project_discloses_in_full(world, client, app):
    headers, developer_id, staff_id = site_staff(world, client, app)
    masked_project = world.project(developer_id=developer_id)
    full_project = world.project(developer_id=developer_id, phone_disclosure="full")
    masked_visit, _ = booked_visit(world, client, masked_project, world.next_buyer_phone())
    full_visit, _ = booked_visit(world, client, full_project, world.next_buyer_phone())
    refused = client.post(f"{ADMIN}/visits/{masked_visit}/reveal-phone", headers=headers, json={"purpose": "联系客户"})
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "phone_reveal_forbidden"
    assert client.post(f"{ADMIN}/visits/{full_visit}/reveal-phone", headers=headers,
                       json={"purpose": "联系客户"}).status_code == 200
    assert [r.staff_user_id for r in reveals(app)] == [staff_id]


def test_the_reveal_log_lists_reads_by_staff_member_for_admins_only(world, client, app):
    project = world.project(phone_disclosure="full")
    visit_id, _ = booked_visit(world, client, project, world.next_buyer_phone())
    ops = world.staff_auth("operations")
    client.post(f"{ADMIN}/visits/{visit_id}/reveal-phone", headers=ops, json={"purpose": "核实到访"})
    with app.app_context():
        ops_id = db.session.scalar(select(PhoneReveal.staff_user_id))
    listed = client.get(f"{ADMIN}/phone-reveals?staff_user_id={ops_id}", headers=world.staff_auth("admin"))
    assert listed.status_code == 200 and listed.get_json()["total"] == 1
    assert client.get(f"{ADMIN}/phone-reveals", headers=ops).status_code == 403


def test_consultants_see_full_phones_only_of_their_own_buyers(world, client, app):
    project = world.project()
    phone = world.next_buyer_phone()
    visit_id, owner = booked_visit(world, client, project, phone)
    stranger = world.operating_consultant()
    own = client.get("/api/mp/v1/registrations", headers=owner.auth).get_json()["items"]
    assert [r["buyer_phone"] for r in own] == [phone]
    assert client.get("/api/mp/v1/registrations", headers=stranger.auth).get_json()["items"] == []
    assert client.get(f"/api/mp/v1/visits/{visit_id}", headers=stranger.auth).status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PhoneReveal)) == 0
