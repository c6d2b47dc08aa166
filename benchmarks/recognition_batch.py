#!/usr/bin/env python
"""Benchmark: the commission-recognition batch against a raw bulk insert of the same rows.

One run, one fresh database:

1. make ``bench_recognition_<pid>`` on the given PostgreSQL server (or a temp SQLite
   file), apply the schema with ``estate_platform.migrate.upgrade`` (alembic);
2. build a synthetic network with bulk loads (COPY on PostgreSQL, multi-row core
   inserts on SQLite): consultants with an invite forest, status histories and
   signatures, buyers, projects, rules, the default split policy, binding
   registrations, due deals, handoff and 老带新 edges;
3. in a fresh child process (so its peak RSS is the measurement's, not the
   build's): time ``recognise_due`` on a plain ``sqlalchemy.orm.Session``, committing
   after every chunk; check the ledger sums to zero and that re-running posts
   nothing; then insert the very rows the batch wrote into fresh plain copies of
   the ledger tables (no triggers, no foreign keys, no CHECK constraints), 1000
   transactions per commit, with (a) core executemany (insertmanyvalues), (b) unnest
   arrays (``db.bulk_insert``, the ledger's statements before it sent legs by COPY),
   (c) multi-row VALUES, and COPY for information;
   best of ``--raw-rounds`` rounds each, in rotated order;
4. print the comparison against the FASTEST of (a)-(c) and drop the database
   (``--keep`` keeps it).

    .venv/bin/python benchmarks/recognition_batch.py \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres --scale 0.05
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from array import array
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import (Column, Index, MetaData, Table, create_engine, func, insert, select,  # noqa: E402
                        text)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from estate_platform import models  # noqa: E402,F401  (complete metadata)
from estate_platform.clock import end_of_local_day, local_date  # noqa: E402
from estate_platform.commissions import pricing  # noqa: E402
from estate_platform.commissions import services as commissions  # noqa: E402
from estate_platform.commissions.models import SplitPolicyVersion  # noqa: E402
from estate_platform.db import Base, UtcDateTime, bulk_insert  # noqa: E402
from benchmarks._measure import log, max_rss_mb, proc_status_mb, process_cpu, reset_peak_rss  # noqa: E402

TARGET_RATIO = 0.3
DEFAULT_SIZES = {"consultants": 100_000, "buyers": 1_000_000, "deals": 100_000}
PROJECTS, DEVELOPERS = 50, 10
INVITED_SHARE = 0.70
SUSPENDED_SHARE, UNSIGNED_SHARE = 0.015, 0.015  # ~3% not operating before their deals
HANDOFF_SHARE, BUYER_REFERRAL_SHARE = 0.10, 0.05
DEAL_WINDOW_DAYS = 60
POLICY = {"platform_fee_bps": 1000, "referral_bps": 2000, "upline_l1_bps": 1000, "upline_l2_bps": 500,
          "max_upline_levels": 2, "buyer_referral_reward_cents": 50_000}


def naive(instant: datetime) -> datetime:
    return instant.astimezone(timezone.utc).replace(tzinfo=None)


# --- the database ---------------------------------------------------------------------

class Database:
    """A fresh database of our own: created here, dropped at the end unless kept."""

    def __init__(self, url: str):
        self.server_url = make_url(url)
        self.dialect = self.server_url.get_backend_name()
        self.tempdir = None
        if self.dialect == "postgresql":
            self.name = f"bench_recognition_{os.getpid()}"
            self.url = self.server_url.set(database=self.name)
        elif self.dialect == "sqlite":
            self.tempdir = tempfile.mkdtemp(prefix="bench_recognition_")
            self.name = os.path.join(self.tempdir, f"bench_recognition_{os.getpid()}.sqlite")
            self.url = make_url(f"sqlite:///{self.name}")
        else:
            raise SystemExit(f"unsupported database {self.dialect!r} (PostgreSQL or SQLite)")
        self.url_string = self.url.render_as_string(hide_password=False)

    def _admin(self):
        return create_engine(self.server_url, isolation_level="AUTOCOMMIT")

    def create(self) -> None:
        if self.dialect == "postgresql":
            admin = self._admin()
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}"'))
                connection.execute(text(f'CREATE DATABASE "{self.name}"'))
            admin.dispose()

    def drop(self) -> None:
        if self.dialect == "postgresql":
            admin = self._admin()
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            admin.dispose()
        elif self.tempdir:
            shutil.rmtree(self.tempdir, ignore_errors=True)


class Loader:
    """Bulk loads of synthetic rows: COPY on PostgreSQL, multi-row core inserts on SQLite.
    Rows are tuples in ``columns`` order, datetimes naive UTC (as stored)."""

    def __init__(self, engine):
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"

    def load(self, table: str, columns: tuple[str, ...], rows) -> int:
        started = time.perf_counter()
        count = 0
        if self.postgres:
            raw = self.engine.raw_connection()
            try:
                with raw.cursor() as cursor:
                    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                            count += 1
                    cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                   f"(SELECT COALESCE(MAX(id), 1) FROM {table}))")
                raw.commit()
            finally:
                raw.close()
        else:
            model_table = Base.metadata.tables[table]
            aware = [isinstance(model_table.c[name].type, UtcDateTime) for name in columns]
            statement = insert(model_table)
            chunk: list[dict] = []
            with self.engine.begin() as connection:
                for row in rows:
                    chunk.append({name: (value.replace(tzinfo=timezone.utc) if is_aware and value is not None
                                         else value) for name, value, is_aware in zip(columns, row, aware)})
                    if len(chunk) == 10_000:
                        connection.execute(statement, chunk)
                        count += len(chunk)
                        chunk = []
                if chunk:
                    connection.execute(statement, chunk)
                    count += len(chunk)
        log(f"  {table}: {count:,} rows in {time.perf_counter() - started:.1f}s")
        return count


# --- the synthetic network ---------------------------------------------------------------

def build(engine, sizes: dict[str, int], seed: int, now: datetime) -> dict:
    """Load the network; returns a description of its shape for the report."""
    rng = random.Random(seed)
    loader = Loader(engine)
    n_c, n_b, n_d = sizes["consultants"], sizes["buyers"], sizes["deals"]
    today = local_date(now)
    sha = hashlib.sha256(b"bench agreement v1").hexdigest()
    published = naive(now - timedelta(days=500))

    # Consultants: created 400..100 days ago in id order; approved (active) a day later.
    start, span = now - timedelta(days=400), timedelta(days=300).total_seconds()
    created = [naive(start + timedelta(seconds=span * i / n_c)) for i in range(n_c + 1)]  # index = id
    created[0] = None
    not_operating = rng.sample(range(1, n_c + 1), int(n_c * (SUSPENDED_SHARE + UNSIGNED_SHARE)))
    suspended = set(not_operating[:int(n_c * SUSPENDED_SHARE)])
    unsigned = set(not_operating[int(n_c * SUSPENDED_SHARE):])
    suspended_at = naive(now - timedelta(days=DEAL_WINDOW_DAYS + 20))

    log(f"building {n_c:,} consultants, {n_b:,} buyers, {n_d:,} deals")
    loader.load("wechat_users", ("id", "openid", "token_version", "created_at"),
                ((i, f"bench-openid-{i}", 0, created[i]) for i in range(1, n_c + 1)))
    kinds = ("independent", "store", "company")
    loader.load("consultants", ("id", "wechat_user_id", "name", "phone", "city", "kind", "company_name", "status",
                                "invite_code", "rating", "created_at", "updated_at", "approved_at"),
                ((i, i, f"顾问{i}", f"+86139{i:08d}", "上海", kinds[i % 3],
                  None if i % 3 == 0 else f"门店{i % 997}", "suspended" if i in suspended else "active",
                  f"C{i:07d}", 80, created[i], created[i], created[i] + timedelta(days=1))
                 for i in range(1, n_c + 1)))

    def status_events():
        for i in range(1, n_c + 1):
            yield (None, i, None, "pending", "注册", "consultant", i, created[i])
            yield (None, i, "pending", "active", "审核通过", "system", None, created[i] + timedelta(days=1))
            if i in suspended:
                yield (None, i, "active", "suspended", "违规暂停", "system", None, suspended_at)

    event_id = iter(range(1, 10 * n_c + 1))
    loader.load("consultant_status_events", ("id", "consultant_id", "from_status", "to_status", "reason",
                                             "actor_type", "actor_id", "created_at"),
                ((next(event_id),) + row[1:] for row in status_events()))
    loader.load("agreement_versions", ("id", "version", "title", "text", "sha256", "published_at"),
                [(1, 1, "顾问合作协议 v1", "（基准测试协议文本）", sha, published)])
    loader.load("agreement_signatures", ("id", "consultant_id", "agreement_version_id", "version", "text_sha256",
                                         "signed_at", "ip", "user_agent"),
                ((i, i, 1, 1, sha, created[i] + timedelta(hours=2), "10.0.0.1", "bench")
                 for i in range(1, n_c + 1) if i not in unsigned))

    # Invite forest: ~70% have an inviter among the earlier consultants.
    inviter = array("i", [0]) * (n_c + 1)
    depth = array("i", [0]) * (n_c + 1)
    for i in range(2, n_c + 1):
        if rng.random() < INVITED_SHARE:
            parent = rng.randint(1, i - 1)
            inviter[i] = parent
            depth[i] = depth[parent] + 1
    loader.load("consultant_invites", ("id", "inviter_id", "invitee_id", "valid_from"),
                ((n, inviter[i], i, created[i]) for n, i in
                 enumerate((i for i in range(2, n_c + 1) if inviter[i]), start=1)))

    loader.load("buyers", ("id", "phone", "name", "token_version", "created_at"),
                ((i, f"+86138{i:08d}", f"客户{i}", 0, naive(now - timedelta(days=400, seconds=-i)))
                 for i in range(1, n_b + 1)))

    loader.load("developers", ("id", "name", "contact_name", "contact_phone", "created_at"),
                [(d, f"开发商{d}", f"联系人{d}", f"+86137{d:08d}", published) for d in range(1, DEVELOPERS + 1)])
    loader.load("projects", ("id", "developer_id", "name", "city", "district", "address", "description",
                             "price_min_cents", "price_max_cents", "status", "protection_mode",
                             "visit_window_hours", "deal_window_hours", "phone_disclosure",
                             "daily_buyer_project_limit", "reregister_cooldown_hours", "attribution_window_days",
                             "remind_before_hours", "created_at", "updated_at"),
                [(p, (p - 1) % DEVELOPERS + 1, f"楼盘{p}", "上海", "浦东", f"路{p}号", None, 150_000_000,
                  900_000_000, "on_sale", "report_visit_deal", 720, 2160, "first3_last4", 3, 72, 30, 72,
                  published, published) for p in range(1, PROJECTS + 1)])

    # One rate rule per project and the platform default split policy, a year old.
    effective_from = today - timedelta(days=365)
    rules, rule_snapshots = {}, {}
    for p in range(1, PROJECTS + 1):
        terms = pricing.RuleTerms(basis="rate", rate_bps=150 + (p * 37) % 200, trigger="signed",
                                  payment_terms_days=(30, 60, 90)[p % 3])
        rules[p] = terms
        rule_snapshots[p] = commissions.canonical({**terms.as_dict(), "rule_id": p,
                                                   "effective_from": effective_from.isoformat(),
                                                   "text": f"按成交价 {terms.rate_bps / 100:g}% 结佣"})
    loader.load("commission_rules", ("id", "project_id", "effective_from", "basis", "rate_bps", "fixed_cents",
                                     "tier_metric", "trigger", "payment_terms_days", "text", "created_at"),
                [(p, p, effective_from, "rate", t.rate_bps, None, None, t.trigger, t.payment_terms_days,
                  f"按成交价 {t.rate_bps / 100:g}% 结佣", published) for p, t in rules.items()])
    policy = SplitPolicyVersion(id=1, project_id=None, effective_from=effective_from, created_at=now, **POLICY)
    policy_snapshot = commissions.canonical(commissions.policy_snapshot(policy))
    loader.load("split_policies", ("id", "project_id", "effective_from", "platform_fee_bps", "referral_bps",
                                   "max_upline_levels", "upline_l1_bps", "upline_l2_bps",
                                   "buyer_referral_reward_cents", "created_at"),
                [(1, None, effective_from, POLICY["platform_fee_bps"], POLICY["referral_bps"],
                  POLICY["max_upline_levels"], POLICY["upline_l1_bps"], POLICY["upline_l2_bps"],
                  POLICY["buyer_referral_reward_cents"], published)])

    # Deals, as compact columns: one distinct buyer each, consultants skewed to the
    # early (well-connected) ones, subscribed in the last 60 days, signed since (due).
    deal_buyers = rng.sample(range(1, n_b + 1), n_d)
    buyer_set = set(deal_buyers)
    project = array("i", (rng.randint(1, PROJECTS) for _ in range(n_d)))
    consultant = array("i", (1 + int(n_c * rng.random() ** 2) for _ in range(n_d)))
    subscribed = array("i", (rng.randint(0, DEAL_WINDOW_DAYS - 1) for _ in range(n_d)))  # days before today
    signed = array("i", (max(0, s - rng.randint(0, 14)) for s in subscribed))
    registered_before = array("i", (rng.randint(1, 30 * 24) for _ in range(n_d)))  # hours before subscribed day
    price = array("q", (rng.randint(1_500_000, 9_000_000) * 100 for _ in range(n_d)))
    handoff_from = array("i", [0]) * n_d
    buyer_referrer = array("i", [0]) * n_d
    for d in range(n_d):
        if rng.random() < HANDOFF_SHARE:
            source = consultant[d]
            while source == consultant[d]:
                source = rng.randint(1, n_c)
            handoff_from[d] = source
        if rng.random() < BUYER_REFERRAL_SHARE:
            source = deal_buyers[d]
            while source in buyer_set:
                source = rng.randint(1, n_b)
            buyer_referrer[d] = source
    del buyer_set

    def registered_at(d: int) -> datetime:
        day = today - timedelta(days=subscribed[d])
        return naive(end_of_local_day(day - timedelta(days=1))) - timedelta(hours=registered_before[d] - 1)

    loader.load("registrations", ("id", "project_id", "buyer_id", "consultant_id", "buyer_name", "status",
                                  "binding", "protection_mode", "protected_until", "referrer_consultant_id",
                                  "created_at", "updated_at"),
                ((d + 1, project[d], deal_buyers[d], consultant[d], f"客户{deal_buyers[d]}", "visited", True,
                  "report_visit_deal", registered_at(d) + timedelta(days=90), handoff_from[d] or None,
                  registered_at(d), registered_at(d)) for d in range(n_d)))

    def deal_rows():
        units: dict[int, int] = defaultdict(int)
        for d in range(n_d):
            p = project[d]
            k = units[p]
            units[p] += 1
            sub_day = today - timedelta(days=subscribed[d])
            signed_day = today - timedelta(days=signed[d])
            recorded = naive(end_of_local_day(sub_day)) - timedelta(hours=6)
            terms = rules[p]
            yield (d + 1, p, d + 1, deal_buyers[d], consultant[d], f"{k // 200 + 1}栋{(k % 200) // 4 + 1:02d}"
                   f"{k % 4 + 1:02d}", price[d], sub_day, "signed", signed_day, signed_day,
                   signed_day + timedelta(days=terms.payment_terms_days), p, rule_snapshots[p], 1, policy_snapshot,
                   pricing.rate_amount(price[d], terms.rate_bps), 0, False, recorded, recorded)

    loader.load("deals", ("id", "project_id", "registration_id", "buyer_id", "consultant_id", "unit", "price_cents",
                          "subscribed_on", "stage", "signed_on", "trigger_reached_on", "due_on", "rule_id",
                          "rule_snapshot", "policy_id", "policy_snapshot", "commission_cents", "lines_version",
                          "recognised", "created_at", "updated_at"), deal_rows())

    def edge_rows():
        n = 0
        for d in range(n_d):
            if handoff_from[d]:
                n += 1
                yield (n, "handoff", "consultant", handoff_from[d], "consultant", consultant[d], deal_buyers[d],
                       project[d], registered_at(d) - timedelta(hours=2))
            if buyer_referrer[d]:
                n += 1
                yield (n, "buyer_referral", "buyer", buyer_referrer[d], "buyer", deal_buyers[d], None, None,
                       registered_at(d) - timedelta(days=5))

    loader.load("referral_edges", ("id", "kind", "source_type", "source_id", "target_type", "target_id",
                                   "buyer_id", "project_id", "valid_from"), edge_rows())

    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE"))
        connection.commit()
    invited = sum(1 for i in range(1, n_c + 1) if inviter[i])
    depths = sorted(depth[1:])
    return {"consultants": n_c, "buyers": n_b, "deals": n_d, "projects": PROJECTS, "developers": DEVELOPERS,
            "invited_share": invited / n_c, "max_invite_depth": depths[-1],
            "median_invite_depth": depths[len(depths) // 2],
            "not_operating": len(suspended) + len(unsigned),
            "deals_by_not_operating": sum(1 for c in consultant if c in suspended or c in unsigned),
            "handoffs": sum(1 for s in handoff_from if s), "buyer_referrals": sum(1 for s in buyer_referrer if s)}


# --- the measurement (runs in a child process) -------------------------------------------

# The transaction columns the ledger writes (all but id), in the order of its unnest statement.
TXN_COLUMNS = ("idempotency_key", "kind", "description", "deal_id", "actor_type", "actor_id", "created_at")
POSTING_COLUMNS = ("transaction_id", "account_id", "amount_cents", "memo")
# The raw methods: the three candidate baselines (the fastest one is THE baseline), then COPY (information only).
RAW_METHODS = {
    "executemany": "(a) core executemany (insertmanyvalues)",
    "unnest": "(b) unnest arrays (db.bulk_insert)",
    "values": "(c) multi-row VALUES (old ledger)",
    "copy": "(info) COPY, ids from nextval",
}
BASELINE_METHODS = ("executemany", "unnest", "values")
POSTGRES_ONLY = ("unnest", "copy")


def raw_tables(session: Session, prefix: str) -> tuple[Table, Table]:
    """Plain copies of ledger_transactions / ledger_postings: same columns, defaults and
    indexes; no triggers, no foreign keys, no CHECK constraints."""
    metadata = MetaData()
    copies = []
    for source, name in (("ledger_transactions", f"{prefix}_transactions"),
                         ("ledger_postings", f"{prefix}_postings")):
        original = Base.metadata.tables[source]
        copies.append(Table(name, metadata, *[Column(c.name, c.type, primary_key=c.primary_key,
                                                     nullable=c.nullable) for c in original.columns]))
    raw_txn, raw_post = copies
    if session.get_bind().dialect.name == "postgresql":
        for source, table in (("ledger_transactions", raw_txn), ("ledger_postings", raw_post)):
            session.execute(text(f"CREATE TABLE {table.name} (LIKE {source} INCLUDING DEFAULTS INCLUDING INDEXES)"))
            # Own id sequence (LIKE would share the ledger's).
            session.execute(text(f"CREATE SEQUENCE {table.name}_id_seq OWNED BY {table.name}.id"))
            session.execute(text(f"ALTER TABLE {table.name} ALTER COLUMN id SET DEFAULT "
                                 f"nextval('{table.name}_id_seq')"))
        # Prove it: nothing but the copied indexes (and NOT NULL) on them.
        extras = session.scalar(text(
            "SELECT (SELECT COUNT(*) FROM pg_trigger WHERE tgrelid IN (CAST(:t AS regclass), CAST(:p AS regclass)))"
            " + (SELECT COUNT(*) FROM pg_constraint WHERE conrelid IN (CAST(:t AS regclass), CAST(:p AS regclass))"
            "    AND contype IN ('f', 'c'))"), {"t": raw_txn.name, "p": raw_post.name})
        if extras:
            raise RuntimeError(f"{prefix}_*: {extras} triggers / FK / CHECK constraints, expected none")
    else:
        Index(f"uq_{raw_txn.name}_idempotency_key", raw_txn.c.idempotency_key, unique=True)
        Index(f"ix_{raw_txn.name}_deal_id", raw_txn.c.deal_id)
        Index(f"ix_{raw_post.name}_account_id", raw_post.c.account_id)
        Index(f"ix_{raw_post.name}_transaction_id", raw_post.c.transaction_id)
        metadata.create_all(session.connection())
    session.commit()
    return raw_txn, raw_post


def drop_raw_tables(session: Session, raw_txn: Table, raw_post: Table) -> None:
    session.execute(text(f"DROP TABLE {raw_post.name}"))
    session.execute(text(f"DROP TABLE {raw_txn.name}"))
    session.commit()


def prepare_transactions(method: str, txns: list[tuple]):
    """One chunk's transaction rows (tuples in TXN_COLUMNS order, created_at aware) in the
    shape the method sends them. Done before the clock starts: a loader has its rows."""
    if method in ("executemany", "values", "unnest"):
        return [dict(zip(TXN_COLUMNS, row)) for row in txns]
    if method == "copy":
        return [row[:6] + (naive(row[6]),) for row in txns]
    raise ValueError(method)


def raw_insert(session: Session, method: str, chunks: list, raw_txn: Table, raw_post: Table) -> dict:
    """Insert the chunks' rows (1000 transactions and their postings per commit) with one method:

    - ``executemany``: ``session.execute(insert … ON CONFLICT DO NOTHING RETURNING, [rows])``
      (SQLAlchemy's insertmanyvalues: compiled once, cached, pages of 1000 rows), then
      ``session.execute(insert(postings), [rows])`` (no RETURNING: with psycopg 3 SQLAlchemy
      passes the list to ``cursor.executemany``, which pipelines one prepared INSERT per row);
    - ``unnest``: the ledger's ``db.bulk_insert``: ``INSERT … SELECT … FROM unnest(CAST(:x AS …[]))``,
      columns sent as arrays (PostgreSQL);
    - ``values``: one multi-row ``INSERT … VALUES … ON CONFLICT DO NOTHING RETURNING`` of the
      transactions, one multi-row ``INSERT … VALUES`` of their postings (the old ledger);
    - ``copy``: reserve the chunk's ids with ``nextval``, COPY the transactions with them, COPY
      the postings (PostgreSQL; information only: no RETURNING, no ON CONFLICT).
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    dialect_insert = postgresql.insert if postgres else sqlite.insert
    txn_statement = dialect_insert(raw_txn).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(
        raw_txn.c.id, raw_txn.c.idempotency_key)
    posting_statement = insert(raw_post)
    prepared = [(prepare_transactions(method, txns), legs) for txns, legs in chunks]
    checkpoint(session)
    started = time.perf_counter()
    for txn_params, legs in prepared:
        if method == "copy":
            cursor = session.connection().connection.driver_connection.cursor()
            ids = [row[0] for row in cursor.execute(
                f"SELECT nextval('{raw_txn.name}_id_seq') FROM generate_series(1, {len(txn_params)})")]
            new_ids = {}
            with cursor.copy(f"COPY {raw_txn.name} (id, {', '.join(TXN_COLUMNS)}) FROM STDIN") as copy:
                for txn_id, row in zip(ids, txn_params):
                    copy.write_row((txn_id,) + row)
                    new_ids[row[0]] = txn_id
            with cursor.copy(f"COPY {raw_post.name} ({', '.join(POSTING_COLUMNS)}) FROM STDIN") as copy:
                for key, posting_legs in legs:
                    txn_id = new_ids[key]
                    for account_id, amount, memo in posting_legs:
                        copy.write_row((txn_id, account_id, amount, memo))
            cursor.close()
        elif method == "unnest":  # the ledger's own helper (estate_platform.db.bulk_insert)
            new_ids = {key: txn_id for txn_id, key in bulk_insert(
                session, raw_txn, txn_params, conflict_do_nothing=("idempotency_key",),
                returning=("id", "idempotency_key"))}
            bulk_insert(session, raw_post, [
                {"transaction_id": new_ids[key], "account_id": account_id, "amount_cents": amount, "memo": memo}
                for key, posting_legs in legs for account_id, amount, memo in posting_legs])
        else:
            if method == "executemany":
                new_ids = {key: txn_id for txn_id, key in session.execute(txn_statement, txn_params)}
            else:
                new_ids = {key: txn_id for txn_id, key in session.execute(txn_statement.values(txn_params))}
            rows = [{"transaction_id": new_ids[key], "account_id": account_id, "amount_cents": amount, "memo": memo}
                    for key, posting_legs in legs for account_id, amount, memo in posting_legs]
            if method == "executemany":
                session.execute(posting_statement, rows)
            else:
                session.execute(posting_statement.values(rows))
        session.commit()
    seconds = time.perf_counter() - started
    del prepared
    return {"seconds": seconds, **fingerprint(session, raw_txn.name, raw_post.name)}


def fingerprint(session: Session, transactions: str, postings: str) -> dict:
    """Counts and sums that change if a posting is lost, altered or attached to the wrong transaction."""
    row = session.execute(text(
        f"SELECT (SELECT COUNT(*) FROM {transactions}), COUNT(*), COALESCE(SUM(p.amount_cents), 0),"
        f" COALESCE(SUM(p.amount_cents * (t.deal_id % 997)), 0), COALESCE(SUM(p.account_id * (t.deal_id % 997)), 0),"
        f" COUNT(DISTINCT t.idempotency_key), COALESCE(SUM(LENGTH(p.memo)), 0)"
        f" FROM {postings} p JOIN {transactions} t ON t.id = p.transaction_id")).one()
    session.commit()
    return {"transactions": int(row[0]), "postings": int(row[1]), "sum": int(row[2]),
            "signature": [int(v) for v in row[3:]]}


class CpuMeter:
    """What else used the CPU: all busy time on the machine (``/proc/stat``) minus this
    process and its database backends (every backend of the benchmark's own database: the
    session's, and the batch's read-ahead connection), and the processes that used most of it
    (``/proc/<pid>/stat``, those alive at both samples), to tell whether another job competed for
    the cores."""

    def __init__(self, session: Session):
        self.tick = os.sysconf("SC_CLK_TCK")
        self.session = session
        self.backend = None
        if session.get_bind().dialect.name == "postgresql":
            self.backend = session.scalar(text("SELECT pg_backend_pid()"))
            session.commit()

    def _backends(self) -> set[int]:
        if self.backend is None:
            return set()
        pids = set(self.session.scalars(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")))
        self.session.commit()
        return pids

    def _processes(self) -> dict[int, tuple[float, str]]:
        return {pid: (cpu, command) for pid, (cpu, _, command) in process_cpu().items()}

    def sample(self) -> tuple | None:
        try:
            with open("/proc/stat") as stat:
                values = [int(v) for v in stat.readline().split()[1:9]]
        except OSError:
            return None
        busy = (sum(values) - values[3] - values[4]) / self.tick  # all but idle and iowait
        return time.perf_counter(), busy, self._processes(), self._backends()

    def other(self, before: tuple | None, after: tuple | None) -> dict | None:
        """Average cores kept busy by others between two samples, and the busiest other processes."""
        if before is None or after is None or after[0] <= before[0]:
            return None
        wall = after[0] - before[0]
        backends = before[3] | after[3]
        ours = {os.getpid()} | backends
        # A backend that started in between (the read-ahead's) counts whole.
        own_each = {pid: after[2][pid][0] - (before[2][pid][0] if pid in before[2] else 0.0)
                    for pid in ours if pid in after[2]}
        own = sum(own_each.values())
        others = (after[1] - before[1]) - own
        used = [(cpu - before[2][pid][0] if pid in before[2] else cpu, pid,
                 command if pid in before[2] else f"(started in between) {command}")
                for pid, (cpu, command) in after[2].items() if pid not in ours]
        busiest = sorted(used, reverse=True)[:3]
        # What processes that both started and ended in between used (e.g. short test runs).
        vanished = max(0.0, others - sum(cpu for cpu, _, _ in used if cpu > 0))
        return {"wall": wall, "other_cores": max(0.0, others) / wall, "load": os.getloadavg(),
                # This run's own work, which the others' load barely changes (side-by-side comparisons).
                "own_python": own_each.get(os.getpid(), 0.0),
                "own_database": sum(own_each.get(pid, 0.0) for pid in backends),
                "backends": len(backends),
                "busiest": [(round(cpu, 1), pid, command[:80]) for cpu, pid, command in busiest if cpu >= 1.0],
                "vanished": vanished}


def checkpoint(session: Session) -> None:
    """Flush the build's (or the batch's) dirty pages now, not during the next timing."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("CHECKPOINT"))
    session.commit()


def measure(url: str, chunk_size: int, profile: bool, use_tracemalloc: bool, profile_limit: int,
            raw_rounds: int, read_ahead: bool = True) -> dict:
    from estate_platform.deals import batch as recognition_batch, notices, recognition
    from estate_platform.deals.models import Deal
    from estate_platform.ledger import services as ledger
    from estate_platform.ledger.models import LedgerTransaction, Posting

    engine = create_engine(url)
    result: dict = {"dialect": engine.dialect.name}
    session = Session(engine)
    now = datetime.now(timezone.utc)
    due = recognition_batch.count_due(session)
    result["due"] = due
    checkpoint(session)
    log(f"measuring: {due:,} deals due, chunk {chunk_size}")

    chunks_done = [0, 0]
    started = time.perf_counter()

    def progress(n: int) -> None:
        chunks_done[0] += 1
        chunks_done[1] += n
        if chunks_done[0] % 10 == 0 or chunks_done[1] == due:
            elapsed = time.perf_counter() - started
            log(f"  batch: {chunks_done[1]:,}/{due:,} deals, {elapsed:.1f}s ({chunks_done[1] / elapsed:,.0f} deals/s)")

    profiler = None
    if profile:
        import cProfile
        profiler = cProfile.Profile()
    if use_tracemalloc:
        import tracemalloc
        tracemalloc.start()
    meter = CpuMeter(session)
    result["load_before"] = os.getloadavg()
    result["ru_maxrss_before_mb"] = max_rss_mb()
    result["rss_before_mb"] = proc_status_mb("VmRSS")
    result["peak_reset"] = reset_peak_rss()
    cpu_before = meter.sample()
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    posted = recognition_batch.recognise_due(session, now=now, chunk_size=chunk_size, progress=progress,
                                       after_chunk=session.commit, read_ahead=read_ahead)
    session.commit()
    if profiler:
        profiler.disable()
    result["batch_seconds"] = time.perf_counter() - started
    result["batch_cpu"] = meter.other(cpu_before, meter.sample())
    result["batch_backend_stable"] = meter.backend is None or meter.backend == session.scalar(
        text("SELECT pg_backend_pid()"))
    result["ru_maxrss_after_mb"] = max_rss_mb()
    result["peak_mb"] = proc_status_mb("VmHWM")
    if use_tracemalloc:
        result["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    result["posted"] = posted
    # What the outbox drain does next, outside the batch (tasks.drain_outbox): the batch's notices,
    # released by its last statement, become one notification per consultant.
    result["notices"] = session.scalar(text("SELECT COUNT(*) FROM commission_notices"))
    result["notices_held"] = session.scalar(text("SELECT COUNT(*) FROM commission_notices "
                                                 "WHERE held_for IS NOT NULL"))
    started = time.perf_counter()
    while notices.fan_out(session, now=now)[0]:
        session.commit()
    result["fan_out_seconds"] = time.perf_counter() - started
    result["notices_left"] = session.scalar(text("SELECT COUNT(*) FROM commission_notices"))
    result["consultants_paid"] = session.scalar(text(
        "SELECT COUNT(DISTINCT party_id) FROM commission_lines WHERE party_type = 'consultant'"))
    result["transactions"] = session.scalar(select(func.count()).select_from(LedgerTransaction))
    result["postings"] = session.scalar(select(func.count()).select_from(Posting))
    result["commission_lines"] = session.scalar(text("SELECT COUNT(*) FROM commission_lines"))
    result["notifications"] = session.scalar(text("SELECT COUNT(*) FROM notifications"))
    result["accounts"] = session.scalar(text("SELECT COUNT(*) FROM ledger_accounts"))
    result["recognised_deals"] = session.scalar(select(func.count()).select_from(Deal).where(Deal.recognised))
    result["ledger_total"] = ledger.total(session)
    result["unbalanced"] = len(ledger.unbalanced_transactions(session))
    session.commit()
    if profiler:
        import io
        import pstats
        dump = os.path.join(tempfile.gettempdir(), f"recognition_batch_{os.getpid()}.prof")
        profiler.dump_stats(dump)
        for order in ("cumulative", "tottime"):
            buffer = io.StringIO()
            pstats.Stats(profiler, stream=buffer).strip_dirs().sort_stats(order).print_stats(profile_limit)
            print(f"\n===== cProfile of recognise_due, by {order} =====\n{buffer.getvalue()}", file=sys.stderr)
        result["profile_file"] = dump

    # Idempotency: the batch again (nothing is due), then the deals of the first chunk
    # pushed through recognise() directly, past the due filter: their keys exist, nothing posts.
    started = time.perf_counter()
    result["second_posted"] = recognition_batch.recognise_due(session, now=now, chunk_size=chunk_size,
                                                        after_chunk=session.commit)
    session.commit()
    result["second_seconds"] = time.perf_counter() - started
    deals = list(session.scalars(select(Deal).order_by(Deal.id).limit(chunk_size)))
    for deal in deals:  # as they were before the batch (same version, same key), in memory only
        set_committed_value(deal, "lines_version", deal.lines_version - 1)
        set_committed_value(deal, "recognised", False)
    started = time.perf_counter()
    result["forced_deals"] = len(deals)
    result["forced_posted"] = recognition.recognise(session, deals, now=now)
    result["forced_seconds"] = time.perf_counter() - started
    session.rollback()  # forget the in-memory lines_version values
    result["postings_after_reruns"] = session.scalar(select(func.count()).select_from(Posting))
    session.close()

    # The raw baselines: the same rows into tables without triggers or foreign keys.
    session = Session(engine)
    table = LedgerTransaction.__table__
    if {c.name for c in table.columns} != {"id", *TXN_COLUMNS}:
        raise RuntimeError("ledger_transactions has other columns than the benchmark copies: update TXN_COLUMNS")
    transactions = session.execute(select(table.c.id, *[table.c[name] for name in TXN_COLUMNS])
                                   .order_by(table.c.id)).all()
    legs: dict[int, list[tuple]] = defaultdict(list)
    for transaction_id, account_id, amount_cents, memo in session.execute(
            select(Posting.transaction_id, Posting.account_id, Posting.amount_cents, Posting.memo)
            .order_by(Posting.id)):
        legs[transaction_id].append((account_id, amount_cents, memo))
    chunks = []
    for start in range(0, len(transactions), chunk_size):
        chunk = transactions[start:start + chunk_size]
        chunks.append(([tuple(row[1:]) for row in chunk], [(row.idempotency_key, legs[row.id]) for row in chunk]))
    del transactions, legs
    result["ledger_fingerprint"] = fingerprint(session, "ledger_transactions", "ledger_postings")
    methods = [m for m in RAW_METHODS if result["dialect"] == "postgresql" or m not in POSTGRES_ONLY]
    runs: dict[str, list[dict]] = {m: [] for m in methods}
    meter = CpuMeter(session)
    before = meter.sample()
    for round_ in range(raw_rounds):
        order = methods[round_ % len(methods):] + methods[:round_ % len(methods)]  # rotate: no fixed position
        for method in order:
            tables = raw_tables(session, f"bench_raw_{method}_{round_}")
            run = raw_insert(session, method, chunks, *tables)
            drop_raw_tables(session, *tables)
            runs[method].append(run)
            log(f"raw {method} (round {round_ + 1}/{raw_rounds}): {run['seconds']:.2f}s")
    result["raw_cpu"] = meter.other(before, meter.sample())
    result["raw_backend_stable"] = meter.backend is None or meter.backend == session.scalar(
        text("SELECT pg_backend_pid()"))
    result["raw_runs"] = runs
    result["raw_rounds"] = raw_rounds
    session.close()
    engine.dispose()
    result["rss_end_mb"] = max_rss_mb()
    return result


# --- the report --------------------------------------------------------------------------

def describe_cpu(label: str, cpu: dict | None, cores: int) -> list[str]:
    if not cpu:
        return [f"  {label}: (no /proc: not measured)"]
    busy = cpu["other_cores"] >= 0.25
    lines = [f"  {label}: other processes kept {cpu['other_cores']:.2f} of {cores} cores busy on average over "
             f"{cpu['wall']:.0f}s; load average {' / '.join(f'{v:.2f}' for v in cpu['load'])} (1/5/15 min) at its end"
             + ("  <- MACHINE BUSY: timings are pessimistic" if busy else "")]
    lines.append(f"      this run's own CPU: {cpu['own_python'] + cpu['own_database']:.2f} s "
                 f"(Python {cpu['own_python']:.2f} s + database {cpu['own_database']:.2f} s in "
                 f"{cpu.get('backends', 1)} backend{'s' if cpu.get('backends', 1) != 1 else ''})")
    for seconds, pid, command in cpu["busiest"]:
        lines.append(f"      {seconds:>7.1f} CPU s  pid {pid}  {command}")
    if cpu.get("vanished", 0) >= 1.0:
        lines.append(f"      {cpu['vanished']:>7.1f} CPU s  processes that started and ended in between")
    return lines


def report(db: Database, shape: dict, build_seconds: float, r: dict, args) -> bool:
    rate = (lambda postings, seconds: postings / seconds if seconds else 0.0)
    batch_rate = rate(r["postings"], r["batch_seconds"])
    best = {method: min(runs, key=lambda run: run["seconds"]) for method, runs in r["raw_runs"].items()}
    baseline = min((m for m in BASELINE_METHODS if m in best), key=lambda m: best[m]["seconds"])
    raw_rate = rate(best[baseline]["postings"], best[baseline]["seconds"])
    ratio = batch_rate / raw_rate if raw_rate else 0.0
    reference = r["ledger_fingerprint"]
    checks = {
        "every due deal recognised": r["recognised_deals"] == r["due"] == r["posted"],
        "one transaction per deal": r["transactions"] == r["posted"],
        "sum of all postings = 0": r["ledger_total"] == 0,
        "no unbalanced transaction": r["unbalanced"] == 0,
        "the batch's notices released": r["notices_held"] == 0 and r["notices"] > 0,
        "one notification per consultant": r["notifications"] == r["consultants_paid"] and r["notices_left"] == 0,
        "second recognise_due posts 0": r["second_posted"] == 0,
        "forced re-post posts 0": r["forced_posted"] == 0 and r["postings_after_reruns"] == r["postings"],
        "raw copies = the ledger's rows": reference["postings"] == r["postings"] and all(
            run == {**reference, "seconds": run["seconds"]} for runs in r["raw_runs"].values() for run in runs),
    }
    verdict = "PASS" if ratio >= TARGET_RATIO else "BELOW TARGET"
    if r["dialect"] != "postgresql":
        verdict += " (the target is set for PostgreSQL)"
    if args.profile or args.tracemalloc:
        verdict += " (profiled/traced run: timings inflated, ratio not valid)"
    where = db.name if r["dialect"] == "postgresql" else "temp SQLite file"
    rounds = r["raw_rounds"]
    lines = [
        "",
        f"Commission-recognition batch vs raw bulk insert — {r['dialect']}, database {where}",
        f"network: {shape['consultants']:,} consultants ({shape['invited_share']:.0%} invited, invite depth median "
        f"{shape['median_invite_depth']}, max {shape['max_invite_depth']}; {shape['not_operating']:,} not operating "
        f"before the deals), {shape['buyers']:,} buyers, {shape['deals']:,} deals over {shape['projects']} projects "
        f"of {shape['developers']} developers",
        f"         {shape['handoffs']:,} deals with a handoff referrer, {shape['buyer_referrals']:,} with a 老带新 "
        f"referrer, {shape['deals_by_not_operating']:,} served by a non-operating consultant; built in "
        f"{build_seconds:.1f}s",
        f"batch: recognise_due(chunk_size={args.chunk_size}, read_ahead={args.read_ahead}) on a plain Session, "
        "commit after every chunk (as the task and the CLI run it)",
        "",
        f"  {'deals recognised':<40}{r['posted']:>12,}",
        f"  {'transactions':<40}{r['transactions']:>12,}",
        f"  {'postings':<40}{r['postings']:>12,}",
        f"  {'commission lines / notices':<40}{r['commission_lines']:>12,} / {r['notices']:,}   (a notice per "
        f"chunk, held until the batch's last statement)",
        f"  {'ledger accounts':<40}{r['accounts']:>12,}",
        f"  {'batch seconds':<40}{r['batch_seconds']:>12.2f}",
        f"  {'batch postings/s':<40}{batch_rate:>12,.0f}",
        "",
        f"  raw inserts of the same {r['transactions']:,} transactions / {r['postings']:,} postings, "
        f"{args.chunk_size} transactions per commit, best of {rounds} round{'s' if rounds > 1 else ''}:",
        f"  {'method':<40}{'seconds':>12}{'postings/s':>13}{'batch/this':>12}",
    ]
    for method, label in RAW_METHODS.items():
        if method not in best:
            lines.append(f"  {label:<40}{'n/a':>12}   (PostgreSQL only)")
            continue
        run = best[method]
        this_rate = rate(run["postings"], run["seconds"])
        every = ", ".join(f"{x['seconds']:.2f}" for x in r["raw_runs"][method])
        mark = "  <- BASELINE (fastest of a-c)" if method == baseline else (
            "  information only, not a baseline" if method not in BASELINE_METHODS else "")
        lines.append(f"  {label:<40}{run['seconds']:>12.2f}{this_rate:>13,.0f}"
                     f"{(batch_rate / this_rate if this_rate else 0):>12.3f}{mark}"
                     + (f"   rounds: {every}" if rounds > 1 else ""))
    lines += [
        "",
        f"  {'ratio batch / fastest raw (postings/s)':<40}{ratio:>12.3f}   target >= {TARGET_RATIO}: {verdict}",
        f"  {'then the drain fans the notices out':<40}{r['fan_out_seconds']:>12.2f}   seconds: "
        f"{r['notifications']:,} notifications, one per consultant paid (tasks.drain_outbox, outside the batch)",
        f"  {'ratio with the fan-out counted':<40}"
        f"{rate(r['postings'], r['batch_seconds'] + r['fan_out_seconds']) / raw_rate if raw_rate else 0:>12.3f}"
        f"   (for information)",
    ]
    if r["peak_mb"] is not None and r["rss_before_mb"] is not None:
        lines.append(f"  {'peak RSS MB during the batch':<40}{r['peak_mb']:>12.1f}   RSS before the batch "
                     f"{r['rss_before_mb']:.1f}, delta {r['peak_mb'] - r['rss_before_mb']:.1f} (VmHWM"
                     f"{' reset before the batch' if r['peak_reset'] else ', not reset: peak since start'})")
    lines.append(f"  {'ru_maxrss MB before / after batch':<40}{r['ru_maxrss_before_mb']:>12.1f} / "
                 f"{r['ru_maxrss_after_mb']:.1f}   (high-water mark, inherited from the builder across exec; "
                 f"{r['rss_end_mb']:.0f} after the raw runs)")
    if "tracemalloc_peak_mb" in r:
        lines.append(f"  {'tracemalloc peak MB (batch)':<40}{r['tracemalloc_peak_mb']:>12.1f}")
    lines += [
        f"  {'sum of all postings':<40}{r['ledger_total']:>12,}   unbalanced transactions: {r['unbalanced']}",
        f"  {'second recognise_due':<40}{r['second_posted']:>12,}   posted in {r['second_seconds']:.3f}s",
        f"  {'forced re-post of first chunk':<40}{r['forced_posted']:>12,}   posted for {r['forced_deals']:,} "
        f"already-recognised deals in {r['forced_seconds']:.2f}s (recognise() past the due filter)",
        "",
        "machine load (this run: 1 Python process and its database's backends, the batch's read-ahead "
        "connection's among them; everything else counts as other):",
        *describe_cpu("during the batch", r["batch_cpu"], os.cpu_count() or 1),
        *describe_cpu("during the raw runs", r["raw_cpu"], os.cpu_count() or 1),
        "",
        "raw tables: bench_raw_<method>_<round>_transactions / _postings, fresh for every run, made with",
        "  CREATE TABLE … (LIKE ledger_… INCLUDING DEFAULTS INCLUDING INDEXES) and an own id sequence"
        if r["dialect"] == "postgresql" else
        "  the same columns and indexes (plain SQLite tables)",
        "  — NO triggers (balance / has-legs / immutability), NO foreign keys, NO CHECK constraints",
        "  (verified in pg_trigger / pg_constraint on PostgreSQL) —; a CHECKPOINT (PostgreSQL) before every",
        "  timed part. Transaction rows are in the method's shape before the clock starts; the posting rows",
        "  need the returned ids, so they are built inside it. Every method maps the returned ids to keys and",
        "  commits per chunk; each copy's rows are then checked against the ledger's (counts, sums, signature).",
        "  (a) session.execute(insert(t).on_conflict_do_nothing().returning(id, key), [dicts]): insertmanyvalues",
        "      (compiled once, pages of 1000 rows); then session.execute(insert(postings), [dicts]): without",
        *(["      RETURNING SQLAlchemy hands psycopg 3 the list (cursor.executemany, pipelined; insertmanyvalues",
           "      there measured no faster)"] if r["dialect"] == "postgresql" else
          ["      RETURNING SQLAlchemy hands sqlite3 the list (cursor.executemany)"]),
        "  (b) estate_platform.db.bulk_insert pointed at the raw tables: INSERT … SELECT … FROM",
        "      unnest(CAST(:x AS …[]), …), one statement per table per chunk, columns sent as arrays",
        "  (c) insert(t).values([...]) multi-row VALUES (… ON CONFLICT DO NOTHING RETURNING for the",
        "      transactions), compiled again whenever the row count changes",
        "  COPY: nextval() reserves the chunk's ids, COPY transactions with them, COPY postings. Not a",
        "      baseline: the ledger needs ON CONFLICT DO NOTHING RETURNING for its transactions' idempotency",
        "      (it sends their legs by COPY, and the balance trigger checks them).",
        "  The raw inserts read no deals, resolve no chains, split nothing, write no commission lines, update",
        "  no deals and notify no one, which the batch does.",
        "",
    ]
    for name, ok in checks.items():
        lines.append(f"  check: {name:<32}{'OK' if ok else 'FAILED'}")
    print("\n".join(lines), flush=True)
    return all(checks.values())


def sizes_of(args) -> dict[str, int]:
    return {name: max(10, int(round(getattr(args, name) * args.scale))) for name in DEFAULT_SIZES}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server (a fresh bench_recognition_<pid> database is made on it) "
                             "or any sqlite:// URL (a temp file is used)")
    for name, default in DEFAULT_SIZES.items():
        parser.add_argument(f"--{name}", type=int, default=default, help=f"default {default:,}")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the three sizes (e.g. 0.01)")
    parser.add_argument("--chunk-size", type=int, default=1000, help="recognise_due chunk size (default 1000)")
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the batch and print the hotspots to stderr (timings are inflated)")
    parser.add_argument("--profile-limit", type=int, default=35)
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also trace Python allocations during the batch (slows it: ratio not valid)")
    parser.add_argument("--raw-rounds", type=int, default=2,
                        help="rounds of the raw methods, order rotated each round; the best time of each counts "
                             "(default 2)")
    parser.add_argument("--read-ahead", action=argparse.BooleanOptionalAction, default=True,
                        help="recognise_due(read_ahead=...): plan the next chunk on a second connection while "
                             "the current one is written, as the task and the CLI do (default on)")
    parser.add_argument("--measure-url", help=argparse.SUPPRESS)  # internal: the child process
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.measure_url:
        result = measure(args.measure_url, args.chunk_size, args.profile, args.tracemalloc, args.profile_limit,
                         args.raw_rounds, args.read_ahead)
        Path(args.result_file).write_text(json.dumps(result))
        return 0

    from estate_platform.migrate import upgrade

    db = Database(args.database_url)
    sizes = sizes_of(args)
    log(f"database: {db.name} ({db.dialect})")
    db.create()
    ok = False
    try:
        started = time.perf_counter()
        upgrade(db.url_string)
        log(f"schema applied (alembic) in {time.perf_counter() - started:.1f}s")
        engine = create_engine(db.url)
        now = datetime.now(timezone.utc)
        started = time.perf_counter()
        shape = build(engine, sizes, args.seed, now)
        engine.dispose()
        build_seconds = time.perf_counter() - started
        log(f"network built in {build_seconds:.1f}s (peak RSS of the builder {max_rss_mb():.0f} MB)")

        with tempfile.NamedTemporaryFile(prefix="recognition_batch_", suffix=".json", delete=False) as handle:
            result_file = handle.name
        try:
            command = [sys.executable, os.path.abspath(__file__), "--measure-url", db.url_string,
                       "--result-file", result_file, "--chunk-size", str(args.chunk_size),
                       "--profile-limit", str(args.profile_limit), "--raw-rounds", str(args.raw_rounds)]
            command += ["--profile"] if args.profile else []
            command += [] if args.read_ahead else ["--no-read-ahead"]
            command += ["--tracemalloc"] if args.tracemalloc else []
            subprocess.run(command, check=True)
            result = json.loads(Path(result_file).read_text())
        finally:
            os.unlink(result_file)
        ok = report(db, shape, build_seconds, result, args)
    finally:
        if args.keep:
            log(f"kept: {db.url_string}")
        else:
            db.drop()
            log(f"dropped {db.name}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
