"""One task through a real Celery worker process on Redis (DESIGN §6).

The worker is started exactly as in production (``celery -A wsgi:celery_app
worker``), configured only by environment variables, and listens on a queue
name unique to this test so that other or leftover workers cannot take the
message. Nothing in Redis is flushed; only this test's own queue keys are
removed afterwards.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import REDIS_URL, make_app, now

pytestmark = pytest.mark.redis

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TASK_NAME = "identity.purge_expired_sms_codes"
DEADLINE_SECONDS = 60
WORKER_SECRET = "worker-test-secret-key-0123456789-abcdefghijklmnop"


def redis_or_skip() -> None:
    import redis
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
        assert client.ping()
        client.close()
    except Exception as exc:  # noqa: BLE001 - any failure means "no Redis here"
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc.__class__.__name__}: {exc}")


class Worker:
    """A ``celery worker`` subprocess whose output goes to a file we can read at any time."""

    def __init__(self, *, database_url: str, instance: Path, queue: str, log_path: Path):
        self.log_path = log_path
        env = dict(os.environ)
        for key in ("CELERY_TASK_ALWAYS_EAGER", "APP_ENV", "WECHAT_ADAPTER", "SMS_ADAPTER"):
            env.pop(key, None)
        env.update({
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": REDIS_URL,
            "INSTANCE_PATH": str(instance),
            "SECRET_KEY": WORKER_SECRET,
            "PYTHONUNBUFFERED": "1",
        })
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "wsgi:celery_app", "worker",
             "--pool=solo", "--concurrency=1", "-Q", queue, "-n", f"{queue}@%h",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO"],
            cwd=PROJECT_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


def wait_for(condition, worker: Worker, what: str, timeout: float = DEADLINE_SECONDS):
    """Poll ``condition`` until it returns something truthy; fail with the worker's log."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        if not worker.alive():
            break
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
    pytest.fail(f"timed out waiting for {what} (last={last!r}, worker exit={worker.process.poll()})\n"
                f"--- worker output ---\n{worker.output()}")


def task_result(worker: Worker, task_id: str):
    """The return value the worker logged for ``task_id`` (None while it has not finished)."""
    log = worker.output()
    if re.search(rf"{re.escape(task_id)}\] (raised|failed|retry)", log):
        pytest.fail(f"task {task_id} failed in the worker\n--- worker output ---\n{log}")
    match = re.search(rf"{re.escape(task_id)}\] succeeded in [0-9.]+s: (.*)", log)
    return match.group(1).strip() if match else None


def sms_rows(engine) -> dict[int, tuple]:
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT id, phone, code_hash, ip, created_at, expires_at, attempts, consumed_at "
            "FROM sms_codes ORDER BY id")).all()
    return {row[0]: tuple(row) for row in rows}


def test_a_real_worker_on_redis_purges_stale_sms_codes_once(app, database_url, tmp_path):
    redis_or_skip()
    import redis

    from estate_platform.db import db
    from estate_platform.identity.models import SmsCode

    queue = f"ep-test-{os.getpid()}-{uuid.uuid4().hex[:10]}"
    t0 = now()

    # The client side: an app on the same database and broker, not eager.
    client_app = make_app(database_url, tmp_path / "client-instance",
                          CELERY=dict(app.config["CELERY"], broker_url=REDIS_URL, task_always_eager=False))
    celery = client_app.extensions["celery"]
    assert celery.conf.broker_url == REDIS_URL
    assert celery.conf.task_always_eager is False

    def code(phone: str, *, created: timedelta, expires: timedelta) -> SmsCode:
        return SmsCode(phone=phone, code_hash=uuid.uuid4().hex * 2, ip="10.0.0.1",
                       created_at=t0 + created, expires_at=t0 + expires)

    with app.app_context():
        stale = [
            code("13800000001", created=-timedelta(days=3), expires=-timedelta(days=3) + timedelta(minutes=5)),
            code("13800000002", created=-timedelta(hours=30), expires=-timedelta(hours=29, minutes=55)),
            code("13800000003", created=-timedelta(hours=25, minutes=5), expires=-timedelta(hours=25)),
        ]
        # Expired, but still inside the 24 h rate-limit window: must be kept.
        recent = code("13800000004", created=-timedelta(hours=2), expires=-timedelta(hours=1, minutes=55))
        fresh = code("13800000005", created=-timedelta(minutes=1), expires=timedelta(minutes=4))
        db.session.add_all([*stale, recent, fresh])
        db.session.commit()
        stale_ids = {row.id for row in stale}
        kept_ids = {recent.id, fresh.id}
        db.session.remove()
        db.engine.dispose()

    engine = create_engine(database_url)
    before = sms_rows(engine)
    assert set(before) == stale_ids | kept_ids
    kept_before = {i: before[i] for i in kept_ids}

    broker = redis.Redis.from_url(REDIS_URL)
    worker = Worker(database_url=database_url, instance=tmp_path / "worker-instance", queue=queue,
                    log_path=tmp_path / "worker.log")
    try:
        first = celery.send_task(TASK_NAME, queue=queue)

        def purged():
            rows = sms_rows(engine)
            return rows if not (set(rows) & stale_ids) else None

        after_first = wait_for(purged, worker, "the worker to delete the stale SMS codes")
        assert after_first == kept_before, (
            f"only the stale rows may go; the others must stay untouched\n--- worker output ---\n{worker.output()}")
        removed = wait_for(lambda: task_result(worker, first.id), worker, "the first task to be logged as done")
        assert removed == "3", f"first run should report 3 rows removed\n--- worker output ---\n{worker.output()}"

        # Idempotent: a second delivery deletes nothing more and touches nothing else.
        second = celery.send_task(TASK_NAME, queue=queue)
        assert second.id != first.id
        removed_again = wait_for(lambda: task_result(worker, second.id), worker,
                                 "the second task to be logged as done")
        assert removed_again == "0", f"second run must remove nothing\n--- worker output ---\n{worker.output()}"
        assert sms_rows(engine) == kept_before
        assert broker.llen(queue) == 0, "the worker must have consumed (and acked) both messages"
        assert worker.alive(), f"worker died\n--- worker output ---\n{worker.output()}"
    finally:
        worker.stop()
        engine.dispose()
        with client_app.app_context():
            db.session.remove()
            db.engine.dispose()
        celery.close()
        # Remove only this test's own keys; never flush the shared Redis database.
        broker.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}",
                      *(f"{queue}\x06\x16{priority}" for priority in (3, 6, 9)))
        broker.close()


def test_celery_is_configured_for_at_least_once_delivery_with_json_only(app):
    celery = app.extensions["celery"]
    config = app.config["CELERY"]

    assert config["task_acks_late"] is True and celery.conf.task_acks_late is True
    assert config["task_reject_on_worker_lost"] is True and celery.conf.task_reject_on_worker_lost is True
    assert celery.conf.task_serializer == "json"
    assert celery.conf.result_serializer == "json"
    assert list(celery.conf.accept_content) == ["json"]
    assert "pickle" not in celery.conf.accept_content

    task = celery.tasks[TASK_NAME]
    assert task.acks_late is True and task.reject_on_worker_lost is True

    schedule = celery.conf.beat_schedule
    jobs = [job for job in schedule.values() if job["task"] == TASK_NAME]
    assert len(jobs) == 1, schedule
    assert jobs[0]["schedule"] == timedelta(hours=1)
