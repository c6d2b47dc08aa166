"""The endpoints the consultant app added to the mini-program API (issue 17): his visits across
registrations (GET /visits, the home page's "visits to accompany today") and the team
leaderboard (GET /team/leaderboard). Each answers for the caller alone."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import event

from estate_platform.clock import SHANGHAI, local_date
from estate_platform.db import db
from estate_platform.referrals import standing
from tests.conftest import now

MP = "/api/mp/v1"


def at(day_offset: int, hour: int) -> str:
    day = local_date(now()) + timedelta(days=day_offset)
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=SHANGHAI).isoformat()


def book(world, consultant, registration_id: int, when: str) -> dict:
    response = world.client.post(f"{MP}/registrations/{registration_id}/visits", headers=consultant.auth,
                                 json={"scheduled_at": when})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def statements_during(app, action) -> int:
    seen = []
    with app.app_context():
        engine = db.engine

    def listen(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)
    event.listen(engine, "before_cursor_execute", listen)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    return len(seen)


@pytest.fixture
def visits_scene(world, client):
    """林 has three visits (tomorrow 10:00, in two days 15:00, and one cancelled); 陈 has one tomorrow."""
    lin, chen = world.operating_consultant(name="林晓"), world.operating_consultant(name="陈静")
    project = world.project(name="滨江·悦府")
    late = book(world, lin, world.register(lin, project, name="钱女士")["id"], at(2, 15))
    soon = book(world, lin, world.register(lin, project, name="周先生")["id"], at(1, 10))
    dropped = book(world, lin, world.register(lin, project, name="孙先生")["id"], at(1, 16))
    assert client.delete(f"{MP}/visits/{dropped['id']}", headers=lin.auth).status_code == 200
    theirs = book(world, chen, world.register(chen, project, name="吴女士")["id"], at(1, 11))
    return {"lin": lin, "chen": chen, "soon": soon, "late": late, "dropped": dropped, "theirs": theirs}


def ids(response) -> list[int]:
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["items"]]


def test_a_consultant_lists_only_his_own_visits_soonest_first(visits_scene, client):
    s = visits_scene
    listed = client.get(f"{MP}/visits", headers=s["lin"].auth)
    assert ids(listed) == [s["soon"]["id"], s["dropped"]["id"], s["late"]["id"]]
    first = listed.get_json()["items"][0]
    assert first["buyer_name"] == "周先生" and first["project"]["name"] == "滨江·悦府"
    assert first["check_in_code"] == s["soon"]["check_in_code"] and first["status_label"] == "待到访"
    assert listed.get_json()["total"] == 3
    # 陈 sees his own visit only, never 林's.
    assert ids(client.get(f"{MP}/visits", headers=s["chen"].auth)) == [s["theirs"]["id"]]


def test_visits_filter_by_status_and_shanghai_days_and_page(visits_scene, client):
    s, auth = visits_scene, visits_scene["lin"].auth
    tomorrow = (local_date(now()) + timedelta(days=1)).isoformat()
    assert ids(client.get(f"{MP}/visits?status=scheduled", headers=auth)) == [s["soon"]["id"], s["late"]["id"]]
    assert ids(client.get(f"{MP}/visits?status=cancelled", headers=auth)) == [s["dropped"]["id"]]
    assert ids(client.get(f"{MP}/visits?status=scheduled&date_from={tomorrow}&date_to={tomorrow}",
                          headers=auth)) == [s["soon"]["id"]]
    today = local_date(now()).isoformat()
    assert ids(client.get(f"{MP}/visits?date_from={today}&date_to={today}", headers=auth)) == []
    second = client.get(f"{MP}/visits?per_page=2&page=2", headers=auth).get_json()
    assert [v["id"] for v in second["items"]] == [s["late"]["id"]] and second["total"] == 3


@pytest.mark.parametrize("query, field", [
    ("status=lost", "status"),
    ("date_from=2026-02-30", "date_from"),
    ("date_from=1900-01-01", "date_from"),
    ("date_to=9999-12-31", "date_to"),
    ("date_from=2026-05-02&date_to=2026-05-01", "date_to"),
    ("per_page=101", "per_page"),
])
def test_bad_visit_filters_are_a_422_naming_the_field(visits_scene, client, query, field):
    response = client.get(f"{MP}/visits?{query}", headers=visits_scene["lin"].auth)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["details"]["fields"]


def test_visits_need_a_consultant(world, client):
    assert client.get(f"{MP}/visits").status_code == 401
    token, _ = world.wechat_login()
    refused = client.get(f"{MP}/visits", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code in (403, 404) and refused.get_json()["error"]["code"] == "consultant_not_applied"


def test_a_page_of_visits_costs_the_same_statements_for_one_row_or_many(visits_scene, world, client, app):
    lin = visits_scene["lin"]
    one = statements_during(app, lambda: client.get(f"{MP}/visits?per_page=1", headers=lin.auth))
    many = statements_during(app, lambda: client.get(f"{MP}/visits?per_page=100", headers=lin.auth))
    assert many == one  # the registration and project come in the page's one select, no N+1


# --- the leaderboard ---------------------------------------------------------------------------------

@pytest.fixture
def board_scene(world):
    """Deals this month: 郑 3, 林 2 (one more cancelled), 陈 2; 吴 has none."""
    world.split_policy()
    people = {name: world.operating_consultant(name=name) for name in ("郑小龙", "林晓", "陈静", "吴敏")}
    project = world.project()
    world.commission_rule(project)
    made = {}
    for name, count in (("郑小龙", 3), ("林晓", 3), ("陈静", 2)):
        for _ in range(count):
            phone = world.next_buyer_phone()
            world.register(people[name], project, phone=phone)
            made.setdefault(name, []).append(world.deal(project, phone, price_cents=200_000_000))
    world.client.post(f"/admin/api/v1/deals/{made['林晓'][0]['id']}/cancel", json={"reason": "客户退房"},
                      headers=world.staff_auth("finance"))
    return people


def test_the_leaderboard_ranks_by_live_deals_and_masks_everyone_else(board_scene, client):
    lin = board_scene["林晓"]
    board = client.get(f"{MP}/team/leaderboard", headers=lin.auth)
    assert board.status_code == 200, board.get_json()
    data = board.get_json()
    assert data["period"] == "month" and data["period_label"] == "本月"
    rows = [(r["rank"], r["name"], r["deals"], r["me"]) for r in data["items"]]
    assert rows[0] == (1, "郑**", 3, False)
    assert sorted(rows[1:]) == [(2, "林晓", 2, True), (2, "陈*", 2, False)]  # equal deals share a rank
    assert data["me"]["rank"] == 2 and data["me"]["deals"] == 2 and data["me"]["gmv_cents"] == 400_000_000
    assert all(set(r) == {"rank", "name", "city", "deals", "me"} for r in data["items"])  # no ids, no amounts
    nobody = client.get(f"{MP}/team/leaderboard?period=all", headers=board_scene["吴敏"].auth).get_json()
    assert nobody["me"] is None and len(nobody["items"]) == 3
    assert client.get(f"{MP}/team/leaderboard?period=week", headers=lin.auth).status_code == 422
    assert client.get(f"{MP}/team/leaderboard").status_code == 401


def test_his_standing_is_counted_outside_the_top_rows(board_scene, app):
    with app.app_context():
        board = standing.board(db.session, board_scene["陈静"].id, period="year", now=now(), limit=1)
        assert [(r.rank, r.deals) for r in board.rows] == [(1, 3)]
        assert (board.me.rank, board.me.deals) == (2, 2)
