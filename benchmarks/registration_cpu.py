#!/usr/bin/env python
"""Benchmark: the registration path's own cost in-process, against the one-row reference (issue 16 §1).

No HTTP server and no load generator: the app's test client in this one process, on a fresh
PostgreSQL database (``bench_regcpu_<pid>``, migrated, with the reference table of
``web_common.benchmark_reference``, the route ``benchmarks/api_load.py`` measures against). In
alternating rounds, N ``POST /api/mp/v1/registrations`` of distinct buyers (rotating over the
consultants) and N ``POST /benchmark/reference``; each round prints the process CPU
(``time.process_time``) and the wall time per request, and last the medians of the per-round
ratios reference/registration (what ``api_load`` compares as throughput: ≥ 0.7 is the target
under load; CPU on this process is the part of it the code decides, the server's share is not in it).

The outbox wake-up (``db.wake_outbox_drain``) is not run eagerly as in tests: it is recorded
instead of published, as production publishes at most one per window (``OUTBOX_WAKE_MS``).

    .venv/bin/python benchmarks/registration_cpu.py                 # 300 of each, 3 rounds, < 1 min
    .venv/bin/python benchmarks/registration_cpu.py --requests 200 --rounds 5
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy.engine import make_url  # noqa: E402

from benchmarks._measure import analyze_like_autovacuum, log, median, process_cpu, reference_database  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_PG, help="a PostgreSQL server (a fresh database is made)")
    parser.add_argument("--requests", type=int, default=300, help="requests of each kind per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--consultants", type=int, default=20)
    parser.add_argument("--profile", metavar="FILE", help="cProfile (CPU clock) the registrations into FILE")
    args = parser.parse_args(argv)

    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["BENCHMARK_REFERENCE_ROUTE"] = "1"
    import estate_platform
    log(f"code: {Path(estate_platform.__file__).parent.parent}")

    with reference_database(args.database_url, "bench_regcpu") as database_url:
        return _measure(args, database_url)


def _measure(args, database_url: str) -> int:
    from estate_platform import db as db_module
    from estate_platform import tasks
    from tests.conftest import World, make_app

    server = make_url(database_url)
    app = make_app(database_url, Path(tempfile.mkdtemp(prefix="bench_regcpu_")))
    client = app.test_client()
    world = World(app, client)
    world.publish_agreement()
    consultants = [world.operating_consultant(name=f"顾问{i:03d}") for i in range(args.consultants)]
    project = world.project(name="基准楼盘")
    # Production's wake-up: at most one per window, recorded here instead of published.
    app.config["CELERY"]["task_always_eager"] = False
    wake_ups = []
    tasks.drain_outbox_task.apply_async = lambda *a, **k: wake_ups.append(k)
    tasks.drain_outbox_task.delay = lambda *a, **k: wake_ups.append(k)
    headers = [c.auth for c in consultants]
    counter = iter(range(10**9))

    def registrations(n: int) -> None:
        for _ in range(n):
            i = next(counter)
            response = client.post("/api/mp/v1/registrations", headers=headers[i % len(headers)], json={
                "project_id": project, "buyer_name": "周先生", "buyer_phone": f"137{i:08d}"})
            assert response.status_code == 201, response.get_json()

    def references(n: int) -> None:
        for _ in range(n):
            i = next(counter)
            response = client.post("/benchmark/reference", headers=headers[i % len(headers)], json={
                "project_id": project, "buyer_name": "周先生", "buyer_phone": f"137{i:08d}"})
            assert response.status_code == 201, response.get_data(as_text=True)

    registrations(30)  # warm-up: statements built, connections open
    references(30)
    analyzing = analyze_like_autovacuum(database_url)
    if analyzing:
        log("autovacuum is off on this server: ANALYZE after the warm-up and after every round (untimed)")
    runs = {"registration": registrations, "reference": references}
    print(f"{args.requests} requests of each kind per round, PostgreSQL {server.host}:{server.port}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    server_cpu = ServerCpu(app)
    print(f"{'round':<6}{'endpoint':<14}{'CPU ms/req':>11}{'server CPU':>11}{'wall ms/req':>12}")
    cpu_ratios, wall_ratios, both_ratios = [], [], []
    for number in range(1, args.rounds + 1):
        order = ("registration", "reference") if number % 2 else ("reference", "registration")
        figures = {}
        for kind in order:
            served = server_cpu.seconds()
            cpu, wall = time.process_time(), time.perf_counter()
            runs[kind](args.requests)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            served = server_cpu.seconds() - served if served is not None else None
            figures[kind] = (cpu * 1000 / args.requests, wall * 1000 / args.requests,
                             served * 1000 / args.requests if served is not None else None)
            if analyzing:
                analyze_like_autovacuum(database_url)
            server = f"{figures[kind][2]:>11.2f}" if served is not None else f"{'n/a':>11}"
            print(f"{number:<6}{kind:<14}{figures[kind][0]:>11.2f}{server}{figures[kind][1]:>12.2f}", flush=True)
        cpu_ratios.append(figures["reference"][0] / figures["registration"][0])
        wall_ratios.append(figures["reference"][1] / figures["registration"][1])
        if figures["reference"][2] is not None:
            both_ratios.append((figures["reference"][0] + figures["reference"][2])
                               / (figures["registration"][0] + figures["registration"][2]))
    print(f"CPU ratio reference/registration = {median(cpu_ratios):.2f} "
          f"(per round: {', '.join(f'{x:.2f}' for x in cpu_ratios)})")
    if both_ratios:
        print(f"CPU ratio with the server's backend = {median(both_ratios):.2f} "
              f"(per round: {', '.join(f'{x:.2f}' for x in both_ratios)})")
    print(f"wall ratio reference/registration = {median(wall_ratios):.2f} "
          f"(per round: {', '.join(f'{x:.2f}' for x in wall_ratios)})")
    if args.profile:
        import cProfile
        profiler = cProfile.Profile(time.process_time)
        profiler.runcall(registrations, args.requests)
        profiler.dump_stats(args.profile)
        log(f"profile of {args.requests} registrations in {args.profile}")
    with app.app_context():
        db_module.db.session.remove()
        db_module.db.engine.dispose()
    return 0


class ServerCpu:
    """The CPU time the PostgreSQL backends of the app's connections have used (user + system, from
    ``/proc/<pid>/stat``): only when the server runs on this machine; ``seconds()`` is None otherwise."""

    def __init__(self, app):
        from estate_platform.db import db
        with app.app_context():
            engine = db.engine
        self.engine = engine

    def _pids(self) -> list[int]:
        pids = []
        for record in list(self.engine.pool._pool.queue):
            dbapi_connection = record.dbapi_connection
            if dbapi_connection is not None:
                pids.append(dbapi_connection.info.backend_pid)
        return pids

    def seconds(self) -> float | None:
        processes = process_cpu()
        pids = self._pids()
        if any(pid not in processes for pid in pids):
            return None
        return sum(processes[pid][0] for pid in pids)


if __name__ == "__main__":
    raise SystemExit(main())
