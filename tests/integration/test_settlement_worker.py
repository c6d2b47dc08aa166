"""A worker killed mid-batch (SIGKILL) on Redis, restarted, pays nobody twice (issue 12 §3).

A real ``celery worker`` subprocess on a Redis database of its own sends an approved batch
through the local gateway, slowed down so that it can be killed with ``kill -9`` halfway.
The batch is committed chunk by chunk; the chunk in flight when the worker dies is lost
from the database, but its transfers are remembered by the gateway under each item's
idempotency key. The restarted worker runs the task again: every item ends paid exactly
once at the gateway, and the ledger balances.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import REDIS_URL, now

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SECRET = "worker-test-secret-key-0123456789-abcdefghijklmnop"
PARTIES = 24


def redis_url_of_its_own() -> str:
    base = REDIS_URL.rsplit("/", 1)[0] if REDIS_URL.count("/") >= 3 else REDIS_URL
    return f"{base}/11"


class Worker:
    def __init__(self, *, database_url: str, broker: str, instance: Path, queue: str, log_path: Path):
        env = {k: v for k, v in os.environ.items() if k not in ("CELERY_TASK_ALWAYS_EAGER", "APP_ENV")}
        env.update({"DATABASE_URL": database_url, "CELERY_BROKER_URL": broker, "INSTANCE_PATH": str(instance),
                    "SECRET_KEY": SECRET, "PYTHONUNBUFFERED": "1", "LOCAL_GATEWAY_DELAY_MS": "150",
                    "PAYOUT_SEND_CHUNK_SIZE": "4"})
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "wsgi:celery_app", "worker", "--pool=solo", "--concurrency=1",
             "-Q", queue, "-n", f"{queue}-{uuid.uuid4().hex[:4]}@%h", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "--loglevel=INFO"],
            cwd=PROJECT_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill9(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


def wait_for(condition, worker: Worker, what: str, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if worker.process.poll() is not None:
            break
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}\n--- worker output ---\n{worker.output()}")


def statuses(engine, batch_id: int) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT status, count(*) FROM settlement_items WHERE batch_id = :b "
                                      "GROUP BY status"), {"b": batch_id}).all())


def test_a_worker_killed_mid_batch_and_restarted_pays_everyone_exactly_once(app, database_url, tmp_path, world):
    import redis

    from estate_platform.db import db
    from estate_platform.identity.models import StaffUser
    from estate_platform.ledger import services as ledger
    from estate_platform.settlement import batches
    from estate_platform.settlement.models import PayoutAccount

    broker_url = redis_url_of_its_own()
    try:
        broker = redis.Redis.from_url(broker_url, socket_connect_timeout=2)
        broker.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"Redis not reachable at {broker_url}: {exc}")

    maker_id, _, _ = world.staff("finance")
    checker_id, _, _ = world.staff("finance")
    t0 = now()
    with app.app_context():
        for party in range(1, PARTIES + 1):
            db.session.add(PayoutAccount(party_type="consultant", party_id=party, kind="personal", holder_name=f"顾问{party}",
                                         bank_name="工商银行", account_number_enc="x", account_last4="0000",
                                         id_number_enc="x", id_last4="0000", status="verified", created_at=t0,
                                         verified_at=t0, payable_from=t0))
        ledger.post_many(db.session, [ledger.Entry(f"seed-{p}", "test_credit", "测试入账", (
            ledger.Leg("consultant", p, "available", -(100_000 + p)), ledger.Leg("platform", 0, "revenue", 100_000 + p)))
            for p in range(1, PARTIES + 1)], now=t0)
        limits = batches.Limits(10_000, 10**10, 10**12)
        batch, _ = batches.prepare(db.session, key="killed-worker", channel="gateway",
                                   staff=db.session.get(StaffUser, maker_id), limits=limits, now=t0)
        db.session.execute(text("UPDATE settlement_items SET first_to_account = false"))
        batches.approve(db.session, batch.id, db.session.get(StaffUser, checker_id), limits=limits, now=t0)
        db.session.commit()
        batch_id = batch.id
        expected_net = sum(r for (r,) in db.session.execute(text("SELECT net_cents FROM settlement_items")))
        db.session.remove()
        db.engine.dispose()

    from tests.conftest import make_app
    client_app = make_app(database_url, tmp_path / "client", CELERY=dict(app.config["CELERY"], broker_url=broker_url,
                                                                         task_always_eager=False))
    celery = client_app.extensions["celery"]
    queue = f"ep-settle-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    instance = tmp_path / "worker-instance"  # shared by both workers: the local gateway's memory
    engine = create_engine(database_url)
    worker = Worker(database_url=database_url, broker=broker_url, instance=instance, queue=queue,
                    log_path=tmp_path / "worker.log")
    try:
        celery.send_task("settlement.send_batch", args=[batch_id], queue=queue)
        wait_for(lambda: 0 < statuses(engine, batch_id).get("paid", 0) <= PARTIES - 8, worker, "a few chunks paid")
        worker.kill9()
        midway = statuses(engine, batch_id)
        assert midway.get("sending", 0) >= 8, midway  # killed halfway: items still in flight

        worker = Worker(database_url=database_url, broker=broker_url, instance=instance, queue=queue,
                        log_path=tmp_path / "worker.log")
        celery.send_task("settlement.send_batch", args=[batch_id], queue=queue)  # the re-run
        wait_for(lambda: statuses(engine, batch_id) == {"paid": PARTIES}, worker, "every item paid")

        lines = [json.loads(line) for line in (instance / "local-gateway" / "transfers.jsonl").read_text().splitlines()]
        keys = [line["key"] for line in lines]
        assert len(keys) == len(set(keys)) == PARTIES, "each item transferred exactly once at the gateway"
        assert sum(line["amount"] for line in lines) == expected_net
        with engine.connect() as conn:
            total = conn.execute(text("SELECT COALESCE(SUM(amount_cents), 0) FROM ledger_postings")).scalar()
            settled = conn.execute(text("SELECT count(*) FROM ledger_transactions WHERE kind = 'payout_settled'")).scalar()
            cash = conn.execute(text(
                "SELECT SUM(p.amount_cents) FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id "
                "WHERE a.party_type = 'platform' AND a.kind = 'cash'")).scalar()
        assert total == 0 and settled == PARTIES and cash == -expected_net
    finally:
        worker.stop()
        engine.dispose()
        with client_app.app_context():
            db.session.remove()
            db.engine.dispose()
        celery.close()
        broker.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}",
                      *(f"{queue}\x06\x16{priority}" for priority in (3, 6, 9)))
        broker.close()
