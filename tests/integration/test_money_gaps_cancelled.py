"""Money applied to a deal later cancelled (退房) goes back to the developer's unapplied cash
(issue 12): a correcting transaction per payment it came from, idempotent, shown on the
collection, the unapplied list, the statement and aging; the consultant's released money is
taken back once, the ledger stays balanced and nobody is paid twice."""
from __future__ import annotations

from sqlalchemy import func, select

from estate_platform.db import db
from estate_platform.ledger.models import LedgerTransaction as Transaction, Posting
from estate_platform.receivables import returns
from estate_platform.receivables.models import CollectionAllocation
from tests.conftest import now
from tests.integration.test_collections import COMMISSION, FEE, SERVING, Book, book, today  # noqa: F401


def cancel(book: Book, deal_id: int) -> None:
    response = book.client.post(f"/admin/api/v1/deals/{deal_id}/cancel", headers=book.finance,
                                json={"reason": "客户退房"})
    assert response.status_code == 200, response.get_json()


def unapplied(book: Book) -> int:
    rows = book.client.get("/admin/api/v1/receivables/unapplied", headers=book.finance).get_json()
    return sum(r["unapplied_cents"] for r in rows if r["developer_id"] == book.developer_id)


def developer_balance(book: Book, kind: str) -> int:
    with book.app.app_context():
        from estate_platform.ledger import services as ledger
        return ledger.balances(db.session, "developer", book.developer_id)[kind]


def ledger_sum(book: Book) -> int:
    with book.app.app_context():
        return int(db.session.scalar(select(func.coalesce(func.sum(Posting.amount_cents), 0))))


def test_a_cancelled_deal_returns_the_money_applied_to_it_to_unapplied_cash(book):
    deal = book.deal()
    paid = book.pay(COMMISSION // 2, "PART-1")
    assert book.available() == SERVING // 2
    cancel(book, deal)

    # The payment stands, but nothing of it is applied any more: it waits as unapplied cash.
    detail = book.client.get(f"/admin/api/v1/collections/{paid['id']}", headers=book.finance).get_json()
    assert detail["applied_cents"] == 0 and detail["unapplied_cents"] == COMMISSION // 2
    kinds = [(a["deal_id"], a["amount_cents"], a["kind"]) for a in detail["allocations"]]
    assert kinds == [(deal, COMMISSION // 2, "applied"), (deal, -(COMMISSION // 2), "returned")]
    assert unapplied(book) == COMMISSION // 2
    # Developer: receivable back to zero, the cash owed to him as unapplied.
    assert developer_balance(book, "receivable") == 0
    assert developer_balance(book, "unapplied") == -(COMMISSION // 2)
    # The consultant's released half was taken back from available, once; nothing pending.
    assert book.available() == 0 and book.pending() == 0 and book.balances()["owes"] == 0
    assert ledger_sum(book) == 0
    with book.app.app_context():
        keys = list(db.session.scalars(select(Transaction.idempotency_key).where(
            Transaction.kind == "collection_returned")))
    assert keys == [f"collection:{paid['id']}:return:1"]


def test_returned_money_is_applied_to_another_deal_and_releases_it(book):
    first = book.deal(signed_days_ago=40)
    book.pay(COMMISSION, "FULL-1")
    cancel(book, first)
    second = book.deal()
    applied = book.client.post(f"/admin/api/v1/developers/{book.developer_id}/apply-unapplied",
                               headers=book.finance, json={})
    assert applied.status_code == 200, applied.get_json()
    assert applied.get_json()["unapplied_cents"] == 0
    rows = book.client.get(f"/admin/api/v1/receivables/aging?developer_id={book.developer_id}",
                           headers=book.finance).get_json()
    assert sum(r["total_cents"] for r in rows["rows"]) == 0
    # The second deal is paid in full by the returned money: its lines are available.
    assert book.available() == SERVING
    assert developer_balance(book, "receivable") == 0 and developer_balance(book, "unapplied") == 0
    assert ledger_sum(book) == 0
    assert second != first


def test_a_paid_out_then_cancelled_deal_makes_a_debt_once_and_the_return_is_idempotent(book):
    deal = book.deal()
    paid = book.pay(COMMISSION, "FULL-2")
    # The consultant's money was paid out: simulate the payout moving it off available.
    with book.app.app_context():
        from estate_platform.ledger import services as ledger
        from estate_platform.ledger.services import Entry, Leg
        ledger.post(db.session, Entry("test:payout", "payout_sent", "test payout", (
            Leg("consultant", book.consultant.id, "available", SERVING, "paid out"),
            Leg("platform", 0, "cash", -SERVING, "paid out"))), now=now())
        db.session.commit()
    cancel(book, deal)
    assert book.balances()["owes"] == SERVING  # he owes what he was paid, once
    with book.app.app_context():
        assert returns.return_overapplied(db.session, [deal], now=now(), reason="again") == 0
        assert returns.sweep(db.session, now=now()) == 0
        db.session.commit()
        rows = db.session.scalar(select(func.count()).select_from(CollectionAllocation)
                                 .where(CollectionAllocation.kind == "returned"))
    assert rows == 1
    assert book.balances()["owes"] == SERVING
    assert unapplied(book) == COMMISSION
    detail = book.client.get(f"/admin/api/v1/collections/{paid['id']}", headers=book.finance).get_json()
    assert detail["unapplied_cents"] == COMMISSION
    assert ledger_sum(book) == 0


def test_the_return_spreads_over_the_payments_newest_first_each_linked_to_its_payment(book):
    deal = book.deal()
    one = book.pay(COMMISSION // 3, "SPLIT-1")
    two = book.pay(COMMISSION // 3, "SPLIT-2")
    cancel(book, deal)
    for paid in (one, two):
        detail = book.client.get(f"/admin/api/v1/collections/{paid['id']}", headers=book.finance).get_json()
        assert detail["applied_cents"] == 0 and detail["unapplied_cents"] == COMMISSION // 3
    assert unapplied(book) == 2 * (COMMISSION // 3)
    assert developer_balance(book, "receivable") == 0


def test_undoing_a_payment_after_its_deal_was_cancelled_takes_only_the_cash_back(book):
    deal = book.deal()
    paid = book.pay(COMMISSION // 2, "UNDO-1")
    cancel(book, deal)
    undo = book.client.post(f"/admin/api/v1/collections/{paid['id']}/reverse", headers=book.finance,
                            json={"reason": "银行退票"})
    assert undo.status_code == 200, undo.get_json()
    assert unapplied(book) == 0
    assert developer_balance(book, "receivable") == 0 and developer_balance(book, "unapplied") == 0
    assert book.available() == 0 and book.pending() == 0 and book.balances()["owes"] == 0
    assert ledger_sum(book) == 0


def test_statement_shows_the_developer_s_unapplied_cash_after_a_cancellation(book):
    deal = book.deal()
    book.pay(COMMISSION // 2, "STMT-1")
    cancel(book, deal)
    response = book.client.get(f"/admin/api/v1/developers/{book.developer_id}/statement",
                               headers=book.finance,
                               query_string={"period_from": today().isoformat(), "period_to": today().isoformat()})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["unapplied_cents"] == COMMISSION // 2
    assert body["closing_cents"] == -(COMMISSION // 2)
    assert FEE > 0
