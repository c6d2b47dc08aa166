"""Phones as people type them (issue 14, defect 6): full-width digits, spaces, dashes,
parentheses and +86 all reach the one normaliser (estate_platform/phones.py) wherever a
phone is typed, and name the same buyer or consultant."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from estate_platform.db import db
from estate_platform.identity.models import Buyer
from estate_platform.projects.models import ExistingCustomer

MP, ADMIN = "/api/mp/v1", "/admin/api/v1"
NUMBER = "13912347772"
FULL_WIDTH = "１３９１２３４７７７２"
TYPED = [FULL_WIDTH, "+86 139-1234-7772", "139 1234 7772", "(139)1234-7772"]
ODDER = ["＋８６　１３９－１２３４－７７７２", "（１３９）１２３４·７７７２", "0086 139.1234.7772", "+86 (139) 1234 - 7772",
         "\u202d139 1234 7772\u202c"]


def error(response) -> dict:
    return response.get_json()["error"]


def buyers(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Buyer.phone).order_by(Buyer.id)))


def register(client, consultant, project_id, phone):
    return client.post(f"{MP}/registrations", headers=consultant.auth,
                       json={"project_id": project_id, "buyer_name": "周先生", "buyer_phone": phone})


# --- mini-program: registrations, handoffs, consultants, sign-in ---------------------------------

@pytest.mark.parametrize("typed", TYPED + ODDER)
def test_a_registration_typed_any_way_registers_the_mainland_mobile(world, client, app, typed):
    consultant, project_id = world.operating_consultant(), world.project()
    response = register(client, consultant, project_id, typed)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["buyer_phone"] == NUMBER
    assert buyers(app) == ["+86" + NUMBER]


@pytest.mark.parametrize("first,second", [(TYPED[0], TYPED[1]), (TYPED[1], TYPED[0]), (TYPED[2], TYPED[3]),
                                          (TYPED[3], FULL_WIDTH)])
def test_every_typed_form_is_the_same_buyer_so_the_second_registration_is_refused(world, client, app, counts,
                                                                                 first, second):
    project_id, rival = world.project(), world.operating_consultant()
    assert register(client, world.operating_consultant(), project_id, first).status_code == 201
    before = counts()
    refused = register(client, rival, project_id, second)
    assert refused.status_code == 409 and error(refused)["code"] == "already_registered"
    after = counts()  # no second buyer; only the refused attempt is logged (risk.attempts)
    assert after.pop("registration_attempts") == before.pop("registration_attempts") + 1
    assert after == before


def test_the_four_forms_on_four_projects_are_four_registrations_of_one_buyer(world, client, app):
    consultant = world.operating_consultant()
    for typed in TYPED:
        response = register(client, consultant, world.project(daily_buyer_project_limit=10), typed)
        assert response.status_code == 201, (typed, response.get_json())
    assert buyers(app) == ["+86" + NUMBER]
    items = client.get(f"{MP}/registrations", headers=consultant.auth).get_json()["items"]
    assert {item["buyer_phone"] for item in items} == {NUMBER} and len(items) == 4


@pytest.mark.parametrize("phone,valid", [("+86 (139) 1234 - 7772  ", True), (" " * 20 + NUMBER, True),
                                         (NUMBER + " " * 22, False), ("١٣٩١٢٣٤٧٧٧٢", False), ("139-1234-777", False)])
def test_the_schema_only_bounds_the_length_and_the_normaliser_decides(world, client, counts, phone, valid):
    consultant, project_id = world.operating_consultant(), world.project()
    before = counts()
    response = register(client, consultant, project_id, phone)
    if valid:
        assert response.status_code == 201, response.get_json()
    else:
        assert response.status_code == 422 and set(error(response)["details"]["fields"]) == {"buyer_phone"}
        assert counts() == before


def test_a_handoff_names_the_buyer_typed_full_width(world, client, app):
    sender, receiver = world.operating_consultant(), world.operating_consultant()
    project_id = world.project()
    response = client.post(f"{MP}/handoffs", headers=sender.auth,
                           json={"project_id": project_id, "buyer_name": "李女士", "buyer_phone": "＋８６ " + FULL_WIDTH,
                                 "to_consultant_id": receiver.id})
    assert response.status_code == 201, response.get_json()
    assert buyers(app) == ["+86" + NUMBER]


def test_a_consultant_applies_with_a_full_width_phone_and_its_other_forms_are_taken(world, client):
    consultant = world.apply(phone=FULL_WIDTH)
    me = client.get(f"{MP}/consultants/me", headers=consultant.auth).get_json()
    assert me["phone"] == NUMBER
    token, _ = world.wechat_login()
    response = client.post(f"{MP}/consultants", headers={"Authorization": f"Bearer {token}"},
                           json={"name": "另一位", "phone": "+86 139-1234-7772", "city": "南京", "kind": "independent"})
    assert response.status_code == 409 and error(response)["code"] == "phone_taken"


def test_sms_sign_in_with_a_full_width_phone_signs_in_the_same_buyer(app, client):
    sent = client.post(f"{MP}/auth/sms/send", json={"phone": FULL_WIDTH})
    assert sent.status_code == 200, sent.get_json()
    code = app.extensions["adapters"].sms.last_code("+86" + NUMBER)
    verified = client.post(f"{MP}/auth/sms/verify", json={"phone": "＋８６　１３９－１２３４－７７７２", "code": code})
    assert verified.status_code == 200, verified.get_json()
    assert verified.get_json()["buyer"]["phone"] == NUMBER
    assert buyers(app) == ["+86" + NUMBER]


def test_a_consultant_finds_his_client_by_a_phone_typed_full_width(world, client):
    consultant, project_id = world.operating_consultant(), world.project()
    assert register(client, consultant, project_id, NUMBER).status_code == 201
    for q in (FULL_WIDTH, "１２３４ ７７７２", "+86 139-1234-7772"):
        page = client.get(f"{MP}/clients", query_string={"q": q}, headers=consultant.auth).get_json()
        assert page["total"] == 1 and page["items"][0]["phone"] == NUMBER, q


def test_the_h5_landing_form_signs_up_a_buyer_typed_full_width(app, client, world):
    from tests.integration.test_invite_links import Browser, make_link, registrations_of
    consultant, project_id = world.operating_consultant(), world.project()
    link = make_link(client, consultant, project_id=project_id)
    buyer = Browser(app)
    buyer.open(link)
    code = buyer.send_code(NUMBER)
    response = buyer.submit(link, "＋８６ １３９－１２３４－７７７２", code=code)
    assert response.status_code == 200, response.get_data(as_text=True)
    [registration] = registrations_of(client, consultant)
    assert registration["buyer_phone"] == NUMBER
    assert buyers(app) == ["+86" + NUMBER]


# --- admin: deals, existing customers, searches, developers --------------------------------------

def test_finance_records_a_deal_for_a_buyer_phone_typed_full_width(world, client):
    consultant, project_id = world.operating_consultant(), world.project()
    world.commission_rule(project_id)
    world.split_policy()
    assert register(client, consultant, project_id, NUMBER).status_code == 201
    deal = world.deal(project_id, FULL_WIDTH)
    assert deal["id"]
    again = world.deal(project_id, "+86 139-1234-7772", expect=201, unit="另一套")  # the same buyer, another unit
    assert again["id"] != deal["id"]


def test_an_existing_customer_typed_full_width_can_no_longer_be_registered(world, client, app):
    project_id = world.project()
    marked = client.post(f"{ADMIN}/projects/{project_id}/existing-customers", headers=world.staff_auth("operations"),
                         json={"phone": "（１３９）１２３４－７７７２", "name": "老客户"})
    assert marked.status_code == 201, marked.get_json()
    assert marked.get_json()["phone"] == "139****7772"  # staff see it masked (issue 15 §1); stored normalised:
    refused = register(client, world.operating_consultant(), project_id, "139 1234 7772")
    assert refused.status_code == 409 and error(refused)["code"] == "buyer_known_to_developer"
    twice = client.post(f"{ADMIN}/projects/{project_id}/existing-customers", headers=world.staff_auth("operations"),
                        json={"phone": NUMBER})
    assert twice.status_code == 409
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ExistingCustomer)) == 1


@pytest.mark.parametrize("q", [FULL_WIDTH, "＋８６ １３９－１２３４－７７７２", "139 1234 7772", "１２３４－７７７２"])
def test_operations_find_a_consultant_by_a_phone_typed_any_way(world, client, q):
    wanted = world.apply(name="要找的顾问", phone=NUMBER)
    world.apply(name="别的顾问")
    found = client.get(f"{ADMIN}/consultants", query_string={"q": q}, headers=world.staff_auth("operations"))
    assert found.status_code == 200, found.get_json()
    assert [c["id"] for c in found.get_json()["items"]] == [wanted.id]


def test_a_developer_contact_typed_full_width_is_stored_in_ascii(world, client):
    headers = world.staff_auth("admin")
    landline = client.post(f"{ADMIN}/developers", json={"name": "金陵置业", "contact_phone": "０２５－８４５６ １２３４"},
                           headers=headers)
    assert landline.status_code == 201 and landline.get_json()["contact_phone"] == "025-84561234"
    mobile = client.post(f"{ADMIN}/developers", json={"name": "江宁置业", "contact_phone": FULL_WIDTH}, headers=headers)
    assert mobile.status_code == 201 and mobile.get_json()["contact_phone"] == NUMBER


def test_an_sms_code_typed_with_full_width_digits_is_the_same_code(app, client):
    assert client.post(f"{MP}/auth/sms/send", json={"phone": NUMBER}).status_code == 200
    code = app.extensions["adapters"].sms.last_code("+86" + NUMBER)
    typed = "".join(chr(ord(d) - ord("0") + ord("０")) for d in code)
    verified = client.post(f"{MP}/auth/sms/verify", json={"phone": NUMBER, "code": typed})
    assert verified.status_code == 200, verified.get_json()
