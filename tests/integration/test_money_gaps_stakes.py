"""A dispute's stake (upheld against the developer, no deal) is collected like a deal's
receivable (issue 12): in the open receivables by its due date (decision date + the project's
payment terms), choosable, in aging and statements; its consultant lines become available with
the developer's money (pay-when-paid) or after N days (advance), through the same release rule;
an undo takes them back; the ledger balances and a re-run moves nothing."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from estate_platform.db import db
from estate_platform.deals.models import Deal
from estate_platform.ledger.models import LedgerTransaction
from estate_platform.receivables import releases
from estate_platform.receivables.models import CommissionRelease
from tests.conftest import now
from tests.integration.dispute_scene import COMMISSION, build_market, run, staff_member, today
from tests.integration.test_disputes import approve, balances, ledger_is_balanced, open_against_developer, propose

ADMIN = "/admin/api/v1"
YI_LINE = 4_860_000     # 乙, the protected consultant: the rest after the fee and 丙's upline share
BING_LINE = 540_000     # 丙, 乙's upline


@pytest.fixture
def market(world):
    return build_market(world)


@pytest.fixture
def stake(app, world, market) -> int:
    """The developer sold 王女士 directly: upheld, the stake (¥60,000) is owed by the developer."""
    (maker, _), (checker, _) = (staff_member(world, "operations", "运营小李"),
                                staff_member(world, "operations", "运营老王"))
    dispute_id = open_against_developer(app, market)
    approve(app, checker, dispute_id, propose(app, maker, dispute_id))
    return dispute_id


def pay(world, market, amount: int, reference: str, expect: int = 201, **extra) -> dict:
    response = world.client.post(f"{ADMIN}/collections", headers=world.staff_auth("finance"), json={
        "developer_id": market.developer_id, "amount_cents": amount, "received_on": today().isoformat(),
        "bank_reference": reference, **extra})
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def available(app, consultant_id: int) -> int:
    return -balances(app, "consultant", consultant_id)["available"]


def pending(app, consultant_id: int) -> int:
    return -balances(app, "consultant", consultant_id)["pending"]


def test_the_stake_is_an_open_receivable_due_terms_days_after_the_decision(world, market, stake):
    owed = world.client.get(f"{ADMIN}/developers/{market.developer_id}/receivables",
                            headers=world.staff_auth("finance")).get_json()
    stakes = [r for r in owed if r["source"] == "dispute"]
    assert stakes == [{"source": "dispute", "deal_id": None, "dispute_id": stake,
                       "due_on": (today() + timedelta(days=30)).isoformat(), "outstanding_cents": COMMISSION}]
    assert any(r["deal_id"] == market.deal for r in owed)


def test_a_payment_chosen_for_the_stake_releases_its_lines_in_proportion(app, world, market, stake):
    assert (pending(app, market.yi.id), available(app, market.yi.id)) == (YI_LINE, 0)
    paid = pay(world, market, COMMISSION // 2, "STAKE-1", dispute_ids=[stake])
    assert [(a["dispute_id"], a["deal_id"], a["amount_cents"]) for a in paid["allocations"]] == [
        (stake, None, COMMISSION // 2)]
    assert available(app, market.yi.id) == YI_LINE // 2 and pending(app, market.yi.id) == YI_LINE // 2
    assert available(app, market.bing.id) == BING_LINE // 2
    # The deal of the same developer got nothing: it was not chosen.
    assert all(a["deal_id"] is None for a in paid["allocations"])

    # Paid in full: the lines are all available; the developer owes nothing on the stake.
    pay(world, market, COMMISSION - COMMISSION // 2, "STAKE-2", dispute_ids=[stake])
    assert (available(app, market.yi.id), pending(app, market.yi.id)) == (YI_LINE, 0)
    assert available(app, market.bing.id) == BING_LINE
    owed = world.client.get(f"{ADMIN}/developers/{market.developer_id}/receivables",
                            headers=world.staff_auth("finance")).get_json()
    assert [r for r in owed if r["source"] == "dispute"] == []
    assert ledger_is_balanced(app)

    # A re-run (the hourly sweep, a retried task) moves nothing.
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(LedgerTransaction))
        assert releases.sweep(db.session, now=now()) == 0
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(LedgerTransaction)) == before
        keys = sorted(db.session.scalars(select(LedgerTransaction.idempotency_key)
                                         .where(LedgerTransaction.kind == "commission_released")))
    assert keys == [f"dispute:{stake}:stake:release:1", f"dispute:{stake}:stake:release:2"]


def test_oldest_due_first_reaches_the_stake_before_a_later_deal(app, world, market, stake):
    with app.app_context():
        db.session.get(Deal, market.deal).due_on = today() + timedelta(days=90)
        db.session.commit()
    paid = pay(world, market, COMMISSION + 1_000, "OLDEST-1")
    assert [(a["dispute_id"], a["deal_id"], a["amount_cents"]) for a in paid["allocations"]] == [
        (stake, None, COMMISSION), (None, market.deal, 1_000)]
    assert available(app, market.yi.id) == YI_LINE


def test_undoing_the_payment_takes_the_stake_lines_back(app, world, market, stake):
    paid = pay(world, market, COMMISSION, "UNDO-STAKE", dispute_ids=[stake])
    assert available(app, market.yi.id) == YI_LINE
    response = world.client.post(f"{ADMIN}/collections/{paid['id']}/reverse", headers=world.staff_auth("finance"),
                                 json={"reason": "银行退票"})
    assert response.status_code == 200, response.get_json()
    assert (available(app, market.yi.id), pending(app, market.yi.id)) == (0, YI_LINE)
    with app.app_context():
        reasons = [r.reason for r in db.session.scalars(select(CommissionRelease).where(
            CommissionRelease.dispute_id == stake).order_by(CommissionRelease.seq))]
    assert reasons == ["collection", "undo"]
    assert ledger_is_balanced(app)


def test_advance_terms_release_the_stake_without_payment(app, world, market, stake):
    response = world.client.put(f"{ADMIN}/developers/{market.developer_id}/contract",
                                headers=world.staff_auth("finance"),
                                json={"payable_when": "advance", "advance_days": 0})
    assert response.status_code == 200, response.get_json()
    with app.app_context():
        releases.sweep(db.session, now=now() + timedelta(minutes=1))
        db.session.commit()
    assert available(app, market.yi.id) == YI_LINE and pending(app, market.yi.id) == 0
    assert ledger_is_balanced(app)


def test_aging_and_the_statement_show_the_stake(app, world, market, stake):
    pay(world, market, 1_000_000, "AGING-1", dispute_ids=[stake])
    finance = world.staff_auth("finance")
    aging = world.client.get(f"{ADMIN}/receivables/aging?developer_id={market.developer_id}",
                             headers=finance).get_json()
    # The deal (¥60,000) and the rest of the stake (¥50,000), both current.
    assert aging["totals"]["current"] == COMMISSION + COMMISSION - 1_000_000
    statement = world.client.get(f"{ADMIN}/developers/{market.developer_id}/statement", headers=finance,
                                 query_string={"period_from": today().isoformat(),
                                               "period_to": today().isoformat()}).get_json()
    assert [(s["dispute_id"], s["commission_cents"], s["applied_cents"]) for s in statement["stakes"]] == [
        (stake, COMMISSION, 1_000_000)]
    assert statement["receivable_cents"] == 2 * COMMISSION
    assert statement["closing_cents"] == 2 * COMMISSION - 1_000_000


def test_a_stake_of_another_developer_or_an_unknown_dispute_is_refused(app, world, market, stake):
    other = world.project(name="别家楼盘")
    from estate_platform.projects.models import Project
    with app.app_context():
        other_developer = db.session.get(Project, other).developer_id
    assert other_developer != market.developer_id
    response = world.client.post(f"{ADMIN}/collections", headers=world.staff_auth("finance"), json={
        "developer_id": other_developer, "amount_cents": 1_000, "received_on": today().isoformat(),
        "bank_reference": "WRONG-1", "dispute_ids": [stake]})
    assert response.status_code == 422 and "dispute_ids" in response.get_json()["error"]["details"]["fields"]
    response = world.client.post(f"{ADMIN}/collections", headers=world.staff_auth("finance"), json={
        "developer_id": market.developer_id, "amount_cents": 1_000, "received_on": today().isoformat(),
        "bank_reference": "WRONG-2", "dispute_ids": [stake + 1000]})
    assert response.status_code == 422
    assert run(app, lambda s: s.scalar(select(func.count()).select_from(CommissionRelease))) == 0
