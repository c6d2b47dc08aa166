#!/usr/bin/env python
"""Benchmark: one settlement batch for 50k consultants against a plain bulk insert of the same rows
(issue 12 §4).

1. make ``bench_settlement_<pid>`` on the PostgreSQL server, apply the schema (alembic);
2. seed N consultants (independents) with verified payout accounts past their 24-hour wait and
   an available balance (one ledger transaction each, through ``ledger.post_many``), a part of
   them owing clawbacks;
3. time the batch as finance runs it: ``prepare`` (selection, netting, withholding, items),
   ``approve`` by another user (the payout postings), ``send_batch`` through the local gateway
   (a transfer per item, the settled postings, committed per chunk): postings per second. Between
   prepare and approve, untimed, the items are marked as not first payouts to their accounts
   (the payees were paid before), so one approval releases them all;
4. re-run: a second ``prepare`` + ``send_batch`` must post nothing;
5. insert the very transaction and posting rows the batch wrote into plain copies of the ledger
   tables (no triggers, keys or checks), 1000 transactions per commit, by core executemany,
   ``unnest`` arrays and multi-row VALUES (best of ``--raw-rounds`` each, except that a way more
   than twice as slow as the fastest after its first round is not repeated; COPY shown for
   information) and print ``ratio batch/fastest plain insert X.XXX``.

    .venv/bin/python benchmarks/settlement.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from benchmarks._measure import analyze_like_autovacuum  # noqa: E402
from estate_platform import migrate  # noqa: E402
from estate_platform.adapters.stripe_connect import LocalPayoutGateway  # noqa: E402
from estate_platform.db import bulk_insert  # noqa: E402
from estate_platform.identity.models import StaffUser  # noqa: E402
from estate_platform.ledger import services as ledger  # noqa: E402
from estate_platform.ledger.models import LedgerTransaction, Posting  # noqa: E402
from estate_platform.settlement import batches, payouts  # noqa: E402
from estate_platform.settlement.models import PayoutAccount  # noqa: E402


def seed(engine, n: int, now: datetime) -> tuple[int, int]:
    with Session(engine) as session:
        staff = [StaffUser(username=f"finance-{i}", display_name=f"财务{i}", role="finance", password_hash="x",
                           created_at=now) for i in (1, 2)]
        session.add_all(staff)
        session.flush()
        verified = now - timedelta(days=2)
        for start in range(0, n, 10_000):
            bulk_insert(session, PayoutAccount.__table__, [
                {"party_type": "consultant", "party_id": p, "kind": "personal", "holder_name": f"顾问{p}",
                 "bank_name": "工商银行", "account_number_enc": "enc", "account_last4": f"{p % 10000:04d}",
                 "id_number_enc": "enc", "id_last4": "0000", "status": "verified", "gateway_account_id": None,
                 "created_at": verified, "verified_at": verified, "payable_from": verified + timedelta(hours=24),
                 "replaced_at": None} for p in range(start + 1, min(n, start + 10_000) + 1)])
        entries = []
        for p in range(1, n + 1):
            earned = 50_000 + (p * 7919) % 2_000_000
            legs = [ledger.Leg("consultant", p, "available", -earned), ledger.Leg("platform", 0, "revenue", earned)]
            if p % 10 == 0:
                legs += [ledger.Leg("consultant", p, "owes", earned // 20), ledger.Leg("platform", 0, "revenue",
                                                                                       -(earned // 20))]
            entries.append(ledger.Entry(f"seed-{p}", "commission_released", "种子数据", tuple(legs)))
        ledger.post_many(session, entries, now=verified)
        session.commit()
        return staff[0].id, staff[1].id


def run_batch(engine, maker_id: int, checker_id: int, now: datetime, key: str) -> dict:
    limits = batches.Limits(10_000, 10**10, 10**14)
    gateway = LocalPayoutGateway(None)
    with Session(engine) as session:
        before = session.execute(text("SELECT count(*) FROM ledger_postings")).scalar()
        started = time.perf_counter()
        batch, _ = batches.prepare(session, key=key, channel="gateway", staff=session.get(StaffUser, maker_id),
                                   limits=limits, now=now)
        session.commit()
        prepared = time.perf_counter()
        # Untimed: these payees were paid before, so one approval releases them all (a first payout
        # to a new account waits for a second approval by a third user, DESIGN §7.10).
        session.execute(text("UPDATE settlement_items SET first_to_account = false WHERE batch_id = :b"),
                        {"b": batch.id})
        session.commit()
        marked = time.perf_counter()
        if batch.status == "prepared":
            batches.approve(session, batch.id, session.get(StaffUser, checker_id), limits=limits, now=now)
        session.commit()
        approved = time.perf_counter()
        counts = payouts.send_batch(session, gateway, batch.id, now=now, chunk_size=2000, after_chunk=session.commit)
        session.commit()
        finished = time.perf_counter()
        after = session.execute(text("SELECT count(*) FROM ledger_postings")).scalar()
        return {"batch_id": batch.id, "items": batch.item_count, "postings": after - before, "counts": counts,
                "prepare_s": prepared - started, "approve_s": approved - marked, "send_s": finished - approved,
                "seconds": (prepared - started) + (finished - marked), "transfers": gateway.calls}


PLAIN = """
CREATE TABLE plain_transactions (id bigint, idempotency_key varchar(120), kind varchar(40), description text,
  deal_id integer, actor_type varchar(20), actor_id integer, created_at timestamp);
CREATE TABLE plain_postings (id bigint, transaction_id bigint, account_id integer, amount_cents bigint, memo text);
"""


def batch_rows(engine, batch_id: int):
    with engine.connect() as conn:
        txns = [dict(r._mapping) for r in conn.execute(text(
            "SELECT t.id, t.idempotency_key, t.kind, t.description, t.deal_id, t.actor_type, t.actor_id, t.created_at "
            "FROM ledger_transactions t WHERE t.idempotency_key LIKE :p ORDER BY t.id"),
            {"p": f"settlement-{batch_id}-%"})]
        postings = [dict(r._mapping) for r in conn.execute(text(
            "SELECT p.id, p.transaction_id, p.account_id, p.amount_cents, p.memo FROM ledger_postings p "
            "JOIN ledger_transactions t ON t.id = p.transaction_id WHERE t.idempotency_key LIKE :p ORDER BY p.id"),
            {"p": f"settlement-{batch_id}-%"})]
    return txns, postings


def plain_insert(engine, how: str, txns: list[dict], postings: list[dict]) -> float:
    from sqlalchemy import MetaData, Table
    meta = MetaData()
    t_table = Table("plain_transactions", meta, autoload_with=engine)
    p_table = Table("plain_postings", meta, autoload_with=engine)
    by_txn: dict[int, list[dict]] = {}
    for p in postings:
        by_txn.setdefault(p["transaction_id"], []).append(p)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE plain_transactions, plain_postings"))
    started = time.perf_counter()
    with engine.connect() as conn:
        for start in range(0, len(txns), 1000):
            chunk = txns[start:start + 1000]
            legs = [leg for t in chunk for leg in by_txn.get(t["id"], [])]
            if how == "executemany":
                conn.execute(insert(t_table), chunk)
                conn.execute(insert(p_table), legs)
            elif how == "values":
                conn.execute(insert(t_table).values(chunk))
                conn.execute(insert(p_table).values(legs))
            elif how == "unnest":
                with Session(bind=conn) as s:  # (a session on the connection: its commit commits)
                    for table, rows in ((t_table, chunk), (p_table, legs)):
                        bulk_insert(s, table, rows)
                    s.commit()
            elif how == "copy":
                raw = conn.connection.driver_connection
                with raw.cursor() as cur:
                    with cur.copy("COPY plain_transactions FROM STDIN") as copy:
                        for r in chunk:
                            copy.write_row(list(r.values()))
                    with cur.copy("COPY plain_postings FROM STDIN") as copy:
                        for r in legs:
                            copy.write_row(list(r.values()))
                raw.commit()  # past SQLAlchemy, which has no transaction of its own to commit here
            conn.commit()
    seconds = time.perf_counter() - started
    with engine.connect() as conn:  # every way must have committed every row it timed
        kept = conn.execute(text("SELECT (SELECT count(*) FROM plain_transactions), "
                                 "(SELECT count(*) FROM plain_postings)")).one()
    assert tuple(kept) == (len(txns), len(postings)), (how, tuple(kept))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--consultants", type=int, default=50_000)
    parser.add_argument("--raw-rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the first batch, print the top functions to stderr (ratio does not count)")
    args = parser.parse_args()
    server = make_url(args.database_url)
    name = f"bench_settlement_{os.getpid()}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name)
    try:
        url_text = url.render_as_string(hide_password=False)
        migrate.upgrade(url_text)
        engine = create_engine(url_text)
        now = datetime.now(timezone.utc)
        t = time.perf_counter()
        maker, checker = seed(engine, args.consultants, now)
        print(f"seeded {args.consultants} consultants with available balances in {time.perf_counter() - t:.1f} s")
        if analyze_like_autovacuum(url_text):  # untimed: production's autovacuum would have analyzed them
            print("autovacuum is off on this server: the seeded tables analyzed before the batch, as it would have")
        if args.profile:
            import cProfile
            import pstats
            profiler = cProfile.Profile()
            first = profiler.runcall(run_batch, engine, maker, checker, now, "bench-1")
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(
                "estate_platform", 30)
        else:
            first = run_batch(engine, maker, checker, now, "bench-1")
        rate = first["postings"] / first["seconds"]
        print(f"batch: {first['items']} items, {first['transfers']} transfers, {first['postings']} postings in "
              f"{first['seconds']:.2f} s (prepare {first['prepare_s']:.2f}, approve {first['approve_s']:.2f}, "
              f"send {first['send_s']:.2f}) = {rate:,.0f} postings/s; {first['counts']}")
        second = run_batch(engine, maker, checker, now + timedelta(minutes=1), "bench-2")
        print(f"second run: {second['items']} items, posted {second['postings']}")
        with engine.connect() as conn:
            total = conn.execute(text("SELECT COALESCE(SUM(amount_cents), 0) FROM ledger_postings")).scalar()
        print(f"ledger total {total} (must be 0)")
        txns, postings = batch_rows(engine, first["batch_id"])
        assert len(postings) == first["postings"], (len(postings), first["postings"])
        with engine.begin() as conn:
            for statement in PLAIN.strip().split(";"):
                if statement.strip():
                    conn.execute(text(statement))
        best: dict[str, float] = {}
        order = ["executemany", "unnest", "values", "copy"]
        for round_ in range(args.raw_rounds):
            for how in order[round_ % len(order):] + order[:round_ % len(order)]:
                others = [best[h] for h in best if h not in (how, "copy")]
                if how in best and others and best[how] > 2 * min(others):
                    continue  # far from the fastest after one round (multi-row VALUES: minutes at 50k): no repeat
                best[how] = min(best.get(how, float("inf")), plain_insert(engine, how, txns, postings))
        for how, seconds in best.items():
            print(f"plain insert ({how}): {len(postings)} postings + {len(txns)} transactions in {seconds:.2f} s = "
                  f"{len(postings) / seconds:,.0f} postings/s")
        fastest = min((h for h in best if h != "copy"), key=best.get)
        ratio = rate / (len(postings) / best[fastest])
        print(f"ratio batch/fastest plain insert ({fastest}) {ratio:.3f}")
        print(f"ratio batch/COPY (information) {rate / (len(postings) / best['copy']):.3f}")
        engine.dispose()
    finally:
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
