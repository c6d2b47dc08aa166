#!/usr/bin/env python
"""Benchmark: an XLSX export's memory stays flat as the row count grows (issue 13 §3).

1. make a database (a temporary SQLite file, or ``bench_exports_<pid>`` on the PostgreSQL
   server given) with the models' tables (``create_all``: the export only reads);
2. bulk-insert ``--rows`` ledger postings (balanced pairs between a consultant's and the
   platform's account), the first ``--small`` of them dated 2026-01-01, the rest 2026-01-02;
3. in fresh child processes (so each peak RSS is the export's own): a baseline that only
   imports and connects, the ``postings`` export filtered to the small day, and the whole
   export; each child writes the XLSX through ``estate_platform.exports.writer.export``
   (server-side cursor → XlsxWriter constant-memory → temporary file), reads the file size,
   and reports seconds and ``ru_maxrss``;
4. print the three and the growth of peak RSS from the small to the full export; drop the
   database.

    .venv/bin/python benchmarks/exports.py --rows 100000
    .venv/bin/python benchmarks/exports.py --rows 100000 \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from benchmarks._measure import max_rss_mb  # noqa: E402
from estate_platform import models  # noqa: E402,F401  (complete metadata)
from estate_platform.db import Base  # noqa: E402
from estate_platform.ledger.models import Account, LedgerTransaction, Posting  # noqa: E402

DAY1 = datetime(2026, 1, 1, 4, 0, tzinfo=timezone.utc)  # noon in Shanghai
DAY2 = datetime(2026, 1, 2, 4, 0, tzinfo=timezone.utc)
BATCH = 5000


def build(url: str, rows: int, small: int) -> None:
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.execute(insert(Account), [
            {"id": 1, "party_type": "consultant", "party_id": 1, "kind": "pending", "created_at": DAY1},
            {"id": 2, "party_type": "platform", "party_id": 0, "kind": "receivable", "created_at": DAY1}])
        for start in range(0, rows // 2, BATCH):
            ids = range(start + 1, min(start + BATCH, rows // 2) + 1)
            session.execute(insert(LedgerTransaction), [
                {"id": i, "idempotency_key": f"bench:{i}", "kind": "commission_recognised",
                 "description": f"基准测试交易 {i}：成交佣金确认", "deal_id": None, "actor_type": "system",
                 "actor_id": None, "created_at": DAY1 if 2 * i <= small else DAY2} for i in ids])
            session.execute(insert(Posting), [
                {"id": 2 * i - 1 + leg, "transaction_id": i, "account_id": 1 + leg,
                 "amount_cents": (12_345 + i) * (1 if leg else -1), "memo": None}
                for i in ids for leg in (0, 1)])
            session.commit()
    engine.dispose()


def child(url: str, mode: str) -> None:
    from estate_platform.exports import writer

    engine = create_engine(url)
    started = time.perf_counter()
    result = {"mode": mode}
    with Session(engine) as session:
        session.execute(text("SELECT 1"))
        if mode != "baseline":
            filters = {"to": "2026-01-01"} if mode == "small" else {}
            exported = writer.export(session, "postings", filters, now=datetime.now(timezone.utc))
            exported.handle.seek(0, os.SEEK_END)
            result.update(rows=exported.rows, xlsx_mb=round(exported.handle.tell() / 2**20, 2))
            exported.handle.close()
    result["seconds"] = round(time.perf_counter() - started, 2)
    result["peak_rss_mb"] = round(max_rss_mb(), 1)
    print(json.dumps(result))


def run_child(url: str, mode: str) -> dict:
    output = subprocess.run([sys.executable, __file__, "--child", mode, "--database-url", url], check=True,
                            capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="PostgreSQL server URL (default: a SQLite temp file)")
    parser.add_argument("--child", choices=("baseline", "small", "full"))
    args = parser.parse_args()
    if args.child:
        child(args.database_url, args.child)
        return
    workdir = tempfile.mkdtemp(prefix="bench-exports-")
    admin_url, url = None, f"sqlite:///{workdir}/bench.db"
    if args.database_url:
        admin_url = make_url(args.database_url)
        name = f"bench_exports_{os.getpid()}"
        with create_engine(admin_url, isolation_level="AUTOCOMMIT").connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = admin_url.set(database=name).render_as_string(hide_password=False)
    try:
        started = time.perf_counter()
        build(url, args.rows, args.small)
        backend = make_url(url).get_backend_name()
        print(f"built {args.rows} postings in {time.perf_counter() - started:.1f} s ({backend})")
        results = [run_child(url, mode) for mode in ("baseline", "small", "full")]
        for r in results:
            print(json.dumps(r, ensure_ascii=False))
        small, full = results[1], results[2]
        print(f"peak RSS: baseline {results[0]['peak_rss_mb']} MB, {small['rows']} rows {small['peak_rss_mb']} MB, "
              f"{full['rows']} rows {full['peak_rss_mb']} MB (+{full['peak_rss_mb'] - small['peak_rss_mb']:.1f} MB "
              f"for {full['rows'] - small['rows']} more rows); {full['rows'] / max(full['seconds'], 0.01):.0f} rows/s")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if admin_url is not None:
            with create_engine(admin_url, isolation_level="AUTOCOMMIT").connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
