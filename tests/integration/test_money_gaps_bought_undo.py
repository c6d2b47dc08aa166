"""Undoing a collection on a bought (垫付) deal takes back the remainder it paid (issue 12): from
the consultant's available money, or as money he owes when it was already paid out (netted
from later earnings, like recourse); the realised discount returns to deferred; idempotent,
balanced; a later payment pays the remainder once again."""
from __future__ import annotations

from sqlalchemy import func, select

from estate_platform.buyback.models import BuybackLine
from estate_platform.db import db
from estate_platform.deals.models import Deal
from estate_platform.ledger import services as ledger
from estate_platform.ledger.models import LedgerTransaction
from estate_platform.ledger.services import Entry, Leg
from estate_platform.receivables import releases
from tests.conftest import now
from tests.integration.test_buyback import ADMIN
from tests.integration.test_buyback_money import bought


def pay(world, sold, amount: int, reference: str) -> dict:
    response = world.client.post(f"{ADMIN}/collections", headers=world.staff_auth("finance"), json={
        "developer_id": sold.developer_id, "amount_cents": amount, "received_on": now().date().isoformat(),
        "bank_reference": reference})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def undo(world, collection_id: int) -> None:
    response = world.client.post(f"{ADMIN}/collections/{collection_id}/reverse", headers=world.staff_auth("finance"),
                                 json={"reason": "银行退票"})
    assert response.status_code == 200, response.get_json()


def mine(app, consultant_id: int) -> dict[str, int]:
    with app.app_context():
        return ledger.balances(db.session, "consultant", consultant_id)


def line_of(app, request_id: int) -> BuybackLine:
    with app.app_context():
        line = db.session.scalar(select(BuybackLine).where(BuybackLine.request_id == request_id))
        db.session.expunge(line)
        return line


def balanced(app) -> None:
    with app.app_context():
        assert ledger.total(db.session) == 0 and ledger.unbalanced_transactions(db.session) == []


def test_collect_then_remainder_paid_out_then_undo_makes_the_remainder_money_he_owes(world, app):
    sold, q, r = bought(world)
    c = sold.consultant.id
    with app.app_context():
        commission = db.session.get(Deal, sold.deal_id).commission_cents
    paid = pay(world, sold, commission, "BB-UNDO-1")
    assert -mine(app, c)["available"] == q["advance_cents"] + q["remainder_cents"]
    # Everything he had available was paid out (a payout moves it off available).
    with app.app_context():
        ledger.post(db.session, Entry("test:payout", "payout_sent", "test payout", (
            Leg("consultant", c, "available", q["advance_cents"] + q["remainder_cents"], "paid out"),
            Leg("platform", 0, "cash", -(q["advance_cents"] + q["remainder_cents"]), "paid out"))), now=now())
        db.session.commit()

    undo(world, paid["id"])
    balances = mine(app, c)
    assert balances["available"] == 0
    assert balances["owes"] == q["remainder_cents"]           # the paid remainder is now a debt
    assert balances["remainder"] == -q["remainder_cents"]     # and awaits the developer again
    with app.app_context():
        assert ledger.balances(db.session, "platform", 0)["purchased"] == -q["discount_cents"]
    line = line_of(app, r["id"])
    assert (line.status, line.collected_cents, line.deal_collected_cents, line.remainder_paid_cents,
            line.discount_realised_cents) == ("purchased", 0, 0, 0, 0)
    balanced(app)

    # Running the release again (a retried task, the hourly sweep) changes nothing.
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(LedgerTransaction))
        releases.lock_developer(db.session, sold.developer_id)
        assert releases.sync(db.session, [sold.deal_id], now=now(), reason="sweep") == 0
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(LedgerTransaction)) == before
        keys = list(db.session.scalars(select(LedgerTransaction.idempotency_key)
                                       .where(LedgerTransaction.kind == "buyback_uncollected")))
    assert len(keys) == 1 and keys[0].startswith(f"buyback:deal:{sold.deal_id}:uncollected:")

    # The developer pays again: the remainder is paid once more, against the debt's netting later.
    pay(world, sold, commission, "BB-UNDO-2")
    balances = mine(app, c)
    assert balances["remainder"] == 0 and -balances["available"] == q["remainder_cents"]
    assert balances["owes"] == q["remainder_cents"]
    assert line_of(app, r["id"]).status == "collected"
    balanced(app)


def test_undoing_a_partial_collection_takes_the_unpaid_remainder_back_from_available(world, app):
    sold, q, r = bought(world)
    c = sold.consultant.id
    with app.app_context():
        commission = db.session.get(Deal, sold.deal_id).commission_cents
    first = pay(world, sold, commission // 2, "BB-HALF-1")
    second = pay(world, sold, commission // 4, "BB-QUARTER-2")
    three_quarters = line_of(app, r["id"]).remainder_paid_cents
    assert three_quarters == q["remainder_cents"] * (commission // 2 + commission // 4) // commission

    undo(world, first["id"])  # only the quarter stands now
    line = line_of(app, r["id"])
    quarter = q["remainder_cents"] * (commission // 4) // commission
    assert line.remainder_paid_cents == quarter and line.deal_collected_cents == commission // 4
    balances = mine(app, c)
    assert -balances["available"] == q["advance_cents"] + quarter and balances["owes"] == 0
    assert balances["remainder"] == -(q["remainder_cents"] - quarter)
    undo(world, second["id"])
    line = line_of(app, r["id"])
    assert (line.remainder_paid_cents, line.discount_realised_cents, line.collected_cents) == (0, 0, 0)
    assert -mine(app, c)["available"] == q["advance_cents"]
    balanced(app)
