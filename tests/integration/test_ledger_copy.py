"""The bulk path of the ledger (issue 16 §2, issue 12 §4): legs, commission lines and
notifications go in by COPY on PostgreSQL (``ledger.copy.copy_rows``), and the balance trigger
reads only the statement's own legs. Both must refuse exactly what they refused before.
"""
from __future__ import annotations

import gc
import itertools

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from estate_platform.db import commit
from estate_platform.ledger import services as ledger
from estate_platform.ledger.copy import copy_insert, copy_rows
from estate_platform.ledger.models import LedgerTransaction, Posting
from estate_platform.ledger.services import Entry, Leg
from tests.conftest import now

_keys = itertools.count(1)


def key(prefix: str = "copy") -> str:
    return f"{prefix}:{next(_keys)}"


def raw_transaction(session) -> int:
    return session.execute(text(
        "INSERT INTO ledger_transactions (idempotency_key, kind, description, actor_type, created_at) "
        "VALUES (:k, 'raw', 'raw', 'system', :at) RETURNING id"),
        {"k": key("raw"), "at": now().replace(tzinfo=None)}).scalar_one()


def two_accounts(session) -> tuple[int, int]:
    accounts = ledger.account_ids(session, [("developer", 1, "receivable"), ("platform", 0, "revenue")], now=now())
    commit(session)
    return accounts[("developer", 1, "receivable")], accounts[("platform", 0, "revenue")]


def legs_count(session) -> int:
    return session.scalar(select(func.count()).select_from(Posting))


def test_copy_rows_writes_the_rows_bulk_insert_would_and_they_roll_back_with_the_unit_of_work(session):
    receivable, revenue = two_accounts(session)
    transaction_id = raw_transaction(session)
    memo = "上线一级：顾问 张三（2026-03-01 邀请）\t换行\n反斜杠\\"
    copy_rows(session, Posting.__table__, [
        {"transaction_id": transaction_id, "account_id": receivable, "amount_cents": 12_345, "memo": memo},
        {"transaction_id": transaction_id, "account_id": revenue, "amount_cents": -12_345, "memo": None}])
    rows = session.execute(select(Posting.account_id, Posting.amount_cents, Posting.memo)
                           .where(Posting.transaction_id == transaction_id).order_by(Posting.id)).all()
    assert [tuple(r) for r in rows] == [(receivable, 12_345, memo), (revenue, -12_345, None)]
    session.rollback()
    assert legs_count(session) == 0


@pytest.mark.postgres
@pytest.mark.parametrize("amounts", [(100, -99), (100,), (100, -100, 1)], ids=["off-by-one", "one-leg", "extra-cent"])
def test_postgres_refuses_unbalanced_legs_sent_by_copy(session, amounts):
    receivable, revenue = two_accounts(session)
    transaction_id = raw_transaction(session)
    accounts = itertools.cycle((receivable, revenue))
    with pytest.raises(DBAPIError, match="unbalanced"):
        copy_rows(session, Posting.__table__, [
            {"transaction_id": transaction_id, "account_id": next(accounts), "amount_cents": amount, "memo": None}
            for amount in amounts])
        session.flush()
    session.rollback()
    assert legs_count(session) == 0


@pytest.mark.postgres
def test_postgres_refuses_one_more_leg_on_a_balanced_transaction_and_accepts_a_balanced_pair(session):
    """The trigger sums only the statement's legs; the legs already in balance, so a leg added
    later unbalances the transaction exactly when the added legs do not sum to zero."""
    entry = Entry(key(), "test", "测试", (Leg("developer", 1, "receivable", 500), Leg("platform", 0, "revenue", -500)))
    created = ledger.post_many(session, [entry], now=now())
    commit(session)
    transaction_id = created[entry.idempotency_key]
    receivable, revenue = two_accounts(session)
    for statement in (f"INSERT INTO ledger_postings (transaction_id, account_id, amount_cents) "
                      f"VALUES ({transaction_id}, {receivable}, 1)",
                      f"INSERT INTO ledger_postings (transaction_id, account_id, amount_cents) "
                      f"VALUES ({transaction_id}, {receivable}, 7), ({transaction_id}, {revenue}, -6)"):
        with pytest.raises(DBAPIError, match="unbalanced"):
            session.execute(text(statement))
        session.rollback()
    assert legs_count(session) == 2
    session.execute(text(f"INSERT INTO ledger_postings (transaction_id, account_id, amount_cents) "
                         f"VALUES ({transaction_id}, {receivable}, 3), ({transaction_id}, {revenue}, -3)"))
    commit(session)
    assert ledger.unbalanced_transactions(session) == [] and ledger.total(session) == 0


@pytest.mark.postgres
def test_postgres_still_refuses_at_commit_a_transaction_left_without_legs(session):
    raw_transaction(session)
    session.flush()
    with pytest.raises(DBAPIError, match="fewer than two postings"):
        commit(session)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(LedgerTransaction)) == 0


def test_a_batch_of_many_entries_posts_every_leg_once_and_a_rerun_posts_nothing(session):
    entries = [Entry(key("batch"), "test", f"成交 #{i} 佣金确认", (
        Leg("developer", 1 + i % 7, "receivable", 1_000 + i, f"成交 #{i} 应收佣金"),
        Leg("platform", 0, "revenue", -(100 + i % 3), "平台服务费"),
        Leg("consultant", 10 + i % 50, "pending", -(900 + i - i % 3), f"服务顾问 #{10 + i % 50}")))
        for i in range(2_500)]
    created = ledger.post_many(session, entries, now=now(), chunk_size=1000)
    commit(session)
    assert len(created) == 2_500 and legs_count(session) == 7_500
    assert ledger.post_many(session, entries, now=now()) == {}
    commit(session)
    assert legs_count(session) == 7_500
    assert ledger.unbalanced_transactions(session) == [] and ledger.total(session) == 0
    memos = session.scalars(select(Posting.memo).join(LedgerTransaction, LedgerTransaction.id == Posting.transaction_id)
                            .where(LedgerTransaction.idempotency_key == entries[42].idempotency_key)
                            .order_by(Posting.id)).all()
    assert memos == ["成交 #42 应收佣金", "平台服务费", "服务顾问 #52"]


@pytest.mark.parametrize("missing", ["transaction", "account"])
def test_a_leg_of_a_missing_transaction_or_account_is_refused(session, missing):
    """No FOREIGN KEY on the legs (a row-level check per leg): the triggers refuse the same."""
    receivable, revenue = two_accounts(session)
    transaction_id = raw_transaction(session)
    target, account = (transaction_id + 1000, receivable) if missing == "transaction" else (transaction_id, 999_999)
    rows = [{"transaction_id": target, "account_id": account, "amount_cents": 5, "memo": None},
            {"transaction_id": target, "account_id": revenue, "amount_cents": -5, "memo": None}]
    with pytest.raises(DBAPIError, match="missing transaction or account"):
        copy_rows(session, Posting.__table__, rows)
        session.flush()
    session.rollback()
    assert legs_count(session) == 0


def test_an_account_with_legs_cannot_be_deleted_or_renumbered_and_an_unused_one_can(session):
    entry = Entry(key(), "test", "测试", (Leg("developer", 1, "receivable", 500), Leg("platform", 0, "revenue", -500)))
    ledger.post_many(session, [entry], now=now())
    unused = ledger.account_ids(session, [("developer", 2, "receivable")], now=now())[("developer", 2, "receivable")]
    commit(session)
    used = ledger.account_ids(session, [("developer", 1, "receivable")], now=now())[("developer", 1, "receivable")]
    for statement in (f"DELETE FROM ledger_accounts WHERE id = {used}",
                      f"UPDATE ledger_accounts SET id = {used + 10_000} WHERE id = {used}"):
        with pytest.raises(DBAPIError, match="has postings"):
            session.execute(text(statement))
        session.rollback()
    session.execute(text(f"DELETE FROM ledger_accounts WHERE id = {unused}"))
    commit(session)
    assert ledger.balances(session, "developer", 1)["receivable"] == 500


def test_copy_insert_takes_tuples_of_named_columns_and_skips_known_keys(session):
    at = now()
    description = "付款成功（明细 a\tb）\n反斜杠\\"
    first, second = key("tuple"), key("tuple")
    columns = ("idempotency_key", "kind", "description", "deal_id", "actor_type", "actor_id", "created_at")
    rows = copy_insert(session, LedgerTransaction.__table__, [
        (first, "test", description, None, "system", None, at), (second, "test", "二", None, "staff", 7, at)],
        columns=columns, conflict_do_nothing=("idempotency_key",), returning=("id", "idempotency_key"))
    assert sorted(k for _, k in rows) == sorted([first, second])
    stored = session.execute(select(LedgerTransaction.idempotency_key, LedgerTransaction.description,
                                    LedgerTransaction.actor_type, LedgerTransaction.actor_id,
                                    LedgerTransaction.created_at)
                             .where(LedgerTransaction.idempotency_key.in_([first, second]))
                             .order_by(LedgerTransaction.id)).all()
    assert [tuple(r) for r in stored] == [(first, description, "system", None, at), (second, "二", "staff", 7, at)]
    third = key("tuple")
    again = copy_insert(session, LedgerTransaction.__table__, [
        (first, "test", "又一次", None, "system", None, at), (third, "test", "三", None, "system", None, at)],
        columns=columns, conflict_do_nothing=("idempotency_key",), returning=("id", "idempotency_key"))
    assert [k for _, k in again] == [third]  # the known key skipped, the new one inserted
    session.rollback()


def test_the_cycle_collector_is_paused_inside_a_batch_and_left_as_found_after():
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        with ledger.cycle_collection_paused():
            assert not gc.isenabled()
            with ledger.cycle_collection_paused():  # nested: still paused after the inner block
                pass
            assert not gc.isenabled()
            raise RuntimeError("a failing batch")
    assert gc.isenabled()
    gc.disable()
    try:
        with ledger.cycle_collection_paused():
            pass
        assert not gc.isenabled()  # paused by someone else: not resumed by the batch
    finally:
        gc.enable()


def test_post_many_runs_with_the_collector_paused_and_resumes_it(session, monkeypatch):
    seen = []
    real = ledger.account_ids
    monkeypatch.setattr(ledger, "account_ids", lambda *a, **k: (seen.append(gc.isenabled()), real(*a, **k))[1])
    ledger.post_many(session, [Entry(key("gc"), "test", "测试", (Leg("developer", 1, "receivable", 5, None),
                                                                 Leg("platform", 0, "revenue", -5, None)))], now=now())
    assert seen == [False] and gc.isenabled()
    session.rollback()
