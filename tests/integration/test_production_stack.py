"""The production stack of the README, on loopback, through one whole flow over HTTP (issue 16 §3).

Deploy as documented: an empty PostgreSQL database, ``flask db upgrade``, then gunicorn (2
workers), one Celery worker and exactly one beat on Redis (a database number of its own),
``APP_ENV=production`` with the real HTTP adapters pointed at a stub of WeChat and the SMS
gateway and Stripe Connect. The flow: onboarding → 报备 (its WeChat notice sent by the worker) →
visit → deal (signing recognises it in the request) and a second due deal the batch recognises in
the worker → earnings → the developer's payment (回款) making the consultant's share available →
his payout account (SMS code) → a settlement batch prepared, approved and released by three
finance users and paid by the worker through Stripe Connect → earnings paid and his statement, and
the ledger sums to zero.
"""
from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from estate_platform.clock import local_date
from tests.conftest import PG_SERVER_URL, REDIS_URL, World, make_app, now, postgres_available
from tests.integration import stack
from tests.integration.settlement_scene import finance_token, id_number

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

MP = "/api/mp/v1"
#: The stack's own Redis database number on the test Redis server (other tests use theirs).
STACK_REDIS_DB = 13


def stack_redis_url() -> str:
    base = REDIS_URL.rsplit("/", 1)[0] if REDIS_URL.rsplit("/", 1)[-1].isdigit() else REDIS_URL.rstrip("/")
    return f"{base}/{STACK_REDIS_DB}"


@pytest.fixture
def empty_database():
    reason = postgres_available(PG_SERVER_URL)
    if reason:
        pytest.skip(reason)
    name = f"ep_stack_{uuid.uuid4().hex[:8]}"
    server = make_url(PG_SERVER_URL)
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def stack_redis():
    url = stack_redis_url()
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        client.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"Redis not reachable at {url}: {exc}")
    client.flushdb()  # the stack's own database number: nothing of anyone else's
    yield url
    client.flushdb()
    client.close()


def test_the_production_stack_runs_a_whole_flow_over_http(empty_database, stack_redis, tmp_path):
    stub = stack.ProviderStub()
    env = stack.production_env(database_url=empty_database, broker_url=stack_redis,
                               instance=tmp_path / "instance", stub=stub)
    processes: list[stack.Process] = []
    seeding_app = None
    try:
        # Deploy: migrations first (README "Production"), then the processes.
        upgrade = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=stack.ROOT,
                                 env=env, capture_output=True, text=True, timeout=300)
        assert upgrade.returncode == 0, upgrade.stderr[-3000:]
        port = stack.free_port()
        processes.append(stack.gunicorn(env, port=port, workers=2, log_path=tmp_path / "gunicorn.log"))
        processes.append(stack.celery_worker(env, log_path=tmp_path / "worker.log"))
        processes.append(stack.celery_beat(env, log_path=tmp_path / "beat.log", schedule=tmp_path / "beat-schedule"))
        client = stack.HttpClient(f"http://127.0.0.1:{port}")
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.get_json()["checks"] == {"database": "ok", "broker": "ok"}
        assert "gunicorn" in processes[0].output() and "Booting worker" in processes[0].output()

        # Staff accounts and the project are made in the database (as the CLI would); the rest is HTTP.
        seeding_app = make_app(empty_database, tmp_path / "seeding")
        world = World(seeding_app, client)

        # Onboarding: WeChat sign-in through the HTTP adapter, apply, approval, agreement, signature.
        consultant = world.operating_consultant(name="王强")
        me = client.get(f"{MP}/consultants/me", headers=consultant.auth).get_json()
        assert me["status"] == "active"

        # 报备, and its WeChat notice delivered by the worker through the HTTP adapter.
        site = world.staff("site_staff")
        with seeding_app.app_context():
            from estate_platform.db import db
            from estate_platform.identity.models import StaffUser
            developer_id = db.session.get(StaffUser, site[0]).developer_id
        project = world.project(developer_id=developer_id)
        world.split_policy()
        phone = world.next_buyer_phone()
        registration = world.register(consultant, project, phone=phone, name="周先生")
        assert registration["status"] == "reported" and registration["binding"] is True, registration
        stack.wait_until(lambda: any(m["template_id"] == "tmpl-registration" and m["touser"] == consultant.openid
                                     for m in stub.messages), timeout=60,
                         what="the worker to deliver the registration notice")

        # 带看: booked by the consultant, checked in by the developer's site staff.
        booked = client.post(f"{MP}/registrations/{registration['id']}/visits", headers=consultant.auth,
                             json={"scheduled_at": (now() + timedelta(minutes=10)).isoformat()})
        assert booked.status_code == 201, booked.get_json()
        site_login = client.post("/admin/api/v1/auth/login", json={"username": site[1], "password": site[2]})
        site_auth = {"Authorization": f"Bearer {site_login.get_json()['token']}"}
        checked = client.post("/admin/api/v1/visits/check-in", json={"code": booked.get_json()["check_in_code"]},
                              headers=site_auth)
        assert checked.status_code == 200, checked.get_json()

        # 成交: signing reaches the rule's trigger and recognises the commission in the request.
        world.commission_rule(project)  # 2% on signing
        deal = world.deal(project, phone, price_cents=300_000_000)
        assert world.stage(deal["id"], "signed")["recognised"] is True

        # A second deal that reached its trigger without being recognised (as after a lost
        # request, or signed in a data fix): the batch, run by the worker, recognises it.
        second_phone = world.next_buyer_phone()
        world.register(consultant, project, phone=second_phone, name="李女士")
        second = world.deal(project, second_phone, price_cents=200_000_000)
        with seeding_app.app_context():
            from estate_platform.db import db
            db.session.execute(text("UPDATE deals SET stage = 'signed', signed_on = subscribed_on, "
                                    "trigger_reached_on = subscribed_on, due_on = subscribed_on + 30 "
                                    "WHERE id = :id"), {"id": second["id"]})
            db.session.commit()
        queued = client.post("/admin/api/v1/commissions/recognise", headers=world.staff_auth("finance"))
        assert queued.status_code == 202 and queued.get_json()["due"] == 1, queued.get_json()

        def recognised():
            body = client.get(f"/admin/api/v1/deals/{second['id']}", headers=world.staff_auth("finance")).get_json()
            return body["recognised"]
        stack.wait_until(recognised, timeout=60, what="the worker to recognise the second deal's commission")
        assert "deals.recognise_due" in processes[1].output()

        # Earnings: the serving consultant's share of 2% after the 10% platform fee, both deals.
        earnings = client.get(f"{MP}/earnings", headers=consultant.auth).get_json()
        assert earnings["pending_cents"] == (6_000_000 + 4_000_000) * 9 // 10, earnings
        assert sorted(h["deal_id"] for h in earnings["history"]) == sorted([deal["id"], second["id"]])

        # 回款 → 结算 (issue 12): the developer pays both commissions; pay-when-paid (the default
        # rule) makes the consultant's share available at once.
        finance = [finance_token(world, client) for _ in range(3)]  # maker, checker, second checker
        collected = client.post("/admin/api/v1/collections", headers=finance[0], json={
            "developer_id": developer_id, "amount_cents": 6_000_000 + 4_000_000,
            "received_on": local_date(now()).isoformat(), "bank_reference": "ICBC-STACK-0001"})
        assert collected.status_code == 201, collected.get_json()
        earnings = client.get(f"{MP}/earnings", headers=consultant.auth).get_json()
        assert (earnings["pending_cents"], earnings["available_cents"]) == (0, 9_000_000), earnings

        # His payout account: an independent's own name and ID number, verified by the SMS code
        # the gateway carried; payable 24 hours after verification (a data fix stands in for the wait).
        account = client.post(f"{MP}/payout-accounts", headers=consultant.auth, json={
            "holder_name": "王强", "bank_name": "招商银行南京分行", "account_number": "6225880112345678",
            "id_number": id_number(7)})
        assert account.status_code == 201, account.get_json()
        account_id = account.get_json()["id"]
        sms_before = len(stub.sms)
        sent = client.post(f"{MP}/payout-accounts/{account_id}/send-code", headers=consultant.auth)
        assert sent.status_code == 200, sent.get_json()
        code = stack.wait_until(lambda: [m["params"]["code"] for m in stub.sms[sms_before:] if "code" in m["params"]],
                                timeout=30, what="the payout account's SMS code")[-1]
        verified = client.post(f"{MP}/payout-accounts/{account_id}/verify", headers=consultant.auth,
                               json={"code": code})
        assert verified.status_code == 200 and verified.get_json()["status"] == "verified", verified.get_json()
        with seeding_app.app_context():
            from estate_platform.db import db
            db.session.execute(text("UPDATE payout_accounts SET verified_at = verified_at - interval '25 hours', "
                                    "payable_from = payable_from - interval '25 hours' WHERE id = :id"),
                               {"id": account_id})
            db.session.commit()

        # Maker-checker: one prepares, another approves, a third releases the first payout to a new
        # account; the worker sends it through Stripe Connect with the item's stored key.
        prepared = client.post("/admin/api/v1/settlements", headers=finance[0], json={"channel": "gateway"})
        assert prepared.status_code == 201 and prepared.get_json()["item_count"] == 1, prepared.get_json()
        batch = prepared.get_json()
        refused = client.post(f"/admin/api/v1/settlements/{batch['id']}/approve", headers=finance[0])
        assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "self_approval"
        for checker in finance[1:]:
            approved = client.post(f"/admin/api/v1/settlements/{batch['id']}/approve", headers=checker)
            assert approved.status_code == 200, approved.get_json()

        def completed():
            body = client.get(f"/admin/api/v1/settlements/{batch['id']}", headers=finance[0]).get_json()
            return body["status"] == "completed"
        stack.wait_until(completed, timeout=60, what="the worker to pay the settlement batch")
        [item] = client.get(f"/admin/api/v1/settlements/{batch['id']}/items", headers=finance[0]).get_json()["items"]
        # 90,000 元 of 劳务报酬 in one month: taxable 80% = 72,000, 40% − 7,000 = 21,800 元 withheld.
        assert (item["status"], item["gross_cents"], item["tax_cents"], item["net_cents"]) == (
            "paid", 9_000_000, 2_180_000, 6_820_000), item
        [transfer] = stub.transfers
        assert transfer["idempotency_key"] == item["idempotency_key"] and transfer["amount"] == "6820000"
        assert transfer["transfer_group"] == batch["transfer_group"]
        assert transfer["destination"] == f"acct_stub_{account_id}" and item["gateway_ref"] == "tr_stub_1"
        earnings = client.get(f"{MP}/earnings", headers=consultant.auth).get_json()
        assert (earnings["available_cents"], earnings["paid_cents"]) == (0, 9_000_000), earnings
        [statement] = client.get(f"{MP}/statements", headers=consultant.auth).get_json()["items"]
        assert statement["tax_cents"] == 2_180_000 and statement["withheld_by"] == "platform", statement

        with seeding_app.app_context():
            from estate_platform.db import db
            from estate_platform.ledger import services as ledger
            assert ledger.total(db.session) == 0
            assert ledger.unbalanced_transactions(db.session) == []
            platform = ledger.balances(db.session, "platform", 0)
            assert (platform["cash"], platform["tax_payable"], platform["in_transit"]) == (
                10_000_000 - 6_820_000, -2_180_000, 0), platform
        assert "settlement.send_batch" in processes[1].output()
        assert all(process.alive() for process in processes), [p.output()[-2000:] for p in processes]
        assert "Traceback" not in processes[0].output(), processes[0].output()[-5000:]

        # Graceful shutdown: SIGTERM ends gunicorn and the worker cleanly (exit status 0).
        for process in (processes[0], processes[1]):
            process.stop()
            assert process.process.returncode == 0, process.output()[-3000:]
        assert "Shutting down: Master" in processes[0].output()
    finally:
        for process in reversed(processes):
            process.stop()
        stub.stop()
        if seeding_app is not None:
            from estate_platform.db import db
            with seeding_app.app_context():
                db.session.remove()
                db.engine.dispose()
