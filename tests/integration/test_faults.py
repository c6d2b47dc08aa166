"""Faults the production stack survives (issue 16 §4), each on servers of its own.

* A Celery worker SIGKILLed in the middle of a recognition batch: after a restart every due
  deal is posted exactly once and the ledger balances.
* PostgreSQL stopped during a burst of requests: each request gets 503 ``database_unavailable``
  (the JSON envelope, no traceback), nothing is half-written, and the same gunicorn serves again
  once the database is back, without a restart.
* Redis stopped: a request that only enqueues work still succeeds; once Redis is back, the
  sweep sends the work (the notification reaches WeChat).

The servers are throwaway ones (``tests.integration.stack``): a PostgreSQL cluster made with
initdb/pg_ctl and a redis-server, each on a free port, so stopping them disturbs no other test.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from estate_platform import migrate
from tests.conftest import World, make_app, now
from tests.integration import stack

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

MP = "/api/mp/v1"
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def redis_server():
    try:
        server = stack.RedisServer()
    except (RuntimeError, AssertionError) as exc:
        pytest.skip(str(exc))
    yield server
    server.destroy()


@pytest.fixture
def stub():
    providers = stack.ProviderStub()
    yield providers
    providers.stop()


@pytest.fixture
def processes():
    started: list[stack.Process] = []
    yield started
    for process in reversed(started):
        process.stop()


def dispose(app) -> None:
    from estate_platform.db import db
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def worker_pids(server: stack.Process) -> list[int]:
    """The gunicorn master's worker processes."""
    listing = subprocess.run(["ps", "-o", "pid=", "--ppid", str(server.pid)], capture_output=True, text=True)
    return sorted(int(pid) for pid in listing.stdout.split())


def send_task(broker_url: str, name: str) -> None:
    """Send a task by name as beat does (a bare Celery client on the broker)."""
    from celery import Celery
    client = Celery("faults-test", broker=broker_url)
    try:
        client.send_task(name)
    finally:
        client.close()


def scalar(url: str, sql: str, **params):
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql), params).scalar()
    finally:
        engine.dispose()


# --- a worker killed in the middle of the batch ----------------------------------------------------

DUE_DEALS = 4000


def test_a_worker_killed_mid_batch_leaves_every_due_deal_posted_exactly_once(database_url, redis_server, stub,
                                                                             processes, tmp_path):
    sys.path.insert(0, str(BENCHMARKS.parent))
    from benchmarks.recognition_batch import build  # the benchmark's network of due deals
    engine = create_engine(database_url)
    build(engine, {"consultants": 400, "buyers": DUE_DEALS + 400, "deals": DUE_DEALS}, seed=16, now=now())
    engine.dispose()
    due = scalar(database_url, "SELECT count(*) FROM deals WHERE NOT recognised AND trigger_reached_on IS NOT NULL")
    assert due == DUE_DEALS

    env = stack.production_env(database_url=database_url, broker_url=redis_server.url,
                               instance=tmp_path / "instance", stub=stub)
    worker = stack.celery_worker(env, log_path=tmp_path / "worker-1.log", name="first")
    processes.append(worker)
    seeding_app = make_app(database_url, tmp_path / "seeding")
    try:
        send = lambda: send_task(redis_server.url, "deals.recognise_due")  # noqa: E731
        send()
        posted = lambda: scalar(database_url, "SELECT count(*) FROM deals WHERE recognised")  # noqa: E731
        stack.wait_until(lambda: posted() > 0, timeout=120, what="the first chunk of the batch to commit",
                         interval=0.01)
        worker.kill()  # SIGKILL, the whole process group: a crash, no warm shutdown
        before_restart = posted()
        assert 0 < before_restart < DUE_DEALS, before_restart

        restarted = stack.celery_worker(env, log_path=tmp_path / "worker-2.log", name="second")
        processes.append(restarted)
        send()  # what the hourly beat sends; the killed message comes back after the visibility timeout
        stack.wait_until(lambda: posted() == DUE_DEALS, timeout=300, what="every due deal to be recognised")
    finally:
        dispose(seeding_app)

    recognitions = scalar(database_url, "SELECT count(*) FROM ledger_transactions WHERE kind = 'commission_recognised'")
    distinct_deals = scalar(database_url, "SELECT count(DISTINCT deal_id) FROM ledger_transactions "
                                          "WHERE kind = 'commission_recognised'")
    assert recognitions == distinct_deals == DUE_DEALS
    assert scalar(database_url, "SELECT COALESCE(sum(amount_cents), 0) FROM ledger_postings") == 0
    assert scalar(database_url, "SELECT count(*) FROM (SELECT transaction_id FROM ledger_postings GROUP BY transaction_id "
                                "HAVING sum(amount_cents) <> 0) AS unbalanced") == 0


# --- PostgreSQL down during a burst ---------------------------------------------------------------

@pytest.fixture
def postgres_cluster():
    try:
        cluster = stack.PostgresCluster()
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"cannot start a throwaway PostgreSQL: {exc}")
    yield cluster
    cluster.destroy()


def test_postgres_down_answers_503_writes_nothing_half_and_the_same_server_recovers(
        postgres_cluster, redis_server, stub, processes, tmp_path):
    admin = create_engine(postgres_cluster.server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("CREATE DATABASE faults"))
    admin.dispose()
    database_url = make_url(postgres_cluster.server_url).set(database="faults").render_as_string(hide_password=False)
    migrate.upgrade(database_url)
    env = stack.production_env(database_url=database_url, broker_url=redis_server.url,
                               instance=tmp_path / "instance", stub=stub)
    port = stack.free_port()
    server = stack.gunicorn(env, port=port, workers=2, log_path=tmp_path / "gunicorn.log")
    processes.append(server)
    client = stack.HttpClient(f"http://127.0.0.1:{port}")
    seeding_app = make_app(database_url, tmp_path / "seeding")
    world = World(seeding_app, client)
    try:
        consultants = [world.operating_consultant(name=f"顾问{i}") for i in range(3)]
        project = world.project()
        dispose(seeding_app)  # its pooled connections would only be cut by the stop

        results: list[tuple[int, dict | None, str]] = []
        stop_burst = threading.Event()

        def burst(index: int) -> None:
            consultant = consultants[index]
            n = 0
            while not stop_burst.is_set():
                n += 1
                phone = f"139{index}{n:07d}"
                try:
                    response = client.open("POST", f"{MP}/registrations", headers=consultant.auth, timeout=30,
                                           json={"project_id": project, "buyer_name": "周先生", "buyer_phone": phone})
                except Exception as exc:  # noqa: BLE001 - a dropped connection would be a failure too
                    results.append((0, None, repr(exc)))
                    continue
                results.append((response.status_code, response.get_json(), response.headers.get("Content-Type", "")))

        threads = [threading.Thread(target=burst, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        stack.wait_until(lambda: sum(1 for r in results if r[0] == 201) >= 6, timeout=120,
                         what="registrations to succeed before the stop")
        postgres_cluster.stop("fast")  # in the middle of the burst
        mark = len(results)
        stack.wait_until(lambda: sum(1 for r in results[mark:] if r[0] == 503) >= 10, timeout=120,
                         what="requests to be answered 503 while PostgreSQL is down")

        # While it is down, readiness says so (the load balancer stops sending; the admin pages'
        # Chinese 503 page is checked in-process below).
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.get_json()["error"]["details"]["checks"]["database"] == "unavailable"

        workers_while_down = worker_pids(server)
        assert len(workers_while_down) == 2, workers_while_down
        postgres_cluster.start()
        mark_up = len(results)
        stack.wait_until(lambda: sum(1 for r in results[mark_up:] if r[0] == 201) >= 6, timeout=120,
                         what="the same server to register again once PostgreSQL is back")
        stop_burst.set()
        for thread in threads:
            thread.join(timeout=60)
        assert server.alive() and worker_pids(server) == workers_while_down  # no restart, not even of a worker

        statuses = {status for status, _, _ in results}
        assert statuses <= {201, 503}, [r for r in results if r[0] not in (201, 503)][:3]
        for status, body, content_type in results:
            if status == 503:
                assert content_type.startswith("application/json")
                assert body["error"]["code"] == "database_unavailable"
                assert body["error"]["message"] == "数据库暂时不可用，请稍后重试"
                assert "Traceback" not in str(body)
        created = sum(1 for status, _, _ in results if status == 201)
        # Nothing half-written: exactly the registrations answered 201, each with its event and notice.
        assert scalar(database_url, "SELECT count(*) FROM registrations") == created
        assert scalar(database_url, "SELECT count(*) FROM notifications WHERE kind = 'registration_accepted'") \
            == created
        assert client.get("/readyz").status_code == 200
        assert "Traceback" not in server.output(), server.output()[-4000:]
    finally:
        dispose(seeding_app)


def test_the_admin_pages_answer_a_chinese_503_page_while_the_database_is_down(tmp_path):
    """In-process, a database that cannot be reached: the admin page is a Chinese 503 page."""
    from wsgi import create_app
    app = create_app({"TESTING": True}, env={"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{stack.free_port()}/x",
                                             "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "s" * 40})
    client = app.test_client()
    client.get("/admin/login")
    with client.session_transaction() as session:
        token = session["csrf_token"]
    page = client.post("/admin/login", data={"username": "admin", "password": "whatever-1", "csrf_token": token})
    assert page.status_code == 503
    html = page.get_data(as_text=True)
    assert "数据库暂时不可用，请稍后重试" in html and "database_unavailable" in html and "Traceback" not in html
    api = client.post("/admin/api/v1/auth/login", json={"username": "admin", "password": "whatever-1"})
    assert api.status_code == 503 and api.get_json()["error"]["code"] == "database_unavailable"
    assert api.headers["Retry-After"] == "5"
    dispose(app)


# --- Redis down -----------------------------------------------------------------------------------

def test_redis_down_the_request_succeeds_and_the_work_goes_out_when_it_returns(database_url, redis_server, stub,
                                                                               processes, tmp_path):
    env = stack.production_env(database_url=database_url, broker_url=redis_server.url,
                               instance=tmp_path / "instance", stub=stub)
    port = stack.free_port()
    processes.append(stack.gunicorn(env, port=port, workers=2, log_path=tmp_path / "gunicorn.log"))
    client = stack.HttpClient(f"http://127.0.0.1:{port}")
    seeding_app = make_app(database_url, tmp_path / "seeding")
    world = World(seeding_app, client)
    try:
        consultant = world.operating_consultant(name="赵敏")
        project = world.project()
        redis_server.stop()
        assert client.get("/readyz").get_json()["error"]["details"]["checks"]["broker"] == "unavailable"

        started = time.monotonic()
        registration = world.register(consultant, project, name="周先生")  # 201: the request does not fail
        assert time.monotonic() - started < 10
        notice = scalar(database_url, "SELECT id FROM notifications WHERE kind = 'registration_accepted' "
                                      "AND delivered_at IS NULL AND consultant_id = :c", c=consultant.id)
        assert notice is not None and registration["id"]
        assert not any(m["touser"] == consultant.openid for m in stub.messages)

        redis_server.start()
        assert stack.wait_until(lambda: client.get("/readyz").status_code == 200, timeout=30,
                                what="readiness once Redis is back")
        processes.append(stack.celery_worker(env, log_path=tmp_path / "worker.log"))
        # The sweep leaves notifications younger than its grace to their own task: age this one
        # past it (as the minutes would), then send the sweep as beat does every 10 minutes.
        engine = create_engine(database_url)
        with engine.begin() as connection:
            connection.execute(text("UPDATE notifications SET created_at = created_at - interval '3 minutes' "
                                    "WHERE id = :id"), {"id": notice})
        engine.dispose()
        send_task(redis_server.url, "notifications.redeliver_pending")
        stack.wait_until(lambda: any(m["touser"] == consultant.openid and m["template_id"] == "tmpl-registration"
                                     for m in stub.messages), timeout=90, what="the notice to reach WeChat")
        stack.wait_until(lambda: scalar(database_url, "SELECT delivered_at IS NOT NULL FROM notifications "
                                                      "WHERE id = :id", id=notice), timeout=30,
                         what="the notice to be marked delivered")
    finally:
        dispose(seeding_app)


def test_a_reconciliation_upload_queued_while_redis_was_down_is_sent_again_by_the_sweep(app):
    """The sweep finds uploads queued too long (their task was lost) and sends them again once."""
    from estate_platform.db import db
    from estate_platform.reconciliation import tasks
    from estate_platform.reconciliation.models import SalesListUpload
    with app.app_context():
        sent: list[int] = []
        original = tasks.run_reconciliation_task.delay
        tasks.run_reconciliation_task.delay = sent.append
        try:
            stale, fresh = _upload(db, SalesListUpload, minutes_ago=30), _upload(db, SalesListUpload, minutes_ago=1)
            assert tasks.resend_queued_task.run() == 1 and sent == [stale]
            assert tasks.resend_queued_task.run() == 0 and sent == [stale]  # once per period
            assert fresh not in sent
        finally:
            tasks.run_reconciliation_task.delay = original


def _upload(db, model, *, minutes_ago: int) -> int:
    from estate_platform.identity.models import StaffUser
    from estate_platform.projects.models import Developer, Project
    from estate_platform.security import hash_password
    at = now() - timedelta(minutes=minutes_ago)
    developer = Developer(name=f"开发商{minutes_ago}", created_at=at)
    db.session.add(developer)
    db.session.flush()
    project = Project(developer_id=developer.id, name=f"楼盘{minutes_ago}", city="南京", district="建邺区",
                      price_min_cents=1, price_max_cents=2, status="on_sale", created_at=at, updated_at=at)
    staff = StaffUser(username=f"finance-{minutes_ago}", display_name="财务", role="finance",
                      password_hash=hash_password("correct-horse-9"), created_at=at)
    db.session.add_all([project, staff])
    db.session.flush()
    upload = model(developer_id=developer.id, project_id=project.id, uploaded_by_id=staff.id, filename="台账.csv",
                   file_format="csv", size_bytes=10, content_sha256=f"{minutes_ago:064d}", mapping={},
                   status="queued", rows_done=0, period_from=at.date(), period_to=at.date(),
                   created_at=at, updated_at=at)
    db.session.add(upload)
    db.session.commit()
    return upload.id
