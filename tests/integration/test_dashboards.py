"""Dashboards (issue 13 §2): the funnel's numbers on a crafted scene, by city, project, month
and team, with integer-bps conversion rates; the leaderboard and team views; the JSON API and
the pages (charts with their tables beneath), and who may read them."""
from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest
from estate_platform.db import db
from estate_platform.identity.models import Buyer
from estate_platform.invites.models import Attribution, InviteLink, LinkOpen
from estate_platform.visits.models import Visit
from tests.conftest import now
from tests.integration.test_admin_deals_pages import sign_in, today

# An open at 2025-01-31 20:00 UTC is 2025-02-01 04:00 in Shanghai: it belongs to February.
OLD_OPEN = datetime(2025, 1, 31, 20, 0, tzinfo=timezone.utc)


def _link(consultant_id: int, project_id: int | None) -> int:
    link = InviteLink(consultant_id=consultant_id, project_id=project_id, channel="moments",
                      token=uuid.uuid4().hex, scene=uuid.uuid4().hex, created_at=now())
    db.session.add(link)
    db.session.flush()
    return link.id


def _opens(link_id: int, times: list[datetime]) -> None:
    for at in times:
        db.session.add(LinkOpen(link_id=link_id, visitor_id=uuid.uuid4().hex, opened_at=at, ip_hash="0" * 64,
                                user_agent="test", channel="moments"))


def _signup(link_id: int, consultant_id: int, project_id: int | None, phone: str) -> None:
    buyer = Buyer(phone=phone, name="留资客户", created_at=now())
    db.session.add(buyer)
    db.session.flush()
    db.session.add(Attribution(buyer_id=buyer.id, project_id=project_id, link_id=link_id, consultant_id=consultant_id,
                               first_opened_at=now(), attributed_at=now(), expires_at=now() + timedelta(days=30)))


def _visit(registration_id: int, status: str = "confirmed") -> None:
    db.session.add(Visit(registration_id=registration_id, scheduled_at=now(), check_in_code=uuid.uuid4().hex[:8],
                         status=status, confirmed_at=now() if status == "confirmed" else None,
                         confirmed_by_type="staff" if status == "confirmed" else None, created_at=now()))


@pytest.fixture
def scene(world, app):
    """Leader L (南京) invited M; outsider O. 金陵府 (南京) and 滨江苑 (苏州), 2% rules.
    Opens: L's 金陵府 link 3 now + 1 in Feb 2025; M's 滨江苑 link 2; O's link without a project 1.
    Sign-ups: 2 through L's link, 1 through M's. Registrations: L 3 in 金陵府, M 1 in 滨江苑, O 1 in 金陵府.
    Visits confirmed: 2 of L's, M's one; O's visit only scheduled. Deals: L 3,000,000.00 in 金陵府,
    M 2,000,000.00 in 滨江苑; O's deal cancelled."""
    leader = world.operating_consultant(name="领队甲")
    member = world.operating_consultant(name="队员乙", inviter_code=leader.invite_code)
    outsider = world.operating_consultant(name="散户丙")
    jinling = world.project(name="金陵府", city="南京")
    binjiang = world.project(name="滨江苑", city="苏州")
    world.commission_rule(jinling)
    world.commission_rule(binjiang)
    world.split_policy()
    phones = {key: world.next_buyer_phone() for key in ("l1", "l2", "l3", "m1", "o1")}
    regs = {key: world.register(consultant, project, phone=phones[key])["id"]
            for key, consultant, project in (("l1", leader, jinling), ("l2", leader, jinling),
                                             ("l3", leader, jinling), ("m1", member, binjiang),
                                             ("o1", outsider, jinling))}
    world.deal(jinling, phones["l1"], price_cents=300_000_000)
    world.deal(binjiang, phones["m1"], price_cents=200_000_000)
    cancelled = world.deal(jinling, phones["o1"], price_cents=900_000_000)
    response = world.client.post(f"/admin/api/v1/deals/{cancelled['id']}/cancel", json={"reason": "客户退房"},
                                 headers=world.staff_auth("finance"))
    assert response.status_code == 200, response.get_json()
    with app.app_context():
        l_link, m_link, o_link = _link(leader.id, jinling), _link(member.id, binjiang), _link(outsider.id, None)
        _opens(l_link, [now()] * 3 + [OLD_OPEN])
        _opens(m_link, [now()] * 2)
        _opens(o_link, [now()])
        _signup(l_link, leader.id, jinling, "+8613600000001")
        _signup(l_link, leader.id, jinling, "+8613600000002")
        _signup(m_link, member.id, binjiang, "+8613600000003")
        for key in ("l1", "l2", "m1"):
            _visit(regs[key])
        _visit(regs["o1"], status="scheduled")
        db.session.commit()
    return {"leader": leader, "member": member, "outsider": outsider, "jinling": jinling, "binjiang": binjiang}


def funnel_json(client, world, query: str = "") -> dict:
    response = client.get(f"/admin/api/v1/dashboards/funnel{query}", headers=world.staff_auth("operations"))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def counts(row: dict) -> tuple:
    return tuple(row[k] for k in ("opens", "signups", "registrations", "visits", "deals", "gmv_cents",
                                  "commission_cents"))


def test_the_funnel_counts_each_step_and_converts_in_integer_bps(world, client, scene):
    total = funnel_json(client, world)["total"]
    assert counts(total) == (7, 3, 5, 3, 2, 500_000_000, 10_000_000)
    assert total["signup_rate_bps"] == 4285  # 3 / 7, floored
    assert total["registration_rate_bps"] == 16666  # 5 / 3: a period count, not a cohort
    assert total["visit_rate_bps"] == 6000
    assert total["deal_rate_bps"] == 6666
    assert total["commission_rate_bps"] == 200
    assert total["average_price_cents"] == 250_000_000


def test_the_funnel_by_city_counts_opens_without_a_project_in_the_consultants_city(world, client, scene):
    rows = {r["key"]: counts(r) for r in funnel_json(client, world, "?by=city")["rows"]}
    assert rows == {"南京": (5, 2, 4, 2, 1, 300_000_000, 6_000_000), "苏州": (2, 1, 1, 1, 1, 200_000_000, 4_000_000)}
    only = funnel_json(client, world, "?city=苏州")["total"]
    assert counts(only) == (2, 1, 1, 1, 1, 200_000_000, 4_000_000)


def test_the_funnel_by_project_and_for_one_project(world, client, scene):
    result = funnel_json(client, world, "?by=project")
    labels = {r["label"]: counts(r) for r in result["rows"]}
    assert labels["金陵府"] == (4, 2, 4, 2, 1, 300_000_000, 6_000_000)
    assert labels["滨江苑"] == (2, 1, 1, 1, 1, 200_000_000, 4_000_000)
    assert labels["未指定楼盘"] == (1, 0, 0, 0, 0, 0, 0)
    assert counts(funnel_json(client, world, f"?project_id={scene['binjiang']}")["total"])[:5] == (2, 1, 1, 1, 1)


def test_the_funnel_by_month_uses_shanghai_days_and_the_period_filter(world, client, scene):
    rows = {r["key"]: r for r in funnel_json(client, world, "?by=month")["rows"]}
    assert rows["2025-02"]["opens"] == 1 and rows["2025-02"]["deals"] == 0
    current = now().astimezone(timezone(timedelta(hours=8))).strftime("%Y-%m")
    assert counts(rows[current])[:5] == (6, 3, 5, 3, 2)
    assert funnel_json(client, world, f"?start={today()}")["total"]["opens"] == 6
    assert funnel_json(client, world, "?end=2025-02-01")["total"]["opens"] == 1
    assert funnel_json(client, world, "?end=2025-01-31")["total"]["opens"] == 0


def test_the_funnel_of_a_team_counts_the_leader_and_everyone_he_invited(world, client, scene):
    result = funnel_json(client, world, f"?team_of={scene['leader'].id}")
    assert result["team_size"] == 1
    assert counts(result["total"]) == (6, 3, 4, 3, 2, 500_000_000, 10_000_000)
    member_only = funnel_json(client, world, f"?team_of={scene['member'].id}")
    assert member_only["team_size"] == 0 and counts(member_only["total"])[:5] == (2, 1, 1, 1, 1)


def test_an_empty_funnel_has_no_rates(world, client):
    total = funnel_json(client, world)["total"]
    assert counts(total) == (0,) * 7
    assert total["signup_rate_bps"] is None and total["average_price_cents"] is None


def test_the_leaderboard_and_team_views(world, client, scene):
    auth = world.staff_auth("finance")
    items = client.get("/admin/api/v1/dashboards/leaderboard", headers=auth).get_json()["items"]
    assert [(i["name"], i["deals"], i["gmv_cents"], i["team_size"]) for i in items] == [
        ("领队甲", 1, 300_000_000, 1), ("队员乙", 1, 200_000_000, 0)]
    team = client.get(f"/admin/api/v1/dashboards/team?consultant_id={scene['leader'].id}", headers=auth).get_json()
    assert (team["size"], team["direct"], team["deals"], team["gmv_cents"], team["registrations"]) == \
        (1, 1, 2, 500_000_000, 4)
    assert [(m["name"], m["depth"]) for m in team["members"]] == [("领队甲", 0), ("队员乙", 1)]
    missing = client.get("/admin/api/v1/dashboards/team?consultant_id=999999", headers=auth)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "consultant_not_found"


@pytest.mark.parametrize("query", ["?by=week", "?start=2026-13-01", "?team_of=0", "?start=2026-02-01&end=2026-01-01",
                                   "?bogus=1", "?start=0001-01-01", "?end=9999-12-31"])
def test_bad_filters_are_422(world, client, query):
    response = client.get(f"/admin/api/v1/dashboards/funnel{query}", headers=world.staff_auth("admin"))
    assert response.status_code == 422, query
    assert response.get_json()["error"]["code"] == "validation_error"


def test_site_staff_may_not_read_dashboards(world, client):
    for path in ("funnel", "leaderboard", "team?consultant_id=1"):
        assert client.get(f"/admin/api/v1/dashboards/{path}", headers=world.staff_auth("site_staff")).status_code == 403
    sign_in(world, client, "site_staff")
    assert client.get("/admin/dashboards/").status_code == 403


def _svgs(html: str) -> list[ET.Element]:
    found, start = [], 0
    while (start := html.find("<svg", start)) != -1:
        end = html.index("</svg>", start) + len("</svg>")
        found.append(ET.fromstring(html[start:end]))
        start = end
    return found


def test_the_pages_show_charts_with_their_tables(world, client, scene):
    sign_in(world, client, "operations")
    page = client.get("/admin/dashboards/?by=project").get_data(as_text=True)
    assert len(_svgs(page)) == 3
    for expected in ("业绩漏斗", "邀请打开", "留资注册", "42.85%", "166.66%", "60%", "66.66%", "金陵府", "滨江苑",
                     "¥5,000,000.00", "¥100,000.00", 'id="funnel-groups"'):
        assert expected in page, expected
    board = client.get("/admin/dashboards/leaderboard").get_data(as_text=True)
    assert len(_svgs(board)) == 1 and "领队甲" in board and "¥3,000,000.00" in board
    team = client.get(f"/admin/dashboards/teams/{scene['leader'].id}").get_data(as_text=True)
    assert len(_svgs(team)) == 3 and "队员乙" in team and "领队甲 的团队" in team
    assert client.get("/admin/dashboards/?by=week").status_code == 422
    assert client.get("/admin/dashboards/teams/999999").status_code == 404
    assert 'href="/admin/dashboards/"' in page  # the navigation links the dashboards


def test_payouts_per_month_sum_paid_items_by_their_shanghai_settlement_month(world, client, app):
    from estate_platform.settlement.models import PayoutAccount, SettlementBatch, SettlementItem
    consultant = world.operating_consultant(name="收款人")
    with app.app_context():
        account = PayoutAccount(party_type="consultant", party_id=consultant.id, kind="corporate", holder_name="某公司",
                                bank_name="银行", account_number_enc="x", account_last4="1234", status="verified",
                                created_at=now(), verified_at=now(), payable_from=now())
        db.session.add(account)
        db.session.flush()
        # 2026-01-31 17:00 UTC is 2026-02-01 01:00 in Shanghai: February.
        for n, (status, settled, gross, owes, tax) in enumerate((
                ("paid", datetime(2026, 1, 10, 2, tzinfo=timezone.utc), 100_000, 0, 8_000),
                ("paid", datetime(2026, 1, 31, 17, tzinfo=timezone.utc), 50_000, 5_000, 0),
                ("paid", datetime(2026, 2, 3, 2, tzinfo=timezone.utc), 20_000, 0, 0),
                ("failed", None, 70_000, 0, 0))):
            batch = SettlementBatch(key=f"b{n}", status="prepared", channel="gateway", prepared_at=now())
            db.session.add(batch)
            db.session.flush()
            db.session.add(SettlementItem(
                batch_id=batch.id, party_type="consultant", party_id=consultant.id, payout_account_id=account.id,
                status=status, gross_cents=gross, owes_netted_cents=owes, tax_cents=tax, net_cents=gross - owes - tax,
                withheld_by="platform", tax_month="2026-01", idempotency_key=f"k{n}", created_at=now(),
                settled_at=settled, failure_reason="收款账户已注销" if status == "failed" else None))
        db.session.commit()
    body = client.get("/admin/api/v1/dashboards/payouts", headers=world.staff_auth("finance")).get_json()
    assert [(m["month"], m["items"], m["gross_cents"], m["owes_netted_cents"], m["tax_cents"], m["net_cents"])
            for m in body["months"]] == [("2026-01", 1, 100_000, 0, 8_000, 92_000),
                                         ("2026-02", 2, 70_000, 5_000, 0, 65_000)]
    statuses = {s["status"]: (s["items"], s["net_cents"]) for s in body["statuses"]}
    assert statuses["paid"] == (3, 157_000) and statuses["failed"] == (1, 70_000)
    only = client.get("/admin/api/v1/dashboards/payouts?start=2026-02-02", headers=world.staff_auth("finance"))
    assert [m["items"] for m in only.get_json()["months"]] == [1]
    assert client.get("/admin/api/v1/dashboards/payouts", headers=world.staff_auth("operations")).status_code == 403
    sign_in(world, client, "finance")
    page = client.get("/admin/dashboards/payouts").get_data(as_text=True)
    assert len(_svgs(page)) == 1 and "¥920.00" in page and "2026-02" in page and "/admin/receivables/aging" in page
