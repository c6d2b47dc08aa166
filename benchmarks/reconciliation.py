"""Reconciling a developer's sales list (销售台账对账) at full size, from file to stored results.

Builds, with COPY, a PostgreSQL database of 1M buyers and 1M registrations (600k of them in
the project the list is for, 400k in 19 others), 2,000 consultants and 45k platform deals
in that project; writes a 100k-row sales list of that project as XLSX and as GB18030 CSV (a
third of the phones masked, half 前三后四 and half 前四后三; whole numbers as number cells,
plain text, ``+86 138-…`` and full-width digits; one row in a thousand ``1.38E+10``; title
rows, a merged project column and a 合计 row in the XLSX). The list's rows, by design:

  45% buyers with a platform deal (2% of them at another price, 1% in another unit),
  0.5% buyers a binding registration protected on the sale date with no platform deal
  (跑单 / 撬单: each opens a dispute through ``disputes.open_dispute``), 10% buyers whose
  protection had ended before the sale, 44% phones the platform never saw, 0.1% unreadable.

Then, for each file, in a fresh child process on a fresh copy of the database (``CREATE
DATABASE … TEMPLATE``, so both files open the same disputes), after a CHECKPOINT:

* **reconciliation**: ``services.create_upload`` (type check, sniff, keep the file, the
  upload row) and ``services.run_upload`` (read every row, match in bulk, open the
  disputes, store every result row, progress per chunk, commit per chunk) on a plain
  Session: the time from the file's bytes to the stored results, and the peak RSS
  (VmHWM reset just before);
* **baseline**: the same file read with ``read_rows`` (every cell typed) and its rows
  COPYed into a plain table with no constraint or index, one commit.

It prints both times, the ratio, the counts per category and checks them against the
design; the last line is ``reconciliation N.N s``, the slower of the two files.

    .venv/bin/python benchmarks/reconciliation.py        # full size, PostgreSQL, ~3 minutes
    .venv/bin/python benchmarks/reconciliation.py --rows 10000 --registrations 100000
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from benchmarks._measure import log, max_rss_mb, proc_status_mb, reset_peak_rss  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
HEADERS = ["序号", "项目", "客户姓名", "联系电话", "房号", "成交总价（万元）", "签约日期", "成交渠道", "置业顾问", "备注"]
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
AGENCIES = ["链家", "贝壳找房", "我爱我家", "中原地产"]
DIRECT = ["自然到访", "自访", "案场", ""]
TARGET, PROJECTS, CONSULTANTS = 1, 20, 2_000
TARGET_NAME = "云栖府"
RULE_BPS = 200
K = 2_654_435_761  # odd and not a multiple of 5: i -> i*K mod 10^9 is one-to-one
BLOCK = 50


def phone_of(i: int) -> str:
    """Buyer i's national number (i < 10^9 is unique); numbers from 2*10^6 on are strangers'."""
    return f"1{3 + i % 7}{(i * K) % 10**9:09d}"


def naive(instant: datetime) -> datetime:
    return instant.astimezone(timezone.utc).replace(tzinfo=None)


# --- the database ------------------------------------------------------------------------------------

def admin_engine(url: str):
    return create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def _copy_rows(engine, table: str, columns: tuple[str, ...], rows) -> int:
    started, count = time.perf_counter(), 0
    raw = engine.raw_connection()
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
    log(f"  {table}: {count:,} rows in {time.perf_counter() - started:.1f}s")
    return count


def plan(rows: int, seed: int) -> list[dict]:
    """What each row of the list is about (the same for both files)."""
    rng = random.Random(seed)
    kinds = []
    for i in range(rows):
        roll = rng.random()
        if i % 1000 == 999:
            kind = "bad"
        elif roll < 0.45:
            kind = "deal"
        elif roll < 0.455:
            kind = "suspect"
        elif roll < 0.555:
            kind = "lapsed"
        else:
            kind = "stranger"
        kinds.append(kind)
    return kinds


def build(url: str, n_reg: int, rows: int, seed: int, now: datetime, load: bool = True) -> dict:
    """Buyers 1..n_reg, one registration each: 1..0.6n in the target project, created
    1..180 days ago and protected 30 days (expired when that has passed); 45k deals."""
    from estate_platform import migrate
    from estate_platform.clock import local_date

    rng = random.Random(seed)
    if load:
        migrate.upgrade(url)
    engine = create_engine(url)
    copy_rows = _copy_rows if load else (lambda *args: 0)
    today = local_date(now)
    in_target = int(n_reg * 0.6)
    published = naive(now - timedelta(days=500))
    copy_rows(engine, "wechat_users", ("id", "openid", "token_version", "created_at"),
              ((i, f"bench-openid-{i}", 0, published) for i in range(1, CONSULTANTS + 1)))
    copy_rows(engine, "consultants", ("id", "wechat_user_id", "name", "phone", "city", "kind", "status",
                                      "invite_code", "rating", "created_at", "updated_at"),
              ((i, i, f"顾问{i}", f"+86199{i:08d}", "杭州", "independent", "active", f"C{i:07d}", 80, published,
                published) for i in range(1, CONSULTANTS + 1)))
    copy_rows(engine, "developers", ("id", "name", "created_at"), [(d, f"开发商{d}", published) for d in range(1, 6)])
    names = {1: TARGET_NAME}
    copy_rows(engine, "projects", ("id", "developer_id", "name", "city", "status", "protection_mode",
                                   "visit_window_hours", "deal_window_hours", "created_at", "updated_at"),
              [(p, (p - 1) % 5 + 1, names.get(p, f"楼盘{p}"), "杭州", "on_sale", "report_visit_deal", 720, 2160,
                published, published) for p in range(1, PROJECTS + 1)])
    copy_rows(engine, "commission_rules", ("id", "project_id", "effective_from", "basis", "rate_bps", "trigger",
                                           "payment_terms_days", "created_at"),
              [(p, p, today - timedelta(days=365), "rate", RULE_BPS, "signed", 30, published)
               for p in range(1, PROJECTS + 1)])
    copy_rows(engine, "split_policies", ("id", "project_id", "effective_from", "platform_fee_bps", "referral_bps",
                                         "max_upline_levels", "upline_l1_bps", "upline_l2_bps",
                                         "buyer_referral_reward_cents", "created_at"),
              [(1, None, today - timedelta(days=365), 1000, 2000, 2, 1000, 500, 0, published)])
    copy_rows(engine, "staff_users", ("id", "username", "display_name", "password_hash", "role", "is_active",
                                      "token_version", "created_at"),
              [(1, "bench-ops", "运营", "x", "operations", True, 0, published)])
    copy_rows(engine, "buyers", ("id", "phone", "name", "token_version", "created_at"),
              ((i, "+86" + phone_of(i), f"客户{i}", 0, published) for i in range(1, n_reg + 1)))

    def days_ago(i: int) -> int:
        return 1 + (i * 7) % 180

    def registration_rows():
        for i in range(1, n_reg + 1):
            created = naive(now - timedelta(days=days_ago(i), hours=2))
            until = created + timedelta(days=30)
            expired = until < naive(now)
            project = TARGET if i <= in_target else 2 + i % (PROJECTS - 1)
            yield (i, project, i, 1 + i % CONSULTANTS, f"客户{i}", "expired" if expired else "reported",
                   not expired, "report_visit_deal", until, created, created, until if expired else None,
                   "protection_expired" if expired else None)

    copy_rows(engine, "registrations", ("id", "project_id", "buyer_id", "consultant_id", "buyer_name", "status",
                                        "binding", "protection_mode", "protected_until", "created_at", "updated_at",
                                        "ended_at", "end_reason"), registration_rows())
    # Who the list's rows are: target-project buyers with a deal, protected ones, lapsed ones.
    protected = [i for i in range(1, in_target + 1) if days_ago(i) <= 25]
    lapsed = [i for i in range(1, in_target + 1) if days_ago(i) >= 60]
    rng.shuffle(protected)
    rng.shuffle(lapsed)
    kinds = plan(rows, seed)
    with_deal = protected[:kinds.count("deal")]
    suspects = protected[len(with_deal):len(with_deal) + kinds.count("suspect")]
    lapsed = lapsed[:kinds.count("lapsed")]
    prices = {i: rng.randrange(80, 900) * 10_000 * 100 for i in with_deal}  # whole 万元, in cents
    snapshot = json.dumps({"basis": "rate", "rate_bps": RULE_BPS})

    def deal_rows():
        for n, i in enumerate(with_deal, start=1):
            created = naive(now - timedelta(days=1))
            yield (n, TARGET, i, i, 1 + i % CONSULTANTS, f"D{i}", prices[i], today - timedelta(days=1), "subscribed",
                   TARGET, snapshot, 1, "{}", prices[i] * RULE_BPS // 10_000, 0, False, created, created)

    copy_rows(engine, "deals", ("id", "project_id", "registration_id", "buyer_id", "consultant_id", "unit",
                                "price_cents", "subscribed_on", "stage", "rule_id", "rule_snapshot", "policy_id",
                                "policy_snapshot", "commission_cents", "lines_version", "recognised", "created_at",
                                "updated_at"), deal_rows())
    if load:
        with engine.connect() as connection:
            connection.execute(text("ANALYZE"))
            connection.commit()
    engine.dispose()
    return {"kinds": kinds, "with_deal": with_deal, "suspects": suspects, "lapsed": lapsed, "prices": prices,
            "in_target": in_target}


# --- the files ---------------------------------------------------------------------------------------

def list_rows(shape: dict, today: date, seed: int):
    """(kind, name, national phone or None, unit, price in 万元 as text, sale date, channel) per row."""
    rng = random.Random(seed + 1)
    pools = {name: iter(shape[key]) for name, key in (("deal", "with_deal"), ("suspect", "suspects"),
                                                      ("lapsed", "lapsed"))}
    stranger = 2_000_000
    for i, kind in enumerate(shape["kinds"]):
        if kind == "bad":
            yield kind, f"路人{i}", None, f"X{i}", "300", today - timedelta(days=1), "自访"
            continue
        if kind == "stranger":
            stranger += 1
            yield kind, f"路人{i}", phone_of(stranger), f"X{i}", str(rng.randrange(80, 900)), \
                today - timedelta(days=1), rng.choice(AGENCIES + DIRECT)
            continue
        buyer = next(pools[kind])
        if kind == "deal":
            price, unit = shape["prices"][buyer] // 1_000_000, f"D{buyer}"
            if i % 50 == 0:
                price += 5  # another price
            elif i % 101 == 0:
                unit = f"D{buyer}A"  # another unit
            yield kind, f"客户{buyer}", phone_of(buyer), unit, str(price), today - timedelta(days=1), \
                rng.choice(AGENCIES + DIRECT)
        elif kind == "suspect":
            yield kind, f"客户{buyer}", phone_of(buyer), f"S{buyer}", str(rng.randrange(80, 900)), today, \
                rng.choice(AGENCIES + DIRECT)
        else:
            yield kind, f"客户{buyer}", phone_of(buyer), f"L{buyer}", str(rng.randrange(80, 900)), \
                today - timedelta(days=1), rng.choice(AGENCIES + DIRECT)


def shape_phone(number: str | None, i: int, *, xlsx: bool):
    if number is None:
        return "1.38E+10"
    if i % 3 == 0:
        return number[:3] + "****" + number[-4:] if i % 2 else number[:4] + "****" + number[-3:]
    shape = i % 5
    if shape == 0 and xlsx:
        return int(number)
    if shape == 1:
        return f"+86 {number[:3]}-{number[3:7]}-{number[7:]}"
    if shape == 2:
        return number.translate(FULL_WIDTH)
    return number


def write_files(shape: dict, directory: Path, today: date, seed: int) -> dict:
    import xlsxwriter

    xlsx_path, csv_path = directory / "sales.xlsx", directory / "sales_gb18030.csv"
    rows = list(list_rows(shape, today, seed))
    workbook = xlsxwriter.Workbook(str(xlsx_path), {"constant_memory": True})
    sheet = workbook.add_worksheet("销售台账")
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    sheet.merge_range(0, 0, 0, len(HEADERS) - 1, f"{TARGET_NAME} 销售台账")
    sheet.write_row(1, 0, ["统计口径：网签", "", "", "", "", "", "", "", "", "制表：案场"])
    sheet.write_row(2, 0, HEADERS)
    with open(csv_path, "w", encoding="gb18030", newline="") as handle:
        out = csv.writer(handle, lineterminator="\r\n")
        out.writerow([f"{TARGET_NAME} 销售台账"])
        out.writerow(HEADERS)
        for i, (kind, name, number, unit, price, sold, channel) in enumerate(rows):
            r = i + 3
            if i % BLOCK == 0:
                last = min(r + BLOCK - 1, len(rows) + 2)
                if last > r:
                    sheet.merge_range(r, 1, last, 1, TARGET_NAME)
                else:
                    sheet.write_string(r, 1, TARGET_NAME)
            sheet.write_number(r, 0, i + 1)
            sheet.write_string(r, 2, name)
            phone = shape_phone(number, i, xlsx=True)
            if isinstance(phone, int):
                sheet.write_number(r, 3, phone)
            else:
                sheet.write_string(r, 3, phone)
            sheet.write_string(r, 4, unit)
            sheet.write_number(r, 5, int(price))
            sheet.write_datetime(r, 6, datetime(sold.year, sold.month, sold.day), date_format)
            sheet.write_string(r, 7, channel)
            sheet.write_string(r, 8, f"顾问{i % 37}")
            out.writerow([i + 1, TARGET_NAME, name, shape_phone(number, i, xlsx=False), unit, price, sold.isoformat(),
                          channel, f"顾问{i % 37}", ""])
        total = len(rows) + 3
        sheet.merge_range(total, 0, total, 4, "合计")
        out.writerow(["合计", "", "", "", "", "", "", "", "", ""])
    workbook.close()
    return {"xlsx": str(xlsx_path), "csv": str(csv_path)}


# --- the measurement (child process) ----------------------------------------------------------------

def measure(url: str, kind: str, path: str, storage: str) -> dict:
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from estate_platform import models  # noqa: F401
    from estate_platform.clock import local_date
    from estate_platform.db import utcnow
    from estate_platform.disputes.models import Dispute
    from estate_platform.identity.models import StaffUser
    from estate_platform.reconciliation import read_rows, sniff
    from estate_platform.reconciliation import services
    from estate_platform.reconciliation.reading import RowError

    import logging
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    engine = create_engine(url)
    content = Path(path).read_bytes()
    result = {"kind": kind, "file_mb": len(content) / 2**20}
    with engine.connect() as connection:
        connection.execute(text("CHECKPOINT"))
        connection.commit()

    # the baseline: read the same file (every cell typed) and COPY its rows into a plain table
    started = time.perf_counter()
    stream = read_rows(content, Path(path).name, sniff(content, Path(path).name).suggested)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            cursor.execute("CREATE TABLE bench_plain_rows (line integer, phones text, masked text, buyer_name text, "
                           "unit text, price_cents bigint, sale_date date, channel text, agency text, reason text)")
            with cursor.copy("COPY bench_plain_rows FROM STDIN") as copy:
                for item in stream:
                    if isinstance(item, RowError):
                        copy.write_row((item.line, None, None, None, None, None, None, None, None, item.reason_zh))
                    else:
                        copy.write_row((item.line, "/".join(item.phones), "/".join(m.text for m in item.masked),
                                        item.buyer_name, item.unit, item.price_cents, item.sale_date, item.channel,
                                        item.agency, None))
        raw.commit()
    finally:
        raw.close()
    result["baseline_s"] = time.perf_counter() - started
    with engine.connect() as connection:
        connection.execute(text("CHECKPOINT"))
        connection.commit()

    # the reconciliation, from the file's bytes to the stored results
    session = Session(engine)
    staff = session.get(StaffUser, 1)
    now = utcnow()
    result["rss_before_mb"] = proc_status_mb("VmRSS")
    result["peak_reset"] = reset_peak_rss()
    started = time.perf_counter()
    upload, created = services.create_upload(session, staff, project_id=TARGET, period_from=local_date(now) -
                                             timedelta(days=31), period_to=local_date(now), filename=Path(path).name,
                                             content=content, mapping=None, storage_dir=storage, now=now)
    session.commit()
    upload_id = upload.id
    del content
    done = services.run_upload(session, upload_id, storage_dir=storage, now=now, after_chunk=session.commit)
    session.commit()
    result["reconcile_s"] = time.perf_counter() - started
    result["peak_mb"] = proc_status_mb("VmHWM")
    result["ru_maxrss_mb"] = max_rss_mb()
    result.update(status=done.status, counts=done.counts, rows_total=done.rows_total,
                  disputes_opened=done.disputes_opened,
                  disputes=session.scalar(select(func.count()).select_from(Dispute)))
    session.close()
    engine.dispose()
    return result


def expected_counts(shape: dict) -> dict:
    kinds = shape["kinds"]
    deal_rows = [i for i, k in enumerate(kinds) if k == "deal"]
    price = sum(1 for i in deal_rows if i % 50 == 0)
    unit = sum(1 for i in deal_rows if i % 50 != 0 and i % 101 == 0)
    return {"ok": len(deal_rows) - price - unit, "price_mismatch": price, "unit_mismatch": unit,
            "suspects": kinds.count("suspect"), "unreadable": kinds.count("bad"),
            "unmatched": kinds.count("lapsed") + kinds.count("stranger")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL, help="a PostgreSQL server (a database is made on it)")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--registrations", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--reuse", metavar="DATABASE", help="a database kept by an earlier run (same sizes, seed and day)")
    parser.add_argument("--profile", action="store_true", help="cProfile the reconciliation (top functions to stderr)")
    parser.add_argument("--measure", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        if os.environ.get("BENCH_PROFILE"):
            import cProfile
            import pstats
            profiler = cProfile.Profile()
            result = profiler.runcall(measure, *args.measure)
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(45)
        else:
            result = measure(*args.measure)
        print(json.dumps(result))
        return 0

    from estate_platform.clock import local_date
    server = make_url(args.database_url)
    if server.get_backend_name() != "postgresql":
        raise SystemExit("this benchmark runs on PostgreSQL")
    base = args.reuse or f"bench_reconciliation_{os.getpid()}"
    admin = admin_engine(args.database_url)
    now = datetime.now(timezone.utc)
    databases = [] if args.reuse else [base]
    try:
        if not args.reuse:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{base}"'))
        url = server.set(database=base).render_as_string(hide_password=False)
        started = time.perf_counter()
        log(f"building {args.registrations:,} registrations in {base}" + (" (reused)" if args.reuse else ""))
        shape = build(url, args.registrations, args.rows, args.seed, now, load=not args.reuse)
        build_s = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as scratch:
            directory = Path(scratch)
            files = write_files(shape, directory, local_date(now), args.seed)
            log(f"files written; database built in {build_s:.0f}s")
            results = []
            for kind in ("xlsx", "csv"):
                copy_name = f"{base}_{kind}"
                databases.append(copy_name)
                with admin.connect() as connection:
                    connection.execute(text(f'CREATE DATABASE "{copy_name}" TEMPLATE "{base}"'))
                copy_url = server.set(database=copy_name).render_as_string(hide_password=False)
                log(f"reconciling the {kind} file in a fresh process on {copy_name}")
                done = subprocess.run([sys.executable, __file__, "--measure", copy_url, kind, files[kind],
                                       str(directory / f"storage_{kind}")], capture_output=True, text=True,
                                      env={**os.environ, **({"BENCH_PROFILE": "1"} if args.profile else {})})
                if args.profile:
                    print(done.stderr, file=sys.stderr)
                else:
                    for line in done.stderr.splitlines():
                        if line.startswith("reconciliation "):
                            log(f"  {kind}: {line}")
                if done.returncode:
                    print(done.stderr, file=sys.stderr)
                    raise SystemExit(f"the {kind} measurement failed")
                results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        if not args.keep:
            with admin.connect() as connection:
                for name in databases:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    expected = expected_counts(shape)
    ok = True
    print(f"Sales-list reconciliation: {args.rows:,} rows (a third of the phones masked) against "
          f"{args.registrations:,} registrations ({shape['in_target']:,} in the list's project), PostgreSQL")
    built = f"reused ({args.reuse})" if args.reuse else f"built with COPY in {build_s:.0f}s"
    print(f"  database {built}; each file on a fresh copy of it (CREATE DATABASE … TEMPLATE), after a CHECKPOINT")
    print(f"  {'file':<6}{'MB':>6}{'reconcile s':>13}{'baseline s':>12}{'ratio':>8}{'peak RSS MB':>13}"
          f"{'RSS before':>12}{'disputes':>10}")
    for r in results:
        print(f"  {r['kind']:<6}{r['file_mb']:>6.1f}{r['reconcile_s']:>13.1f}{r['baseline_s']:>12.1f}"
              f"{r['reconcile_s'] / r['baseline_s']:>8.1f}{r['peak_mb'] or 0:>13.0f}{r['rss_before_mb'] or 0:>12.0f}"
              f"{r['disputes_opened']:>10,}")
    for r in results:
        counts = r["counts"] or {}
        print(f"  {r['kind']} counts: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        got = {"ok": counts.get("ok"), "price_mismatch": counts.get("price_mismatch"),
               "unit_mismatch": counts.get("unit_mismatch"),
               "suspects": counts.get("jumped", 0) + counts.get("poached", 0),
               "unreadable": counts.get("unreadable"), "unmatched": counts.get("unmatched")}
        for name, value in expected.items():
            if got[name] != value:
                ok = False
                print(f"  CHECK FAILED: {r['kind']} {name} {got[name]} != expected {value}")
        if r["disputes"] != expected["suspects"] or r["status"] != "done" or counts.get("ambiguous"):
            ok = False
            print(f"  CHECK FAILED: {r['kind']} status {r['status']}, disputes {r['disputes']}, "
                  f"ambiguous {counts.get('ambiguous')}")
    print("  reconcile: create_upload (type check, sniff, keep the file) + run_upload (read, match in bulk, open the")
    print("    disputes, store every row with db.bulk_insert, commit per 10,000 rows); peak RSS: VmHWM reset before it")
    print("  baseline: read_rows over the same bytes (every cell typed) + COPY into a plain table, one commit")
    print("  checks: " + ("OK" if ok else "FAILED"))
    print(f"reconciliation {max(r['reconcile_s'] for r in results):.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
