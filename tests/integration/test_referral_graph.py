"""The referral network (DESIGN §3): chains as of a date, team size and GMV, the leaderboard
and the super-user report."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from estate_platform.consultants.models import ConsultantInvite
from estate_platform.db import db
from estate_platform.referrals import reports
from estate_platform.referrals.graph import ReferralNetwork
from estate_platform.referrals.models import ReferralEdge

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def backdate_invite(app, invitee_id: int, when: datetime) -> None:
    with app.app_context():
        db.session.execute(update(ConsultantInvite).where(ConsultantInvite.invitee_id == invitee_id)
                           .values(valid_from=when))
        db.session.commit()


def test_the_chain_as_of_a_date_ignores_edges_that_began_later(world, app):
    a = world.operating_consultant(name="甲")
    b = world.operating_consultant(name="乙", inviter_code=a.invite_code)
    c = world.operating_consultant(name="丙", inviter_code=b.invite_code)
    backdate_invite(app, b.id, T0)
    backdate_invite(app, c.id, T0 + timedelta(days=10))
    with app.app_context():
        network = ReferralNetwork.load(db.session)
        assert [l.party_id for l in network.uplines(c.id, T0 + timedelta(days=5), 2)] == []
        assert [l.party_id for l in network.uplines(c.id, T0 + timedelta(days=11), 2)] == [b.id, a.id]
        assert [l.party_id for l in network.uplines(c.id, T0 + timedelta(days=11), 1)] == [b.id]
        # Loading only the part a batch needs answers the same.
        part = ReferralNetwork.load(db.session, consultant_ids=[c.id])
        assert [l.party_id for l in part.uplines(c.id, T0 + timedelta(days=11), 2)] == [b.id, a.id]


def test_a_handoff_counts_only_from_when_it_was_accepted_and_only_for_its_buyer_and_project(world, app):
    sender = world.operating_consultant()
    receiver = world.operating_consultant()
    project = world.project()
    with app.app_context():
        db.session.add(ReferralEdge(kind="handoff", source_type="consultant", source_id=sender.id,
                                    target_type="consultant", target_id=receiver.id, buyer_id=None, project_id=project,
                                    valid_from=T0))
        with pytest.raises(IntegrityError):  # a handoff edge without its buyer is refused by the database
            db.session.flush()
        db.session.rollback()
    phone = world.next_buyer_phone()
    response = world.client.post("/api/mp/v1/handoffs", headers=sender.auth, json={
        "buyer_phone": phone, "buyer_name": "钱先生", "project_id": project, "to_consultant_id": receiver.id})
    world.client.post(f"/api/mp/v1/handoffs/{response.get_json()['id']}/accept", headers=receiver.auth)
    with app.app_context():
        edge = db.session.scalar(select(ReferralEdge).where(ReferralEdge.kind == "handoff"))
        network = ReferralNetwork.load(db.session)
        later = edge.valid_from + timedelta(seconds=1)
        assert network.handoff_referrer(receiver.id, edge.buyer_id, project, later).party_id == sender.id
        assert network.handoff_referrer(receiver.id, edge.buyer_id, project, edge.valid_from - timedelta(days=1)) is None
        assert network.handoff_referrer(receiver.id, edge.buyer_id, project + 999, later) is None


def _deal_for(world, consultant, project, price):
    return world.deal(project, world.register(consultant, project)["buyer_phone"], price_cents=price)


def test_team_size_and_gmv_count_everyone_below_and_their_live_deals(world, client, app):
    a = world.operating_consultant(name="甲")
    b = world.operating_consultant(name="乙", inviter_code=a.invite_code)
    c = world.operating_consultant(name="丙", inviter_code=b.invite_code)
    world.operating_consultant(name="丁", inviter_code=a.invite_code)
    outsider = world.operating_consultant(name="外人")
    project = world.project()
    world.split_policy()
    world.commission_rule(project)
    _deal_for(world, c, project, 200_000_000)
    _deal_for(world, a, project, 100_000_000)
    cancelled = _deal_for(world, b, project, 900_000_000)
    client.post(f"/admin/api/v1/deals/{cancelled['id']}/cancel", json={"reason": "退房"},
                headers=world.staff_auth("finance"))
    _deal_for(world, outsider, project, 700_000_000)
    team = client.get("/api/mp/v1/team", headers=a.auth).get_json()
    assert (team["size"], team["direct"], team["deals"], team["gmv_cents"]) == (3, 2, 2, 300_000_000)
    assert client.get(f"/admin/api/v1/referrals/teams/{b.id}", headers=world.staff_auth("operations")).get_json()[
        "size"] == 1

    board = client.get("/admin/api/v1/referrals/leaderboard", headers=world.staff_auth("operations")).get_json()
    assert [(r["name"], r["gmv_cents"], r["team_size"]) for r in board] == [
        ("外人", 700_000_000, 0), ("丙", 200_000_000, 0), ("甲", 100_000_000, 3)]


def test_super_users_are_the_fewest_people_who_brought_eighty_percent(world, client):
    big = world.operating_consultant(name="大客户王")
    mid = world.operating_consultant(name="中")
    small = [world.operating_consultant(name=f"小{i}") for i in range(3)]
    project = world.project()
    world.split_policy()
    world.commission_rule(project)
    for _ in range(6):
        _deal_for(world, big, project, 100_000_000)
    for _ in range(2):
        _deal_for(world, mid, project, 500_000_000)
    for who in small:
        _deal_for(world, who, project, 10_000_000)
    report = client.get("/admin/api/v1/referrals/super-users", headers=world.staff_auth("finance")).get_json()
    assert (report["total_deals"], report["total_gmv_cents"]) == (11, 1_630_000_000)
    # Deals: 6 + 2 = 8 of 11 (72.7%) is short of 80%, so one 1-deal consultant joins: 3 people.
    assert [c["name"] for c in report["by_deals"]][:2] == ["大客户王", "中"] and len(report["by_deals"]) == 3
    # GMV: 中 1,000,000,000 + 王 600,000,000 = 98% of 1,630,000,000: 2 people.
    assert [c["name"] for c in report["by_gmv"]] == ["中", "大客户王"]
    assert len(report["both"]) == 3


def test_a_consultant_cannot_read_the_admin_reports(world, client):
    consultant = world.operating_consultant()
    assert client.get("/admin/api/v1/referrals/leaderboard", headers=consultant.auth).status_code == 401
