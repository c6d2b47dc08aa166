"""The ledger's balance trigger finds legs' transactions and accounts by primary key whatever plan
it kept (issue 16 §2, migration e1f2a3b4c5d6).

PL/pgSQL plans a trigger's query once per connection and keeps the plan. The check used to be
planned on the first statement of a connection, and when that came while the ledger was small
(a new database, a batch's first chunk), it hashed the whole of ``ledger_transactions`` and
``ledger_accounts`` on every statement after, however large they grew. This test makes the plan
on a ledger of one transaction, grows the ledger to thousands without an ANALYZE (as between two
autovacuum runs), and reads the plans the next posting's check runs (``auto_explain``, nested
statements, sent to this connection): every look-up of either table is an index probe.
"""
from __future__ import annotations

import psycopg
import pytest

pytestmark = pytest.mark.postgres

GROW = 5_000


def post(cursor, first: int, count: int, accounts: tuple[int, int]) -> None:
    """``count`` balanced transactions of two legs each, by plain SQL (the triggers check them)."""
    cursor.execute(
        "INSERT INTO ledger_transactions (idempotency_key, kind, description, actor_type, created_at) "
        "SELECT 'plan:' || g, 'test', '测试', 'system', now() FROM generate_series(%s::int, %s::int) g",
        (first, first + count - 1))
    cursor.execute(
        "INSERT INTO ledger_postings (transaction_id, account_id, amount_cents, memo) "
        "SELECT t.id, a.account_id, a.amount, NULL FROM ledger_transactions t "
        "CROSS JOIN (VALUES (%s::int, 5), (%s::int, -5)) AS a(account_id, amount) "
        "WHERE t.idempotency_key IN (SELECT 'plan:' || g FROM generate_series(%s::int, %s::int) g)",
        (*accounts, first, first + count - 1))


def test_the_balance_check_probes_by_key_after_the_ledger_grew(database_url):
    plans: list[str] = []
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://", 1)) as connection:
        connection.add_notice_handler(lambda notice: plans.append(notice.message_primary or ""))
        cursor = connection.cursor()
        cursor.execute("INSERT INTO ledger_accounts (party_type, party_id, kind, created_at) "
                       "VALUES ('developer', 1, 'receivable', now()), ('platform', 0, 'revenue', now()) RETURNING id")
        accounts = tuple(row[0] for row in cursor.fetchall())
        post(cursor, 1, 1, accounts)  # the check's plan is made now, on a ledger of one transaction
        connection.commit()
        cursor.execute("INSERT INTO ledger_accounts (party_type, party_id, kind, created_at) "
                       "SELECT 'consultant', g, 'pending', now() FROM generate_series(1, %s::int) g", (GROW,))
        post(cursor, 2, GROW, accounts)
        connection.commit()
        cursor.execute("LOAD 'auto_explain'")
        for setting in ("auto_explain.log_min_duration = 0", "auto_explain.log_nested_statements = on",
                        "client_min_messages = log"):
            cursor.execute(f"SET {setting}")
        post(cursor, GROW + 2, 1, accounts)
        connection.commit()
    checks = [plan for plan in plans if "FROM new_postings" in plan
              and ("ledger_transactions t" in plan or "ledger_accounts a" in plan)]
    assert len(checks) == 2, plans  # the look-up of the legs' transactions, then of their accounts
    for plan in checks:
        assert "Index Only Scan using pk_ledger" in plan or "Index Scan using pk_ledger" in plan, plan
        assert not any(scan in plan for scan in ("Seq Scan on ledger_", "hashed SubPlan", "Hash Join",
                                                 "Hash Anti Join", "Merge")), plan
