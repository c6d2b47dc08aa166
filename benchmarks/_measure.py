"""Timing and memory helpers shared by the benchmark scripts (one copy instead of one per script).

Import as ``from benchmarks._measure import …`` (each script puts the repository root on
``sys.path`` first).
"""
from __future__ import annotations

import os
import resource
import statistics
import sys
import time
from contextlib import contextmanager
from typing import Iterator


def log(message: str) -> None:
    """Progress to stderr with the wall-clock time; the report goes to stdout."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def max_rss_mb() -> float:
    """ru_maxrss (Linux: KiB). Note it survives execve: a child starts with its parent's."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def proc_status_mb(field: str) -> float | None:
    """VmRSS (now) or VmHWM (peak of this process image) from /proc, in MB; None off Linux."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so it then measures what follows."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


class Stopwatch:
    """Seconds since start (``perf_counter``), read as ``watch.seconds``."""

    def __init__(self):
        self.started = time.perf_counter()
        self.seconds = 0.0

    def stop(self) -> float:
        self.seconds = time.perf_counter() - self.started
        return self.seconds


@contextmanager
def timed() -> Iterator[Stopwatch]:
    """``with timed() as watch: …`` then ``watch.seconds``."""
    watch = Stopwatch()
    try:
        yield watch
    finally:
        watch.stop()


def process_cpu() -> dict[int, tuple[float, int, str]]:
    """Every process's CPU time so far (user + system, seconds), process group and command line, from
    ``/proc/<pid>/stat`` and ``cmdline`` (Linux; empty elsewhere). A process that ended between two
    readings is missing from the second: compare the pids both hold."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    seen = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return seen
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                head, tail = stat.read().rsplit(")", 1)
            fields = tail.split()
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode(errors="replace").strip()
            seen[int(entry)] = ((int(fields[11]) + int(fields[12])) / tick, int(fields[2]),
                                command or head.split("(", 1)[-1])
        except (OSError, IndexError, ValueError):
            continue
    return seen


def median(values) -> float:
    return float(statistics.median(list(values)))


def analyze_like_autovacuum(database_url: str) -> bool:
    """``ANALYZE`` the database when the server runs with ``autovacuum = off`` (this machine's
    PostgreSQL does: ``/etc/postgresql/15/main/conf.d/90-ci.conf``); returns whether it did.

    Production runs autovacuum, which analyzes a table after 50 rows + 10 % of it changed, and an
    ANALYZE invalidates the plans connections have cached for it. Without it, a benchmark that grows
    tables from empty keeps the generic plans PostgreSQL chose for never-analyzed tables (no
    statistics: ties between indexes broken arbitrarily), and a path measures slower with every row
    (issue 16 §1: the registration's look-up of the binding registration scanned the project's).
    Call it between timed runs, never inside one."""
    from sqlalchemy import create_engine, text
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            if connection.execute(text("SHOW autovacuum")).scalar() == "on":
                return False
            connection.execute(text("ANALYZE"))
            return True
    finally:
        engine.dispose()


@contextmanager
def reference_database(server_url: str, prefix: str, *, keep: bool = False) -> Iterator[str]:
    """A fresh database ``<prefix>_<pid>`` on the PostgreSQL server of ``server_url``, migrated, with
    the one-row reference table (``web_common.benchmark_reference``) the registration benchmarks
    measure against; yields its URL and drops it afterwards unless ``keep``."""
    import os

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from estate_platform import migrate
    from web_common.benchmark_reference import CREATE_TABLE

    server = make_url(server_url)
    name = f"{prefix}_{os.getpid()}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    database_url = server.set(database=name).render_as_string(hide_password=False)
    try:
        log(f"migrating {name}")
        migrate.upgrade(database_url)
        engine = create_engine(database_url)
        with engine.begin() as connection:
            connection.execute(text(CREATE_TABLE))
        engine.dispose()
        yield database_url
    finally:
        if keep:
            log(f"kept database {name}")
        else:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
