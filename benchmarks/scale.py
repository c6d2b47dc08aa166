#!/usr/bin/env python
"""Benchmark: the registration path (报备) at 10k and at 10M registrations (issue 16 §5).

One run, one throwaway PostgreSQL database (``bench_scale_<pid>``, dropped at the end unless
``--keep``):

1. apply the schema with alembic; seed developers, ``--projects`` projects on sale,
   ``--consultants`` operating consultants (active, signed the current agreement);
2. COPY the first ``--small`` registrations (two per buyer, in two projects; the last 30 days'
   open and binding, older ones expired) and their buyers; ANALYZE;
3. measure: ``--samples`` registrations through the real app (``wsgi.create_app``, the Flask
   test client, so every statement of the request runs), alternating a new buyer and a buyer
   already in the table (who may be refused: already registered, daily limit, cooldown, which
   are the same path); print p50/p95/p99 and the outcomes;
4. COPY the rest up to ``--rows`` (indexes dropped during the load and rebuilt after, foreign
   key triggers off for the load only: the rows are generated consistent), ANALYZE, measure again;
5. print ``EXPLAIN (ANALYZE, BUFFERS)`` of each SELECT (plain ``EXPLAIN`` of each INSERT) that two
   registrations run, a known buyer's and a new one's (captured with SQLAlchemy's
   ``before_cursor_execute`` and replayed in a transaction that is rolled back),
   then the ratio p99(large) / p99(small) against the target 1.2.

    .venv/bin/python benchmarks/scale.py --rows 10000000      # default; ~25 min here
    .venv/bin/python benchmarks/scale.py --rows 1000000

Check ``df -h`` first: 10M registrations and 5M buyers take about 6 GB with their indexes.
"""
from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, event, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

TARGET = 1.2
OPEN_DAYS = 30  # registrations younger than this are open (and binding); older ones expired
HISTORY_DAYS = 3 * 365
SECRET = "bench-scale-secret-key-that-is-long-enough-0123456789"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def naive(instant: datetime) -> str:
    return instant.astimezone(timezone.utc).replace(tzinfo=None).isoformat(sep=" ")


# --- the database -------------------------------------------------------------------------

class Database:
    def __init__(self, url: str):
        self.server_url = make_url(url)
        if self.server_url.get_backend_name() != "postgresql":
            raise SystemExit("scale.py needs PostgreSQL (COPY, EXPLAIN ANALYZE)")
        self.name = f"bench_scale_{os.getpid()}"
        self.url = self.server_url.set(database=self.name)
        self.url_string = self.url.render_as_string(hide_password=False)

    def _admin(self):
        return create_engine(self.server_url, isolation_level="AUTOCOMMIT")

    def create(self) -> None:
        admin = self._admin()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}"'))
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        admin.dispose()

    def drop(self) -> None:
        admin = self._admin()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        admin.dispose()


def copy_rows(engine, table: str, columns: tuple[str, ...], rows, *, batch: int = 50_000) -> int:
    """COPY text rows (tuples of str, None as \\N) in large writes."""
    count = 0
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")  # no FK triggers: rows are consistent
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                buffer = io.StringIO()
                for row in rows:
                    buffer.write("\t".join("\\N" if v is None else str(v) for v in row))
                    buffer.write("\n")
                    count += 1
                    if count % batch == 0:
                        copy.write(buffer.getvalue())
                        buffer = io.StringIO()
                copy.write(buffer.getvalue())
            cursor.execute("SET session_replication_role = origin")
        raw.commit()
    finally:
        raw.close()
    return count


def seed(engine, *, projects: int, consultants: int, now: datetime) -> None:
    """Developers, projects on sale and operating consultants (the fixed part of a city)."""
    import hashlib
    sha = hashlib.sha256(b"bench agreement").hexdigest()
    long_ago = naive(now - timedelta(days=HISTORY_DAYS + 30))
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO developers (id, name, created_at) VALUES (1, '开发商', :t)"),
                           {"t": long_ago})
        for p in range(1, projects + 1):
            connection.execute(text(
                "INSERT INTO projects (id, developer_id, name, city, status, created_at, updated_at) "
                "VALUES (:id, 1, :name, '南京', 'on_sale', :t, :t)"), {"id": p, "name": f"楼盘{p}", "t": long_ago})
        connection.execute(text(
            "INSERT INTO agreement_versions (id, version, title, text, sha256, published_at) "
            "VALUES (1, 1, '顾问合作协议', '（基准测试协议文本）', :sha, :t)"), {"sha": sha, "t": long_ago})
    copy_rows(engine, "wechat_users", ("id", "openid", "token_version", "created_at"),
              ((i, f"bench-openid-{i}", 0, long_ago) for i in range(1, consultants + 1)))
    copy_rows(engine, "consultants", ("id", "wechat_user_id", "name", "phone", "city", "kind", "status",
                                      "invite_code", "rating", "created_at", "updated_at", "approved_at"),
              ((i, i, f"顾问{i}", f"+86135{i:08d}", "南京", "independent", "active", f"S{i:07d}", 80,
                long_ago, long_ago, long_ago) for i in range(1, consultants + 1)))
    copy_rows(engine, "agreement_signatures", ("id", "consultant_id", "agreement_version_id", "version",
                                               "text_sha256", "signed_at", "ip", "user_agent"),
              ((i, i, 1, 1, sha, long_ago, "127.0.0.1", "bench") for i in range(1, consultants + 1)))
    with engine.begin() as connection:
        for table in ("developers", "projects", "agreement_versions", "wechat_users", "consultants",
                      "agreement_signatures"):
            connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                    f"(SELECT max(id) FROM {table}))"))


def buyer_phone(buyer_id: int) -> str:
    return f"+86138{buyer_id:08d}"


def registration_rows(start: int, end: int, *, projects: int, consultants: int, now: datetime, seed_: int):
    """Registrations ``start`` … ``end - 1`` (0-based): buyer ``i // 2 + 1``, his two in distinct
    projects, each by a different consultant; created uniformly over three years."""
    rng = random.Random(seed_ + start)
    for i in range(start, end):
        buyer = i // 2 + 1
        project = (buyer + 17 * (i % 2)) % projects + 1
        consultant = (i * 7919) % consultants + 1
        created = now - timedelta(seconds=rng.random() * HISTORY_DAYS * 86400)
        until = created + timedelta(days=OPEN_DAYS)
        if until > now:
            status, binding, ended = "reported", "t", None
        else:
            status, binding, ended = "expired", "f", naive(until)
        yield (i + 1, project, buyer, consultant, f"客户{buyer}", status, binding, "report_visit_deal",
               naive(until), naive(created), naive(created), ended, "protection_expired" if ended else None)


REGISTRATION_COLUMNS = ("id", "project_id", "buyer_id", "consultant_id", "buyer_name", "status", "binding",
                        "protection_mode", "protected_until", "created_at", "updated_at", "ended_at", "end_reason")


def load(engine, start: int, end: int, args, now: datetime) -> float:
    """Buyers and registrations for rows ``start`` … ``end``; indexes rebuilt around a big load."""
    started = time.perf_counter()
    big = end - start > 200_000
    dropped: list[str] = []
    if big:
        with engine.begin() as connection:
            for table in ("registrations", "buyers"):
                for name, definition in connection.execute(text(
                        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = :t AND indexname NOT IN "
                        "(SELECT conname FROM pg_constraint)"), {"t": table}):
                    connection.execute(text(f'DROP INDEX "{name}"'))
                    dropped.append(definition)
        log(f"dropped {len(dropped)} indexes for the load")
    first_buyer, last_buyer = start // 2 + 1, (end - 1) // 2 + 1
    if start % 2 == 1:
        first_buyer += 1  # his first registration was loaded with the previous part
    copy_rows(engine, "buyers", ("id", "phone", "name", "token_version", "created_at"),
              ((b, buyer_phone(b), f"客户{b}", 0, naive(now - timedelta(days=HISTORY_DAYS + 1)))
               for b in range(first_buyer, last_buyer + 1)))
    log(f"buyers {first_buyer:,} … {last_buyer:,} loaded")
    copy_rows(engine, "registrations", REGISTRATION_COLUMNS,
              registration_rows(start, end, projects=args.projects, consultants=args.consultants, now=now,
                                seed_=args.seed))
    log(f"registrations {start + 1:,} … {end:,} loaded ({time.perf_counter() - started:.0f}s)")
    if dropped:
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cursor:
                cursor.execute("SET maintenance_work_mem = '512MB'")
                for definition in dropped:
                    t0 = time.perf_counter()
                    cursor.execute(definition)
                    log(f"  {definition[:110]} ({time.perf_counter() - t0:.0f}s)")
            raw.commit()
        finally:
            raw.close()
    with engine.begin() as connection:  # rows the app makes take ids far above any loaded one
        for table in ("buyers", "registrations"):
            connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                    f"greatest(1000000000, (SELECT max(id) FROM {table})))"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE buyers"))
        connection.execute(text("VACUUM ANALYZE registrations"))
    return time.perf_counter() - started


# --- measuring ------------------------------------------------------------------------------

class Driver:
    """The real app in-process; one consultant token each."""

    def __init__(self, url: str, consultants: int):
        from estate_platform.security import issue_token
        from wsgi import create_app
        self.instance = tempfile.mkdtemp(prefix="bench_scale_")
        self.app = create_app({"TESTING": False}, env={
            "DATABASE_URL": url, "INSTANCE_PATH": self.instance, "SECRET_KEY": SECRET, "LOG_LEVEL": "WARNING"})
        self.client = self.app.test_client()
        import logging
        logging.getLogger("estate_platform.requests").setLevel(logging.WARNING)  # one line per request otherwise
        now = datetime.now(timezone.utc)
        self.tokens = [issue_token(SECRET, kind="wechat", subject_id=i, version=0, now=now,
                                   ttl_seconds=86400)[0] for i in range(1, consultants + 1)]
        self.new_phone = 13600000000

    def register(self, consultant: int, project: int, phone: str):
        return self.client.post("/api/mp/v1/registrations",
                                json={"project_id": project, "buyer_name": "测客", "buyer_phone": phone},
                                headers={"Authorization": f"Bearer {self.tokens[consultant - 1]}"})

    def measure(self, samples: int, loaded_buyers: int, args, seed_: int) -> dict:
        """Each request's wall time, and the time its statements spent in the database (the part the
        table's size can change; less disturbed by other processes on a shared machine)."""
        from estate_platform.db import db
        with self.app.app_context():
            engine = db.engine
        sql = [0.0]

        def before(conn, cursor, statement, parameters, context, executemany):
            conn.info["bench_started"] = time.perf_counter()

        def after(conn, cursor, statement, parameters, context, executemany):
            sql[0] += time.perf_counter() - conn.info.pop("bench_started", time.perf_counter())

        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        try:
            return self._measure(samples, loaded_buyers, args, seed_, sql)
        finally:
            event.remove(engine, "before_cursor_execute", before)
            event.remove(engine, "after_cursor_execute", after)

    def _measure(self, samples: int, loaded_buyers: int, args, seed_: int, sql: list) -> dict:
        rng = random.Random(seed_)
        timings, sql_timings, outcomes = [], [], {}
        for k in range(samples + args.warmup):
            if k % 2 == 0:
                self.new_phone += 1
                phone = str(self.new_phone)
            else:
                phone = buyer_phone(rng.randint(1, loaded_buyers))[3:]
            consultant = rng.randint(1, args.consultants)
            project = rng.randint(1, args.projects)
            sql[0] = 0.0
            started = time.perf_counter()
            response = self.register(consultant, project, phone)
            elapsed = (time.perf_counter() - started) * 1000
            in_sql = sql[0] * 1000
            if response.status_code >= 500:
                raise SystemExit(f"server error {response.status_code}: {response.get_data(as_text=True)[:300]}")
            if k >= args.warmup:
                timings.append(elapsed)
                sql_timings.append(in_sql)
                code = str(response.status_code) if response.status_code < 400 else response.get_json()["error"]["code"]
                outcomes[code] = outcomes.get(code, 0) + 1
        timings.sort()
        sql_timings.sort()
        return {"p50": timings[len(timings) // 2], "p95": timings[int(len(timings) * 0.95)],
                "p99": timings[int(len(timings) * 0.99)], "mean": statistics.fmean(timings),
                "sql_p50": sql_timings[len(sql_timings) // 2], "sql_p99": sql_timings[int(len(sql_timings) * 0.99)],
                "outcomes": outcomes}

    def explain(self, loaded_buyers: int) -> list[str]:
        """EXPLAIN (ANALYZE, BUFFERS) each statement of one registration of a known buyer, rolled back."""
        from estate_platform.db import db
        captured: list[tuple[str, object]] = []
        with self.app.app_context():
            engine = db.engine

        def grab(conn, cursor, statement, parameters, context, executemany):
            captured.append((statement, parameters))

        event.listen(engine, "before_cursor_execute", grab)
        try:
            self.register(1, 2, buyer_phone(loaded_buyers - 3)[3:])  # a known buyer, another project
            self.new_phone += 1
            self.register(2, 3, str(self.new_phone))
        finally:
            event.remove(engine, "before_cursor_execute", grab)
        out = []
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cursor:
                for statement, parameters in captured:
                    if not statement.lstrip().upper().startswith(("SELECT", "INSERT")):
                        continue
                    # An INSERT's plan only (ANALYZE would run it again: its unique keys are taken).
                    analyze = "ANALYZE, BUFFERS, " if statement.lstrip().upper().startswith("SELECT") else ""
                    cursor.execute(f"EXPLAIN ({analyze}COSTS OFF) " + statement, parameters)
                    plan = "\n".join("    " + r[0] for r in cursor.fetchall())
                    out.append(f"  {' '.join(statement.split())[:150]}…\n{plan}")
            raw.rollback()
        finally:
            raw.close()
        return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--rows", type=int, default=10_000_000, help="registrations at the large size")
    parser.add_argument("--small", type=int, default=10_000, help="registrations at the small size")
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--consultants", type=int, default=3000)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)

    from estate_platform.migrate import upgrade
    db = Database(args.database_url)
    log(f"database {db.name}; {args.small:,} then {args.rows:,} registrations")
    db.create()
    try:
        upgrade(db.url_string)
        engine = create_engine(db.url)
        now = datetime.now(timezone.utc)
        seed(engine, projects=args.projects, consultants=args.consultants, now=now)
        load(engine, 0, args.small, args, now)
        driver = Driver(db.url_string, args.consultants)
        small = driver.measure(args.samples, args.small // 2, args, args.seed)
        log(f"small: {small}")
        load_seconds = load(engine, args.small, args.rows, args, now)
        large = driver.measure(args.samples, args.rows // 2, args, args.seed + 1)
        log(f"large: {large}")
        plans = driver.explain(args.rows // 2)
        with engine.connect() as connection:
            size = connection.execute(text("SELECT pg_size_pretty(pg_total_relation_size('registrations')), "
                                           "pg_size_pretty(pg_database_size(current_database()))")).one()
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end (other processes share "
              f"the machine: compare the SQL times first)")
        print(f"registration path at {args.small:,} and {args.rows:,} registrations "
              f"({args.projects} projects, {args.consultants:,} consultants; load of the rest {load_seconds:.0f}s; "
              f"registrations {size[0]} with indexes, database {size[1]})")
        for label, r in (("small", small), ("large", large)):
            print(f"  {label:5}: p50 {r['p50']:.1f} ms  p95 {r['p95']:.1f} ms  p99 {r['p99']:.1f} ms  "
                  f"mean {r['mean']:.1f} ms | in SQL p50 {r['sql_p50']:.2f} ms  p99 {r['sql_p99']:.2f} ms | "
                  f"outcomes {r['outcomes']}")
        print("plans of the statements on the path (at the large size):")
        print("\n".join(plans))
        ratio = large["p99"] / small["p99"]
        print(f"p99 in SQL ratio large/small = {large['sql_p99'] / small['sql_p99']:.2f}")
        print(f"p99 ratio large/small = {ratio:.2f} (target ≤ {TARGET})")
        return 0 if ratio <= TARGET else 1
    finally:
        if not args.keep:
            db.drop()


if __name__ == "__main__":
    sys.exit(main())
