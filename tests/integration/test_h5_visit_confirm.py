"""The buyer confirms his visit on the H5 page with his phone, an SMS code, the check-in code
and the sales office's current code (proof that he is there)."""
from __future__ import annotations

from datetime import timedelta

from estate_platform.db import db
from estate_platform.visits import presence
from estate_platform.visits.models import Visit
from tests.conftest import now


def book(world, client, phone):
    consultant = world.operating_consultant()
    registration = world.register(consultant, world.project(), phone=phone)
    response = client.post(f"/api/mp/v1/registrations/{registration['id']}/visits", headers=consultant.auth,
                           json={"scheduled_at": (now() + timedelta(minutes=10)).isoformat()})
    assert response.status_code == 201, response.get_json()
    return consultant, registration, response.get_json()


def office_code(app, registration) -> str:
    return presence.current_code(app.config["SECRET_KEY"], registration["project"]["id"], now())[0]


def sms_code(app, client, phone):
    assert client.post("/api/mp/v1/auth/sms/send", json={"phone": phone}).status_code == 200
    return app.extensions["adapters"].sms.last_code("+86" + phone)


def test_the_buyer_confirms_his_own_visit_and_protection_moves(world, client, app):
    consultant, registration, visit = book(world, client, "13911112222")
    page = client.get("/v/")
    assert page.status_code == 200 and "到访确认" in page.get_data(as_text=True) and "售楼处确认码" in page.get_data(
        as_text=True)
    response = client.post("/v/", data={"phone": "13911112222", "sms_code": sms_code(app, client, "13911112222"),
                                        "check_in_code": visit["check_in_code"].lower(),
                                        "office_code": office_code(app, registration)})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "到访已确认" in response.get_data(as_text=True)
    after = client.get(f"/api/mp/v1/registrations/{registration['id']}", headers=consultant.auth).get_json()
    assert after["status"] == "visited" and after["protected_until"] > registration["protected_until"]
    with app.app_context():
        row = db.session.get(Visit, visit["id"])
        assert (row.status, row.confirmed_by_type) == ("confirmed", "buyer")


def test_someone_elses_code_or_a_wrong_sms_code_confirms_nothing(world, client, app):
    _, registration, visit = book(world, client, "13911113333")
    stranger = client.post("/v/", data={"phone": "13911114444", "sms_code": sms_code(app, client, "13911114444"),
                                        "check_in_code": visit["check_in_code"],
                                        "office_code": office_code(app, registration)})
    assert stranger.status_code == 404 and "到访已确认" not in stranger.get_data(as_text=True)
    wrong = client.post("/v/", data={"phone": "13911113333", "sms_code": "000000",
                                     "check_in_code": visit["check_in_code"], "office_code": office_code(app, registration)})
    assert wrong.status_code in (400, 429) and "验证码" in wrong.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Visit, visit["id"]).status == "scheduled"


def test_without_the_sales_offices_code_the_buyer_confirms_nothing(world, client, app):
    _, registration, visit = book(world, client, "13911115555")
    response = client.post("/v/", data={"phone": "13911115555", "sms_code": sms_code(app, client, "13911115555"),
                                        "check_in_code": visit["check_in_code"],
                                        "office_code": f"{(int(office_code(app, registration)) + 1) % 10**6:06d}"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "售楼处到访确认码不正确" in page and "到访已确认" not in page
    with app.app_context():
        row = db.session.get(Visit, visit["id"])
        assert (row.status, row.presence_failures) == ("scheduled", 1)
