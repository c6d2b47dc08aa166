"""The lines a consultant may sell (GET /api/mp/v1/buyback/lines, issue 17 on issue 13 §1): the same
rules a quote applies, so what the app offers to tick is what a quote will take; only his own."""
from __future__ import annotations

import pytest

from estate_platform.db import db
from tests.integration.test_buyback import ADMIN, MP, quote, request, signed_line


def sellable(world, consultant, expect: int = 200) -> dict:
    response = world.client.get(f"{MP}/buyback/lines", headers=consultant.auth)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def line_ids(body: dict) -> list[int]:
    return [item["line_id"] for item in body["items"]]


def test_a_recognised_pending_line_is_offered_with_its_deal_and_face(world):
    sold = signed_line(world)
    body = sellable(world, sold.consultant)
    assert body["refusal"] is None
    [item] = body["items"]
    assert item["line_id"] == sold.line_id and item["deal_id"] == sold.deal_id
    assert item["amount_cents"] == sold.face_cents and item["role"] == "serving"
    assert item["role_label"] == "成交顾问佣金" and item["project_name"] and item["unit"]
    assert item["due_on"] is not None  # 30 days after signing
    quote(world, sold, line_ids=line_ids(body))  # what is offered, a quote takes


def test_another_consultants_lines_never_appear(world):
    mine = signed_line(world)
    theirs = signed_line(world, project_id=mine.project_id)
    assert line_ids(sellable(world, mine.consultant)) == [mine.line_id]
    assert line_ids(sellable(world, theirs.consultant)) == [theirs.line_id]
    newcomer = world.operating_consultant()
    assert sellable(world, newcomer) == {"items": [], "refusal": None}


def test_a_requested_line_leaves_the_list_and_returns_when_the_request_is_cancelled(world):
    sold = signed_line(world)
    made = request(world, sold, quote(world, sold)["id"])
    assert line_ids(sellable(world, sold.consultant)) == []
    response = world.client.post(f"{MP}/buyback/requests/{made['id']}/cancel", headers=sold.consultant.auth)
    assert response.status_code == 200, response.get_json()
    assert line_ids(sellable(world, sold.consultant)) == [sold.line_id]


def test_lines_already_requested_do_not_crowd_out_older_sellable_ones(world, monkeypatch):
    """The list is capped (newest deal first); lines sold or reserved are left out before the cap."""
    from estate_platform.buyback import quotes
    older = signed_line(world)
    newer = signed_line(world, consultant=older.consultant, project_id=older.project_id)
    request(world, newer, quote(world, newer)["id"])
    monkeypatch.setattr(quotes, "SELLABLE_LIMIT", 1)
    assert line_ids(sellable(world, older.consultant)) == [older.line_id]


def test_a_cancelled_deals_line_is_not_offered(world):
    sold = signed_line(world)
    response = world.client.post(f"{ADMIN}/deals/{sold.deal_id}/cancel", json={"reason": "退房"},
                                 headers=world.staff_auth("finance"))
    assert response.status_code in (200, 202), response.get_json()
    assert line_ids(sellable(world, sold.consultant)) == []


def test_a_dispute_against_him_is_the_refusal_and_the_disputed_deal_is_left_out(world):
    disputed = signed_line(world)
    clean = signed_line(world, consultant=disputed.consultant, project_id=disputed.project_id)
    response = world.client.post(f"{ADMIN}/disputes", headers=world.staff_auth("operations"), json={
        "deal_id": disputed.deal_id, "respondent_kind": "consultant", "subject": "核实", "summary": "客户投诉"})
    assert response.status_code == 201, response.get_json()
    body = sellable(world, disputed.consultant)
    assert line_ids(body) == [clean.line_id]
    assert body["refusal"]["code"] == "buyback_open_dispute" and body["refusal"]["message"]
    assert quote(world, clean, expect=409)["error"]["code"] == body["refusal"]["code"]


@pytest.mark.parametrize("change, refusal", [("suspended", "buyback_consultant_not_operating"),
                                             ("low_credit", "buyback_credit_too_low")])
def test_a_consultant_who_may_not_sell_sees_why(world, app, change, refusal):
    sold = signed_line(world)
    with app.app_context():
        from estate_platform.consultants.models import Consultant
        consultant = db.session.get(Consultant, sold.consultant.id)
        if change == "suspended":
            consultant.status = "suspended"
        else:
            consultant.rating = 59
        db.session.commit()
    body = sellable(world, sold.consultant)
    assert body["refusal"]["code"] == refusal
    assert line_ids(body) == [sold.line_id]  # the lines are still his; the refusal says why not now


def test_without_a_token_or_with_unknown_parameters_nothing_is_listed(world):
    sold = signed_line(world)
    assert world.client.get(f"{MP}/buyback/lines").status_code == 401
    for query in ("?consultant_id=1", "?page=1", "?x=%00"):
        response = world.client.get(f"{MP}/buyback/lines{query}", headers=sold.consultant.auth)
        assert response.status_code in (400, 422), (query, response.status_code)
        assert "items" not in response.get_json()


def test_the_demo_gives_zhang_wei_a_line_to_sell_and_li_qiang_a_quote(app, client):
    """`make run`: /m/buyback is not empty for the printed demo consultant (张伟, whose open demo
    dispute is the refusal he reads), and 李强 can take a quote end to end."""
    from estate_platform.db import utcnow
    from estate_platform.demo import load_demo
    with app.app_context():
        load_demo(db.session, now=utcnow())
        db.session.commit()
    bodies = {}
    for openid in ("demo-consultant-1", "demo-consultant-3"):
        token = client.post(f"{MP}/auth/wechat", json={"code": f"dev:{openid}"}).get_json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        response = client.get(f"{MP}/buyback/lines", headers=headers)
        assert response.status_code == 200, response.get_json()
        bodies[openid] = (response.get_json(), headers)
    zhang, _ = bodies["demo-consultant-1"]
    assert [(i["project_name"], i["unit"], i["role"]) for i in zhang["items"]] == [("金陵·江宁澜岸", "5栋-0601", "upline")]
    assert zhang["refusal"]["code"] == "buyback_open_dispute"
    li, headers = bodies["demo-consultant-3"]
    assert li["refusal"] is None and [i["role"] for i in li["items"]] == ["serving"]
    response = client.post(f"{MP}/buyback/quotes", json={"line_ids": [li["items"][0]["line_id"]]}, headers=headers)
    assert response.status_code == 201, response.get_json()


@pytest.mark.postgres
def test_the_lines_operation_conforms_to_the_document_on_postgresql(app, client, world):
    """schemathesis as in test_consultant_app_schemathesis.py: valid and hostile input, never a 5xx,
    documented statuses and bodies, with a sellable line of the caller's to serialise."""
    from tests.integration import openapi_helpers as oa
    from tests.integration.api_scene import Scene
    from tests.integration.test_schemathesis import Run, caller_of, operations
    [op] = [op for op in operations(oa.MP) if str(op) == "GET /api/mp/v1/buyback/lines"]
    scene = Scene(world)
    cancelled = client.post(f"{MP}/buyback/requests/{scene.buyback_request_id}/cancel", headers=scene.owner.auth)
    assert cancelled.status_code == 200, cancelled.get_json()  # his line is sellable again
    assert len(sellable(world, scene.owner)["items"]) == 1
    run = Run(app, client, scene, oa.MP)
    run.operation(op, caller_of(op))
    run.assert_conforms()
