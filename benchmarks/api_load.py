#!/usr/bin/env python
"""Benchmark: ``POST /api/mp/v1/registrations`` against a one-row insert, under load (issue 16 §1).

One run:

1. a fresh database ``bench_api_<pid>`` on the given PostgreSQL server, migrated (alembic),
   with the reference table; a Redis database of its own as the broker (flushed at the end);
2. 300 active consultants (applied, approved, agreement signed; made through the API
   in-process), 20 projects on sale and a history of ``--history`` registrations (default
   100,000: two per buyer in two projects, over three years, the last 30 days' open; COPY, as
   ``benchmarks/scale.py`` loads them), so that the tables are the size of a city's after months
   rather than empty: PostgreSQL plans a tiny table with sequential scans, and with this server's
   ``autovacuum = off`` such a plan would be kept while a run adds thousands of rows (a fresh
   database measured 0.39 in its first pair and 0.54-0.70 after, 3 December); every run
   registers for the first project;
3. gunicorn with N sync workers (default 4), ``APP_ENV=production`` (the HTTP adapters point
   at a loopback stub; nothing calls them on this path), ``BENCHMARK_REFERENCE_ROUTE=1``;
4. wrk, 32 connections: a warm-up of each, then alternating paired runs (registration, then
   reference; at least 5 pairs), each printed with req/s, p50, p99, errors and the CPU each request
   cost gunicorn's processes and the database's backends (``/proc``, a local server); last the
   medians of the per-pair ratios: ``ratio registration/reference = X.XX`` (throughput), the p99
   ratio, and the CPU-per-request ratio (what the throughput ratio would be if the two cores were
   the only limit; it wanders less than throughput when other jobs share the machine).

Every registration is a distinct buyer (the Lua script makes phones from the run, the wrk
thread and a counter) and the requests rotate over the 300 consultants' tokens.

    .venv/bin/python benchmarks/api_load.py            # defaults: 4 workers, 5 pairs of 10 s
    .venv/bin/python benchmarks/api_load.py --workers 4 --pairs 7 --duration 15
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from benchmarks._measure import (analyze_like_autovacuum, log, median, process_cpu,  # noqa: E402
                                 reference_database, timed)

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/12"
TARGET_THROUGHPUT, TARGET_P99 = 0.7, 1.5
PROJECTS = 20

LUA = r"""
-- Distinct buyers: phone = 13 + run (2 digits) + wrk thread (1 digit) + counter (6 digits).
local tokens = dofile("%(tokens)s")
local project_id = %(project_id)d
local run = %(run)d
local path = "%(path)s"
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  counter = 0
end

function request()
  counter = counter + 1
  local phone = string.format("13%%02d%%d%%06d", run %% 100, tid %% 10, counter)
  local token = tokens[((counter * 7 + tid * 13) %% #tokens) + 1]
  local body = string.format('{"project_id": %%d, "buyer_name": "周先生", "buyer_phone": "%%s"}', project_id, phone)
  return wrk.format("POST", path, {["Content-Type"] = "application/json",
                                   ["Authorization"] = "Bearer " .. token}, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  io.write(string.format('RESULT {"requests": %%d, "duration_us": %%d, "errors": %%d, "p50_us": %%d, "p99_us": %%d}\n',
    summary.requests, summary.duration, errors, latency:percentile(50), latency:percentile(99)))
end
"""


def seed(database_url: str, consultants: int, secret: str, instance: Path, *, projects: int = PROJECTS,
         history: int = 0) -> tuple[int, list[str]]:
    """Consultants made through the API in-process (as the mini-program would), ``projects`` projects
    and ``history`` earlier registrations by COPY (``load_history``); returns the first project's id."""
    from tests.conftest import World, make_app
    app = make_app(database_url, instance, SECRET_KEY=secret)
    app.config["SECRET_KEY"] = secret
    world = World(app, app.test_client())
    world.publish_agreement()
    tokens = []
    for i in range(consultants):
        tokens.append(world.operating_consultant(name=f"顾问{i:03d}").token)
        if (i + 1) % 50 == 0:
            log(f"  {i + 1} consultants")
    project = world.project(name="基准楼盘")
    for number in range(2, projects + 1):
        world.project(name=f"楼盘{number:02d}")
    from estate_platform.db import db
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if history:
        load_history(database_url, history, projects=projects, consultants=consultants)
    return project, tokens


def load_history(database_url: str, rows: int, *, projects: int, consultants: int) -> None:
    """``rows`` registrations of earlier buyers by COPY (``scale.load``: two per buyer in two of the
    projects, created over three years, the last 30 days' open and binding), then VACUUM ANALYZE.
    The seeded consultants and projects must be ids 1 … n, as ``scale.registration_rows`` numbers them."""
    from datetime import datetime, timezone
    from types import SimpleNamespace

    from benchmarks import scale
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            for table, count in (("consultants", consultants), ("projects", projects)):
                found = connection.execute(text(f"SELECT count(*), min(id), max(id) FROM {table}")).one()
                if tuple(found) != (count, 1, count):
                    raise SystemExit(f"history: {table} are not ids 1 … {count} ({tuple(found)})")
        with timed() as watch:
            scale.load(engine, 0, rows, SimpleNamespace(projects=projects, consultants=consultants, seed=16),
                       datetime.now(timezone.utc))
        log(f"history: {rows:,} registrations in {watch.seconds:.0f}s")
    finally:
        engine.dispose()


def wrk(base: str, path: str, script: Path, *, seconds: int, connections: int, threads: int) -> dict:
    result = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
                             "-s", str(script), base + path], capture_output=True, text=True, timeout=seconds + 120)
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk gave no result:\n{result.stdout}\n{result.stderr}")
    raw = json.loads(line[len("RESULT "):])
    return {"rps": raw["requests"] / (raw["duration_us"] / 1e6), "p50_ms": raw["p50_us"] / 1000,
            "p99_ms": raw["p99_us"] / 1000, "errors": raw["errors"], "requests": raw["requests"]}


def cpu_used(before: dict, after: dict, *, group: int, database: str) -> tuple[float, float]:
    """CPU seconds between two ``process_cpu`` readings of the app (gunicorn's process group: master
    and workers) and of the PostgreSQL backends connected to ``database`` (local server only: 0
    otherwise); a process that started in between counts whole."""
    app = db = 0.0
    for pid, (cpu, pgrp, command) in after.items():
        used = cpu - before[pid][0] if pid in before else cpu
        if pgrp == group:
            app += used
        elif command.startswith("postgres: ") and f" {database} " in f" {command} ":
            db += used
    return app, db


def cpu_per_request(result: dict) -> float:
    return result["app_cpu_ms"] + result["db_cpu_ms"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_PG, help="a PostgreSQL server (a fresh database is made)")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS, help="the broker: a Redis database of its own")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--consultants", type=int, default=300)
    parser.add_argument("--pairs", type=int, default=5, help="alternating paired runs (at least 5)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--history", type=int, default=100_000,
                        help="earlier registrations loaded before the runs (0: start from empty tables)")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args(argv)
    if args.pairs < 5:
        parser.error("--pairs must be at least 5")
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")

    os.environ["LOG_LEVEL"] = "WARNING"  # the in-process seeding's request lines would drown the report
    with reference_database(args.database_url, "bench_api", keep=args.keep) as database_url:
        return _measure(args, database_url)


def _measure(args, database_url: str) -> int:
    from tests.integration import stack

    server = make_url(database_url)
    workdir = Path(tempfile.mkdtemp(prefix="bench_api_"))
    stub = stack.ProviderStub()
    gunicorn = None
    try:
        log(f"seeding {args.consultants} consultants, {PROJECTS} projects, {args.history:,} earlier registrations")
        with timed() as watch:
            project, tokens = seed(database_url, args.consultants, stack.SECRET, workdir / "seeding",
                                   history=args.history)
        log(f"seeded in {watch.seconds:.0f}s")
        tokens_file = workdir / "tokens.lua"
        tokens_file.write_text("return {" + ",".join(f'"{t}"' for t in tokens) + "}\n")

        env = stack.production_env(database_url=database_url, broker_url=args.redis_url,
                                   instance=workdir / "instance", stub=stub)
        env.update({"BENCHMARK_REFERENCE_ROUTE": "1", "LOG_LEVEL": "WARNING"})
        port = stack.free_port()
        gunicorn = stack.gunicorn(env, port=port, workers=args.workers, log_path=workdir / "gunicorn.log")
        base = f"http://127.0.0.1:{port}"
        endpoints = {"registration": "/api/mp/v1/registrations", "reference": "/benchmark/reference"}

        def run(kind: str, number: int, seconds: int) -> dict:
            script = workdir / f"{kind}-{number}.lua"
            script.write_text(LUA % {"tokens": tokens_file, "project_id": project, "run": number,
                                     "path": endpoints[kind]})
            before = process_cpu()
            result = wrk(base, endpoints[kind], script, seconds=seconds, connections=args.connections,
                         threads=args.threads)
            app, db = cpu_used(before, process_cpu(), group=gunicorn.pid, database=server.database)
            requests = max(1, result["requests"])
            return {**result, "app_cpu_ms": app * 1000 / requests, "db_cpu_ms": db * 1000 / requests}

        log("warm-up")
        run("registration", 99, 3)
        run("reference", 99, 3)
        analyzing = analyze_like_autovacuum(database_url)
        if analyzing:
            log("autovacuum is off on this server: ANALYZE after the warm-up and after every run (untimed), "
                "as autovacuum does in production while the tables grow")
        print(f"gunicorn {args.workers} sync workers, wrk {args.connections} connections, {args.duration} s runs, "
              f"{args.consultants} consultants, {args.history:,} earlier registrations, "
              f"PostgreSQL {server.host}:{server.port}, {os.cpu_count()} cores")
        print(f"{'pair':<5}{'endpoint':<14}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
              f"{'app CPU ms/req':>16}{'db CPU ms/req':>15}")
        ratios, p99_ratios, cpu_ratios, figures = [], [], [], {"registration": [], "reference": []}
        for pair in range(1, args.pairs + 1):
            order = ("registration", "reference") if pair % 2 else ("reference", "registration")
            results = {}
            for kind in order:
                results[kind] = r = run(kind, pair, args.duration)
                if analyzing:
                    analyze_like_autovacuum(database_url)
                figures[kind].append(r)
                print(f"{pair:<5}{kind:<14}{r['rps']:>9.1f}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['errors']:>8}"
                      f"{r['app_cpu_ms']:>16.2f}{r['db_cpu_ms']:>15.2f}", flush=True)
            ratios.append(results["registration"]["rps"] / results["reference"]["rps"])
            cpu_ratios.append(cpu_per_request(results["reference"]) / cpu_per_request(results["registration"]))
            p99_ratios.append(results["registration"]["p99_ms"] / results["reference"]["p99_ms"])

        print(f"median registration: {median(r['rps'] for r in figures['registration']):.1f} req/s, "
              f"p99 {median(r['p99_ms'] for r in figures['registration']):.1f} ms; reference: "
              f"{median(r['rps'] for r in figures['reference']):.1f} req/s, "
              f"p99 {median(r['p99_ms'] for r in figures['reference']):.1f} ms")
        print(f"ratio registration/reference = {median(ratios):.2f} (target >= {TARGET_THROUGHPUT}; "
              f"per pair: {', '.join(f'{x:.2f}' for x in ratios)})")
        print(f"p99 ratio registration/reference = {median(p99_ratios):.2f} (target <= {TARGET_P99}; "
              f"per pair: {', '.join(f'{x:.2f}' for x in p99_ratios)})")
        print(f"CPU per request, reference/registration (gunicorn's processes + the database's backends) = "
              f"{median(cpu_ratios):.2f} (per pair: {', '.join(f'{x:.2f}' for x in cpu_ratios)}; what the "
              f"throughput ratio would be with the cores the only limit, and steadier on a shared machine)")
        engine = create_engine(database_url)
        with engine.connect() as connection:
            registered = connection.execute(text("SELECT count(*) FROM registrations")).scalar() - args.history
        engine.dispose()
        errors = sum(r["errors"] for rs in figures.values() for r in rs)
        print(f"registrations stored by the runs: {registered:,}; errors (non-2xx, timeouts) in all runs: {errors}")
        return 0
    finally:
        if gunicorn is not None:
            gunicorn.stop()
        stub.stop()
        try:
            import redis
            redis.Redis.from_url(args.redis_url).flushdb()  # the benchmark's own database number
        except Exception:  # noqa: BLE001
            pass
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
