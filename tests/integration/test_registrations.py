"""Client registration (报备): first valid registration wins; every refusal has its code."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from estate_platform.db import commit, db
from estate_platform.evidence import services as evidence
from estate_platform.identity.models import StaffUser
from estate_platform.notifications.models import Notification
from estate_platform.projects.models import ExistingCustomer, Project
from estate_platform.registrations import services as registrations
from estate_platform.registrations.models import Registration
from tests.conftest import now


def error(response_json):
    return response_json["error"]


def test_registration_is_accepted_with_its_protection_end(world, client):
    consultant = world.operating_consultant()
    project = world.project(protection_mode="report_visit_deal", visit_window_hours=48)
    before = now()
    body = world.register(consultant, project, phone="139 0000 1111", name="周先生", note="想看三居")
    assert body["status"] == "reported" and body["binding"] is True
    assert body["buyer_phone"] == "13900001111" and body["project"]["id"] == project
    from datetime import datetime
    until = datetime.fromisoformat(body["protected_until"])
    assert timedelta(hours=47, minutes=59) < until - before < timedelta(hours=48, minutes=1)


def test_second_registration_of_the_same_buyer_is_refused_with_the_protection_end_only(world, client):
    first, second = world.operating_consultant(name="欧阳先登"), world.operating_consultant(name="乙")
    project = world.project()
    accepted = world.register(first, project, phone="13900002222")
    refused = world.register(second, project, phone="+86 139-0000-2222", expect=409)
    assert error(refused)["code"] == "already_registered"
    assert error(refused)["details"] == {"protected_until": accepted["protected_until"]}
    assert "欧阳先登" not in str(refused) and "consultant" not in str(refused)
    again = world.register(first, project, phone="13900002222", expect=409)
    assert error(again)["code"] == "already_registered"


@pytest.mark.parametrize("status,reason", [("paused", "paused"), ("sold_out", "sold_out"), ("ended", "ended")])
def test_projects_not_on_sale_refuse_registrations(world, status, reason, counts):
    consultant = world.operating_consultant()
    project = world.project(status=status)
    before = counts()
    refused = world.register(consultant, project, expect=409)
    assert error(refused)["code"] == "project_not_accepting"
    assert error(refused)["details"]["reason"] == reason
    after = counts()  # only the refused attempt is logged (risk.attempts)
    assert after.pop("registration_attempts") == before.pop("registration_attempts") + 1
    assert after == before


def test_projects_outside_their_cooperation_period_refuse_registrations(world):
    consultant = world.operating_consultant()
    today = now().date()
    ended = world.project(cooperation_start=today - timedelta(days=30), cooperation_end=today - timedelta(days=2))
    future = world.project(cooperation_start=today + timedelta(days=2))
    assert error(world.register(consultant, ended, expect=409))["details"]["reason"] == "cooperation_ended"
    assert error(world.register(consultant, future, expect=409))["details"]["reason"] == "cooperation_not_started"


def test_a_consultant_cannot_register_himself(world):
    consultant = world.operating_consultant(phone="13811110000")
    refused = world.register(consultant, world.project(), phone="13811110000", expect=409)
    assert error(refused)["code"] == "buyer_is_self"


def test_a_staff_member_cannot_be_registered(world, app):
    consultant = world.operating_consultant()
    staff_id, _, _ = world.staff("operations")
    with app.app_context():
        db.session.get(StaffUser, staff_id).phone = "+8613922223333"
        commit(db.session)
    refused = world.register(consultant, world.project(), phone="13922223333", expect=409)
    assert error(refused)["code"] == "buyer_is_staff"


def test_a_buyer_known_to_the_developer_cannot_be_registered(world, app):
    consultant = world.operating_consultant()
    project = world.project()
    with app.app_context():
        db.session.add(ExistingCustomer(project_id=project, phone="+8613933334444", created_at=now()))
        commit(db.session)
    refused = world.register(consultant, project, phone="13933334444", expect=409)
    assert error(refused)["code"] == "buyer_known_to_developer"


def test_daily_limit_of_projects_per_buyer(world):
    consultants = [world.operating_consultant() for _ in range(3)]
    projects = [world.project(daily_buyer_project_limit=2) for _ in range(3)]
    world.register(consultants[0], projects[0], phone="13944445555")
    world.register(consultants[1], projects[1], phone="13944445555")
    refused = world.register(consultants[2], projects[2], phone="13944445555", expect=409)
    assert error(refused)["code"] == "daily_limit_reached" and error(refused)["details"]["limit"] == 2


def test_expiry_frees_the_buyer_and_tells_the_consultant(world, app):
    first, second = world.operating_consultant(), world.operating_consultant()
    project = world.project(visit_window_hours=24, reregister_cooldown_hours=0)
    held = world.register(first, project, phone="13955556666")
    with app.app_context():
        assert registrations.expire_due(db.session, now=now()) == 0
        expired = registrations.expire_due(db.session, now=now() + timedelta(hours=25))
        commit(db.session)
        assert expired == 1
        assert registrations.expire_due(db.session, now=now() + timedelta(hours=26)) == 0
        row = db.session.get(Registration, held["id"])
        assert (row.status, row.binding, row.end_reason) == ("expired", False, "protection_expired")
        kinds = db.session.scalars(select(Notification.kind).where(Notification.consultant_id == first.id)).all()
        assert "registration_expired" in kinds
    taken_over = world.register(second, project, phone="13955556666")
    assert taken_over["binding"] is True


def test_expiry_runs_as_a_celery_task(world, app):
    consultant = world.operating_consultant()
    project = world.project(visit_window_hours=1)
    held = world.register(consultant, project)
    with app.app_context():
        db.session.get(Registration, held["id"]).protected_until = now() - timedelta(minutes=1)
        commit(db.session)
    result = app.extensions["celery"].tasks["registrations.expire_due"].delay()
    assert result.get() == 1
    assert world.client.get(f"/api/mp/v1/registrations/{held['id']}", headers=consultant.auth).get_json()["status"] == "expired"


def test_the_same_consultant_waits_out_the_cooldown_before_registering_again(world, app):
    consultant = world.operating_consultant()
    project = world.project(visit_window_hours=24, reregister_cooldown_hours=72)
    world.register(consultant, project, phone="13966667777")
    with app.app_context():
        registrations.expire_due(db.session, now=now() + timedelta(hours=25))
        commit(db.session)
    # The expiry above is stamped 25 h ahead, so "now" is well within the cooldown.
    refused = world.register(consultant, project, phone="13966667777", expect=409)
    assert error(refused)["code"] == "reregister_cooldown" and error(refused)["details"]["available_at"]
    other = world.operating_consultant()
    assert world.register(other, project, phone="13966667777")["binding"] is True


def test_reminder_is_sent_once_before_protection_ends(world, app):
    consultant = world.operating_consultant()
    project = world.project(visit_window_hours=100, remind_before_hours=72)
    world.register(consultant, project)
    with app.app_context():
        assert registrations.remind_expiring(db.session, now=now()) == 0
        assert registrations.remind_expiring(db.session, now=now() + timedelta(hours=30)) == 1
        assert registrations.remind_expiring(db.session, now=now() + timedelta(hours=31)) == 0


def test_visit_deal_mode_lets_several_consultants_register_without_binding(world):
    a, b = world.operating_consultant(), world.operating_consultant()
    project = world.project(protection_mode="visit_deal")
    first = world.register(a, project, phone="13977778888")
    second = world.register(b, project, phone="13977778888")
    assert (first["binding"], second["binding"]) == (False, False)
    assert error(world.register(a, project, phone="13977778888", expect=409))["code"] == "already_registered"


def test_registering_needs_an_operating_consultant(world, client):
    pending = world.apply()
    project = world.project()
    response = client.post("/api/mp/v1/registrations", headers=pending.auth,
                           json={"project_id": project, "buyer_name": "x", "buyer_phone": "13900009999"})
    assert response.status_code == 403 and error(response.get_json())["code"] == "consultant_inactive"


def test_bad_fields_are_all_reported_and_nothing_changes(world, client, counts):
    consultant = world.operating_consultant()
    project = world.project()
    before = counts()
    response = client.post("/api/mp/v1/registrations", headers=consultant.auth,
                           json={"project_id": project, "buyer_name": " ", "buyer_phone": "123",
                                 "expected_visit_at": (now() - timedelta(days=2)).isoformat()})
    assert response.status_code == 422
    assert set(error(response.get_json())["details"]["fields"]) == {"buyer_name", "buyer_phone", "expected_visit_at"}
    assert counts() == before
    unknown = client.post("/api/mp/v1/registrations", headers=consultant.auth,
                          json={"project_id": 999999, "buyer_name": "x", "buyer_phone": "13900009999"})
    assert unknown.status_code == 404 and error(unknown.get_json())["code"] == "project_not_found"


def test_a_consultant_sees_only_his_own_registrations(world, client):
    owner, other = world.operating_consultant(), world.operating_consultant()
    project = world.project()
    mine = world.register(owner, project, phone="13988889999")
    response = client.get(f"/api/mp/v1/registrations/{mine['id']}", headers=other.auth)
    assert response.status_code == 404 and error(response.get_json())["code"] == "registration_not_found"
    assert "13988889999" not in response.get_data(as_text=True)
    assert client.get("/api/mp/v1/registrations", headers=other.auth).get_json()["total"] == 0
    listed = client.get("/api/mp/v1/registrations", headers=owner.auth).get_json()
    assert [r["buyer_phone"] for r in listed["items"]] == ["13988889999"]


def test_list_filters_by_status_and_project(world, client):
    consultant = world.operating_consultant()
    p1, p2 = world.project(), world.project()
    world.register(consultant, p1)
    world.register(consultant, p2)
    by_project = client.get(f"/api/mp/v1/registrations?project_id={p2}", headers=consultant.auth).get_json()
    assert [r["project"]["id"] for r in by_project["items"]] == [p2]
    assert client.get("/api/mp/v1/registrations?status=expired", headers=consultant.auth).get_json()["total"] == 0


def test_site_staff_see_the_projects_disclosure_rule(world, app):
    consultant = world.operating_consultant()
    full, first3, first4 = (world.project(phone_disclosure=rule) for rule in ("full", "first3_last4", "first4_last3"))
    ids = [world.register(consultant, p, phone="13812345678")["id"] for p in (full, first3, first4)]
    with app.app_context():
        shown = [registrations.phone_for_site_staff(db.session.get(Registration, i)) for i in ids]
    assert shown == ["13812345678", "138****5678", "1381****678"]


def test_every_state_change_is_on_a_verifiable_evidence_chain(world, app):
    consultant = world.operating_consultant()
    project = world.project(visit_window_hours=1)
    held = world.register(consultant, project)
    with app.app_context():
        registrations.expire_due(db.session, now=now() + timedelta(hours=2))
        commit(db.session)
        chain = evidence.chain(db.session, "registration", held["id"])
        assert [r.event for r in chain] == ["registered", "expired"]
        assert evidence.verify(chain) == (True, None)
        chain[0].payload = chain[0].payload.replace("report_visit_deal", "report_deal")  # tamper in memory
        assert evidence.verify(chain) == (False, 1)
        db.session.rollback()
