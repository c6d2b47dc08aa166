"""The documented backup and its one tested restore (README "Production", issue 16 §3):
``pg_dump --format=custom`` of a database with ledger data, ``pg_restore`` into a fresh
database, and the restored ledger still sums to zero, transaction by transaction, with the
same rows and the ledger's triggers still refusing an unbalanced transaction."""
from __future__ import annotations

import shutil
import subprocess
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

pytestmark = pytest.mark.postgres


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as pg_dump/pg_restore take it (no ``+psycopg``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def ledger_facts(url: str) -> dict:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {
                "sum": connection.execute(text("SELECT COALESCE(sum(amount_cents), 0) FROM ledger_postings")).scalar(),
                "unbalanced": connection.execute(text(
                    "SELECT count(*) FROM (SELECT transaction_id FROM ledger_postings GROUP BY transaction_id "
                    "HAVING sum(amount_cents) <> 0) AS t")).scalar(),
                "transactions": connection.execute(text("SELECT count(*) FROM ledger_transactions")).scalar(),
                "postings": connection.execute(text(
                    "SELECT md5(string_agg(transaction_id || ':' || account_id || ':' || amount_cents, ',' "
                    "ORDER BY id)) FROM ledger_postings")).scalar(),
                "deals": connection.execute(text("SELECT count(*) FROM deals WHERE recognised")).scalar(),
            }
    finally:
        engine.dispose()


def test_pg_dump_then_restore_into_a_fresh_database_keeps_the_ledger_summing_to_zero(
        world, client, app, database_url, tmp_path):
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump/pg_restore not installed")
    # Ledger data through the product: a chain, a signed deal recognised, one cancelled (reversed).
    a = world.operating_consultant(name="甲")
    b = world.operating_consultant(name="乙", inviter_code=a.invite_code)
    project = world.project()
    world.commission_rule(project)
    world.split_policy()
    for price in (300_000_000, 420_000_000):
        phone = world.next_buyer_phone()
        world.register(b, project, phone=phone)
        deal = world.deal(project, phone, price_cents=price)
        world.stage(deal["id"], "signed")
    cancelled = client.post(f"/admin/api/v1/deals/{deal['id']}/cancel", json={"reason": "客户退房"},
                            headers=world.staff_auth("finance"))
    assert cancelled.status_code == 200, cancelled.get_json()
    before = ledger_facts(database_url)
    assert before["transactions"] >= 3 and before["sum"] == 0 and before["unbalanced"] == 0

    dump = tmp_path / "estate.dump"
    subprocess.run(["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", libpq_url(database_url)],
                   check=True, capture_output=True, timeout=300)
    server = make_url(database_url)
    restored_name = f"ep_restore_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{restored_name}"'))
    restored = server.set(database=restored_name).render_as_string(hide_password=False)
    try:
        result = subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={libpq_url(restored)}",
                                 str(dump)], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        after = ledger_facts(restored)
        assert after == before
        assert after["sum"] == 0 and after["unbalanced"] == 0
        # The restored database still enforces the ledger: an unbalanced transaction is refused.
        engine = create_engine(restored)
        try:
            with pytest.raises(DBAPIError):
                with engine.begin() as connection:
                    account = connection.execute(text("SELECT account_id FROM ledger_postings LIMIT 1")).scalar()
                    txn = connection.execute(text(
                        "INSERT INTO ledger_transactions (idempotency_key, kind, description, actor_type, created_at) "
                        "VALUES ('restore-check', 'adjustment', 'x', 'system', now()) RETURNING id")).scalar()
                    connection.execute(text("INSERT INTO ledger_postings (transaction_id, account_id, amount_cents, memo) "
                                            "VALUES (:t, :a, 1, 'x')"), {"t": txn, "a": account})
        finally:
            engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{restored_name}" WITH (FORCE)'))
        admin.dispose()
