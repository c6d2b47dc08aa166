"""Shared fixtures: a migrated database per test, the app, clients and factories.

Backends: SQLite by default; set TEST_DATABASE_URL=postgresql://… to run the whole
suite on PostgreSQL. Tests marked ``postgres`` always run on TEST_POSTGRES_URL
(default: the local server), ``redis`` on TEST_REDIS_URL, ``chromium`` on
/usr/bin/chromium. With REQUIRE_SERVICES=1 (CI) a skipped marked test fails the run.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url

from estate_platform import migrate
from estate_platform.clock import SHANGHAI
from estate_platform.models import metadata

SERVICE_MARKERS = ("postgres", "redis", "chromium")
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"


def _pg(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


MAIN_URL = _pg(os.environ.get("TEST_DATABASE_URL", ""))
PG_SERVER_URL = _pg(os.environ.get("TEST_POSTGRES_URL") or (MAIN_URL if MAIN_URL.startswith("postgresql") else DEFAULT_PG))
REDIS_URL = os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS)
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI a test that needs PostgreSQL, Redis or Chromium may not be skipped."""
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_SERVICES and report.skipped and any(item.get_closest_marker(m) for m in SERVICE_MARKERS):
        report.outcome = "failed"
        report.longrepr = f"REQUIRE_SERVICES=1 but this test was skipped: {report.longrepr}"


# --- databases ----------------------------------------------------------------------

class PostgresDatabase:
    """A throwaway database on a PostgreSQL server, migrated once, emptied per test."""

    def __init__(self, server_url: str):
        self.server_url = server_url
        base = make_url(server_url)
        self.name = f"ep_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.url = base.set(database=self.name).render_as_string(hide_password=False)
        self.admin_url = base.set(database="postgres").render_as_string(hide_password=False)
        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        admin.dispose()
        migrate.upgrade(self.url)
        self.engine = create_engine(self.url)
        self.tables = [t.name for t in metadata.sorted_tables]
        with self.engine.connect() as conn:
            owned = conn.execute(text(
                "SELECT c.relname, s.relname FROM pg_depend d"
                " JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'"
                " JOIN pg_class c ON c.oid = d.refobjid AND c.relkind IN ('r', 'p')"
                " JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()"
                " WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass"
                " AND d.deptype IN ('a', 'i')")).all()
            self.superuser = conn.execute(text("SELECT current_setting('is_superuser') = 'on'")).scalar_one()
        sequences: dict[str, list[str]] = {}
        for table, sequence in owned:
            if table in self.tables:
                sequences.setdefault(table, []).append(sequence)
        self.sequences = sequences
        # One round trip names every table that has a row or whose own sequences have been
        # used since the last reset (an INSERT rolled back still moves its sequence).
        probes = []
        for table in self.tables:
            used = [f"(SELECT is_called FROM \"{seq}\")" for seq in sequences.get(table, [])]
            condition = " OR ".join([f'EXISTS (SELECT 1 FROM "{table}")', *used])
            probes.append(f"SELECT '{table}' WHERE {condition}")
        self.dirty_sql = text(" UNION ALL ".join(probes))

    def fresh(self) -> str:
        """Empty every table and restart every table's identity, as ``TRUNCATE`` of all the
        tables would: only the tables that hold a row or used a sequence need it, and the
        others already are as a ``TRUNCATE … RESTART IDENTITY`` would leave them.

        As a superuser (CI's and the README's servers), with ``DELETE`` and ``ALTER SEQUENCE
        … RESTART`` in one round trip, triggers and foreign-key checks off for this
        transaction only (``session_replication_role = replica``: the append-only triggers
        refuse a ``DELETE``, and every table that still refers to a deleted row is dirty
        itself, so it is emptied in the same transaction): a test's few rows are deleted in
        a fraction of the time ``TRUNCATE`` takes to give each table new files (a typical
        test's 17 tables: 27 ms instead of 97 ms on a ``fsync=off`` cluster like CI's, 25 ms
        instead of 1.6 s with fsync on)."""
        with self.engine.begin() as conn:
            dirty = conn.execute(self.dirty_sql).scalars().all()
            if dirty and self.superuser:
                statements = ["SET LOCAL session_replication_role = replica"]
                statements += [f'DELETE FROM "{name}"' for name in dirty]
                statements += [f'ALTER SEQUENCE "{sequence}" RESTART' for name in dirty
                               for sequence in self.sequences.get(name, ())]
                conn.exec_driver_sql("; ".join(statements))
            elif dirty:
                tables = ", ".join(f'"{name}"' for name in dirty)
                conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        return self.url

    def drop(self) -> None:
        self.engine.dispose()
        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        admin.dispose()


@event.listens_for(Engine, "connect")
def sqlite_files_without_fsync(dbapi_connection, connection_record) -> None:
    """The tests' SQLite files are thrown away after the test, as CI's PostgreSQL runs with
    ``fsync=off``: no fsync per commit (the API tests waited on them for half their wall
    time on a disk-backed /tmp). Locking, transactions and the product's own pragmas are as
    in production. ``TEST_SQLITE_SYNC=1`` keeps the fsyncs (to measure the difference)."""
    if isinstance(dbapi_connection, sqlite3.Connection) and not os.environ.get("TEST_SQLITE_SYNC"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()


def postgres_available(url: str) -> str | None:
    try:
        engine = create_engine(make_url(url).set(database="postgres"), connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return None
    except Exception as exc:  # pragma: no cover - depends on the machine
        return f"PostgreSQL not reachable at {url}: {exc.__class__.__name__}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_db():
    reason = postgres_available(PG_SERVER_URL)
    if reason:
        pytest.skip(reason)
    database = PostgresDatabase(PG_SERVER_URL)
    yield database
    database.drop()


@pytest.fixture
def database_url(request, tmp_path) -> str:
    """A freshly migrated, empty database for this test (the SQLite template is migrated
    only in a process that runs a test on SQLite: not in the PostgreSQL pass)."""
    if MAIN_URL.startswith("postgresql") or request.node.get_closest_marker("postgres"):
        return request.getfixturevalue("postgres_db").fresh()
    path = tmp_path / "test.db"
    shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite:///{path}"


# --- the app ---------------------------------------------------------------------------

def make_app(database_url: str, instance: Path, **overrides):
    from wsgi import create_app
    env = {"DATABASE_URL": database_url, "INSTANCE_PATH": str(instance), "CELERY_TASK_ALWAYS_EAGER": "1",
           "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789"}
    config = {"TESTING": True}
    config.update(overrides)
    return create_app(config, env=env)


@pytest.fixture
def app(database_url, tmp_path):
    # Celery runs an eager task inside ``denied_join_result()``, which saves and restores one
    # process-wide flag: two threads' eager tasks overlapping (the concurrency tests' commits wake
    # the outbox drain in each thread) can restore it to "denied" for good, and every later
    # ``.delay(...).get()`` of the xdist worker then raises "Never call result.get() within a task!".
    # Real workers never share it; each test starts with it cleared.
    from celery._state import _set_task_join_will_block
    _set_task_join_will_block(False)
    application = make_app(database_url, tmp_path / "instance")
    yield application
    from estate_platform.db import db
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def session(app):
    """The app's session inside an app context, for service-level tests."""
    from estate_platform.db import db
    with app.app_context():
        yield db.session
        db.session.rollback()


# --- factories ---------------------------------------------------------------------------

def now() -> datetime:
    return datetime.now(timezone.utc)


AGREEMENT_TEXT = "平台顾问合作协议测试文本：入驻免费；报备真实；跑单须支付违约金。" * 2


@dataclass
class Consultant:
    id: int
    token: str
    openid: str
    invite_code: str

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}


_PASSWORD_HASHES: dict[str, str] = {}


def _password_hash(password: str, hash_password) -> str:
    """One real scrypt hash per password and process (each takes ~0.1 s of CPU): staff made
    by the factory share it, and every login still verifies it the product's way."""
    if password not in _PASSWORD_HASHES:
        _PASSWORD_HASHES[password] = hash_password(password)
    return _PASSWORD_HASHES[password]


_VERIFIED: dict[tuple[str, str], bool] = {}


@pytest.fixture(scope="session", autouse=True)
def password_checks_computed_once():
    """Each (stored hash, typed password) pair is checked with real scrypt once per process
    (~0.1–0.25 s of CPU each), then answered from that first result: the check is a pure
    function of the pair, and the factory's staff share one hash per password, so without
    this every test that signs staff in paid it again (a quarter of the CPU of the API tests).
    Sign-in still calls ``verify_password`` with the same arguments at the same point."""
    from estate_platform.identity import services
    real = services.verify_password

    def verify_password(password_hash: str, password: str) -> bool:
        key = (password_hash, password)
        if key not in _VERIFIED:
            _VERIFIED[key] = real(password_hash, password)
        return _VERIFIED[key]

    services.verify_password = verify_password
    yield
    services.verify_password = real


class World:
    """Builds people and documents over HTTP, as the real clients do."""

    def __init__(self, app, client):
        self.app, self.client = app, client
        self._phone = 13700000000
        self._staff_tokens: dict[str, str] = {}

    def next_phone(self) -> str:
        self._phone += 1
        return str(self._phone)

    def staff(self, role: str = "operations", username: str | None = None, password: str = "correct-horse-9"):
        from estate_platform.db import db
        from estate_platform.identity.models import StaffUser
        from estate_platform.projects.models import Developer
        from estate_platform.security import hash_password
        username = username or f"{role}-{uuid.uuid4().hex[:6]}"
        with self.app.app_context():
            developer_id = None
            if role == "site_staff":
                developer = Developer(name=f"开发商{uuid.uuid4().hex[:6]}", created_at=now())
                db.session.add(developer)
                db.session.flush()
                developer_id = developer.id
            user = StaffUser(username=username, display_name=f"测试{role}", role=role, developer_id=developer_id,
                             password_hash=_password_hash(password, hash_password), created_at=now())
            db.session.add(user)
            db.session.commit()
            return user.id, username, password

    def staff_auth(self, role: str = "operations") -> dict:
        if role not in self._staff_tokens:
            _, username, password = self.staff(role)
            response = self.client.post("/admin/api/v1/auth/login", json={"username": username, "password": password})
            assert response.status_code == 200, response.get_json()
            self._staff_tokens[role] = response.get_json()["token"]
        return {"Authorization": f"Bearer {self._staff_tokens[role]}"}

    def wechat_login(self, openid: str | None = None) -> tuple[str, str]:
        openid = openid or f"o-{uuid.uuid4().hex[:12]}"
        response = self.client.post("/api/mp/v1/auth/wechat", json={"code": f"dev:{openid}"})
        assert response.status_code == 200, response.get_json()
        return response.get_json()["token"], openid

    def apply(self, *, inviter_code: str | None = None, name: str = "测试顾问", kind: str = "independent",
              company_name: str | None = None, phone: str | None = None, phone_verified: bool = True) -> Consultant:
        """Applies over HTTP. ``phone_verified``: as if he had typed the SMS code sent to his phone
        (set in the database, so that tests do not spend the SMS rate limits); tests of the
        unverified phone pass False."""
        token, openid = self.wechat_login()
        body = {"name": name, "phone": phone or self.next_phone(), "city": "南京", "kind": kind,
                "company_name": company_name, "inviter_code": inviter_code}
        response = self.client.post("/api/mp/v1/consultants", json=body, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 201, response.get_json()
        data = response.get_json()
        if phone_verified:
            from estate_platform.consultants.models import Consultant as ConsultantRow
            from estate_platform.db import db
            with self.app.app_context():
                db.session.get(ConsultantRow, data["id"]).phone_verified_at = now()
                db.session.commit()
        return Consultant(id=data["id"], token=token, openid=openid, invite_code=data["invite_code"])

    def approve(self, consultant: Consultant) -> None:
        response = self.client.post(f"/admin/api/v1/consultants/{consultant.id}/approve", json={},
                                    headers=self.staff_auth("operations"))
        assert response.status_code == 200, response.get_json()

    def publish_agreement(self, text_: str = AGREEMENT_TEXT, title: str = "顾问合作协议") -> dict:
        response = self.client.post("/admin/api/v1/agreements", json={"title": title, "text": text_},
                                    headers=self.staff_auth("admin"))
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def sign(self, consultant: Consultant) -> dict:
        current = self.client.get("/api/mp/v1/agreement", headers=consultant.auth).get_json()
        response = self.client.post("/api/mp/v1/agreement/sign", headers=consultant.auth,
                                    json={"version": current["version"], "sha256": current["sha256"]})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def operating_consultant(self, **kwargs) -> Consultant:
        """Applied, approved, and signed the current agreement (publishing one if needed)."""
        consultant = self.apply(**kwargs)
        self.approve(consultant)
        if self.client.get("/api/mp/v1/agreement", headers=consultant.auth).status_code == 404:
            self.publish_agreement()
        self.sign(consultant)
        return consultant


    # --- projects and registrations (issue 3) -------------------------------------------

    def project(self, **fields) -> int:
        """A project on sale (override any column, e.g. protection_mode="visit_deal")."""
        from estate_platform.db import db
        from estate_platform.projects.models import Developer, Project
        with self.app.app_context():
            developer_id = fields.pop("developer_id", None)
            if developer_id is None:
                developer = Developer(name=f"开发商{uuid.uuid4().hex[:6]}", created_at=now())
                db.session.add(developer)
                db.session.flush()
                developer_id = developer.id
            values = {"name": f"楼盘{uuid.uuid4().hex[:4]}", "city": "南京", "district": "建邺区",
                      "price_min_cents": 300_000_000, "price_max_cents": 800_000_000, "status": "on_sale",
                      "created_at": now(), "updated_at": now()}
            values.update(fields)
            project = Project(developer_id=developer_id, **values)
            db.session.add(project)
            db.session.commit()
            return project.id

    def register(self, consultant: Consultant, project_id: int, phone: str | None = None, name: str = "周先生",
                 expect: int = 201, **extra) -> dict:
        body = {"project_id": project_id, "buyer_name": name, "buyer_phone": phone or self.next_buyer_phone(), **extra}
        response = self.client.post("/api/mp/v1/registrations", json=body, headers=consultant.auth)
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    _buyer_phone = 13900000000

    # --- commissions and deals (issue 4) ----------------------------------------------------

    def commission_rule(self, project_id: int, expect: int = 201, **fields) -> dict:
        body = {"effective_from": "2020-01-01", "basis": "rate", "rate_bps": 200, "trigger": "signed",
                "payment_terms_days": 30, **fields}
        response = self.client.post(f"/admin/api/v1/projects/{project_id}/commission-rules", json=body,
                                    headers=self.staff_auth("finance"))
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def split_policy(self, expect: int = 201, **fields) -> dict:
        body = {"effective_from": "2020-01-01", "platform_fee_bps": 1000, "referral_bps": 2000,
                "upline_bps": [1000, 500], "max_upline_levels": 2, **fields}
        response = self.client.post("/admin/api/v1/split-policies", json=body, headers=self.staff_auth("finance"))
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def deal(self, project_id: int, phone: str, expect: int = 201, role: str = "finance", **fields) -> dict:
        # A random unit of 10 hex digits: 4 collided now and then (birthday) in tests with twenty deals.
        body = {"project_id": project_id, "buyer_phone": phone, "unit": fields.pop("unit", f"{uuid.uuid4().hex[:10]}室"),
                "price_cents": 300_000_000, "subscribed_on": now().astimezone(SHANGHAI).date().isoformat(), **fields}
        response = self.client.post("/admin/api/v1/deals", json=body, headers=self.staff_auth(role))
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def stage(self, deal_id: int, stage: str, expect: int = 200, role: str = "finance", **fields) -> dict:
        response = self.client.post(f"/admin/api/v1/deals/{deal_id}/stage", json={"stage": stage, **fields},
                                    headers=self.staff_auth(role))
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def next_buyer_phone(self) -> str:
        World._buyer_phone += 1
        return str(World._buyer_phone)


@pytest.fixture
def world(app, client) -> World:
    return World(app, client)


def table_counts(app) -> dict[str, int]:
    """Row counts of every table: 'bad input changes nothing' compares two of these."""
    from estate_platform.db import db
    with app.app_context():
        return {t.name: db.session.execute(text(f'SELECT COUNT(*) FROM "{t.name}"')).scalar_one()
                for t in metadata.sorted_tables}


@pytest.fixture
def counts(app):
    return lambda: table_counts(app)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def refusal(response) -> dict:
    """The error body without its per-request id: what two refusals compare on."""
    error = dict(response.get_json()["error"])
    error.pop("request_id", None)
    return error


__all__ = ["refusal", "now", "timedelta", "World", "Consultant", "REDIS_URL", "PG_SERVER_URL", "make_app"]
