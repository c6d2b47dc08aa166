"""The registration path's statement budget (issue 16 §1): ≤ 8 SQL statements per
request, the commit included, on SQLite and PostgreSQL, for the happy path and
the main refusals; and no broker message per request (the outbox drain's wake-up). Counted with SQLAlchemy's ``before_cursor_execute`` and
``commit`` events, so a new query on the path fails here.

The exact counts: on PostgreSQL an accepted registration is 3 statements (the SELECT of the
caller and every rule's values, ONE INSERT statement of the buyer, the registration, the
evidence record, the client card and the notification, the commit) and a refusal by a rule 3
(the SELECT, the attempt log's INSERT, the commit); SQLite runs the INSERTs one by one (7 for a
new buyer, 6 for a known one)."""
from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select

from estate_platform.consultants.models import Consultant
from estate_platform.credit import rules as credit_rules
from estate_platform.db import db
from estate_platform.risk.models import RegistrationAttempt

BUDGET = 8


def exactly(app, *, postgresql: int, sqlite: int) -> int:
    with app.app_context():
        return postgresql if db.engine.dialect.name == "postgresql" else sqlite


@contextmanager
def counting(app):
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def on_execute(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement.split("\n")[0][:160])

    def on_commit(conn):
        statements.append("COMMIT")

    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine, "commit", on_commit)


def upto_commit(statements: list[str]) -> list[str]:
    """What the request itself ran: after-commit actions (eager Celery tasks in tests, a
    broker push in production) are not part of the request's transaction."""
    return statements[:statements.index("COMMIT") + 1] if "COMMIT" in statements else statements


def run_counted(app, request) -> list[str]:
    with counting(app) as statements:
        request()
    ran = upto_commit(statements)
    assert ran[-1] == "COMMIT", ran  # the request's one unit of work, counted whole
    return ran


def attempts(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(RegistrationAttempt))


def test_a_registration_of_a_new_buyer_runs_within_the_budget(world, app):
    consultant = world.operating_consultant()
    project = world.project()
    ran = run_counted(app, lambda: world.register(consultant, project))
    assert len(ran) <= BUDGET, "\n".join(ran)
    assert len(ran) == exactly(app, postgresql=3, sqlite=7), "\n".join(ran)
    assert not any(s.startswith(("SAVEPOINT", "RELEASE")) for s in ran), ran  # the index decides races
    # The path's statements run on the DBAPI connection (db.RawStatement) and are counted all the same.
    if len(ran) == 3:  # PostgreSQL: one statement writes every row
        assert ran[1].startswith("WITH buyer AS"), ran
    else:
        for table in ("buyers", "registrations", "evidence_records", "client_cards", "notifications"):
            assert any(s.startswith(f"INSERT INTO {table} ") for s in ran), ran
    assert sum(s.startswith("SELECT") for s in ran) == 1, ran  # the caller and the situation together


def test_a_registration_of_a_known_buyer_elsewhere_runs_within_the_budget(world, app):
    consultant = world.operating_consultant()
    first, second = world.project(), world.project()
    phone = world.next_buyer_phone()
    world.register(consultant, first, phone=phone)
    ran = run_counted(app, lambda: world.register(consultant, second, phone=phone))
    assert len(ran) <= BUDGET - 1, "\n".join(ran)  # the buyer exists: no INSERT for him
    assert len(ran) == exactly(app, postgresql=3, sqlite=6), "\n".join(ran)
    assert not any("INSERT INTO buyers" in s for s in ran), ran


def test_the_already_registered_refusal_and_its_attempt_log_run_within_the_budget(world, app):
    first, second = world.operating_consultant(), world.operating_consultant()
    project = world.project()
    phone = world.next_buyer_phone()
    world.register(first, project, phone=phone)
    before = attempts(app)
    ran = run_counted(app, lambda: world.register(second, project, phone=phone, expect=409))
    assert len(ran) <= BUDGET, "\n".join(ran)
    assert len(ran) == 3, "\n".join(ran)  # the SELECT, the attempt, the commit
    assert attempts(app) == before + 1


def test_the_low_credit_cap_refusal_and_its_attempt_log_run_within_the_budget(world, app):
    consultant = world.operating_consultant()
    project = world.project(daily_consultant_registration_cap_low_credit=1)
    with app.app_context():
        db.session.get(Consultant, consultant.id).rating = credit_rules.LOW_CREDIT_THRESHOLD - 1
        db.session.commit()
    world.register(consultant, project)
    before = attempts(app)
    ran = run_counted(app, lambda: world.register(consultant, project, expect=429))
    assert len(ran) <= BUDGET, "\n".join(ran)
    assert len(ran) == 3, "\n".join(ran)
    assert attempts(app) == before + 1


def test_a_low_credit_consultant_under_his_cap_registers_within_the_budget(world, app):
    consultant = world.operating_consultant()
    project = world.project(daily_consultant_registration_cap_low_credit=3)
    with app.app_context():
        db.session.get(Consultant, consultant.id).rating = credit_rules.LOW_CREDIT_THRESHOLD - 1
        db.session.commit()
    ran = run_counted(app, lambda: world.register(consultant, project))
    assert len(ran) <= BUDGET, "\n".join(ran)
    assert len(ran) == exactly(app, postgresql=3, sqlite=7), "\n".join(ran)


@pytest.fixture
def wake_ups(app, monkeypatch):
    """The drain's wake-ups as production sends them (tasks not eager, a window of a minute),
    recorded instead of published: ``[(args, kwargs)]``; ``wake_ups.new_window()`` forgets them
    and starts a new window."""
    from estate_platform import db as db_module
    from estate_platform import tasks

    class WakeUps(list):
        def new_window(self):
            self.clear()
            db_module._wake_due = 0.0

    sent = WakeUps()
    monkeypatch.setitem(app.config["CELERY"], "task_always_eager", False)
    monkeypatch.setitem(app.config, "OUTBOX_WAKE_MS", 60_000)
    monkeypatch.setattr(db_module, "_wake_due", 0.0)
    monkeypatch.setattr(tasks.drain_outbox_task, "apply_async", lambda *a, **k: sent.append((a, k)))
    monkeypatch.setattr(tasks.drain_outbox_task, "delay", lambda *a, **k: sent.append((a, k)))
    return sent


def pending(app, consultant_id: int, registration_id: int) -> tuple[bool, str | None]:
    """(the registration's notification is undelivered, its buyer notice)."""
    from estate_platform.notifications.models import Notification
    from estate_platform.registrations.models import Registration
    with app.app_context():
        delivered_at = db.session.scalar(select(Notification.delivered_at).where(
            Notification.consultant_id == consultant_id, Notification.kind == "registration_accepted",
            Notification.payload.contains(f'"registration_id": {registration_id}')))
        notice = db.session.get(Registration, registration_id).buyer_notice
        db.session.rollback()
        return delivered_at is None, notice


def test_registrations_wake_the_drain_at_most_once_a_window_and_the_drain_delivers_them_all(world, app, wake_ups):
    """The request path publishes no message per request (db.wake_outbox_drain): the first commit
    of a window sends one wake-up (counted down by the window), the others in that window none.
    The drain then delivers every registration's notification and buyer notice, the skipped
    wake-ups' too; run again it sends nothing more."""
    from estate_platform.tasks import drain_outbox_task
    consultant = world.operating_consultant()
    project = world.project()
    wake_ups.new_window()  # approving the consultant told him too
    registered = [world.register(consultant, project) for _ in range(3)]
    assert len(wake_ups) == 1 and wake_ups[0][1] == {"countdown": 60.0}
    assert [pending(app, consultant.id, r["id"]) for r in registered] == [(True, "pending")] * 3

    sms = app.extensions["adapters"].sms.notices
    sms_before = len(sms)
    with app.app_context():
        assert drain_outbox_task.apply().get() >= 6  # 3 WeChat messages and 3 SMS (and his approval's)
    assert [pending(app, consultant.id, r["id"]) for r in registered] == [(False, "sent")] * 3
    assert len(sms) == sms_before + 3
    with app.app_context():
        assert drain_outbox_task.apply().get() == 0
    assert len(sms) == sms_before + 3


def test_a_refused_registration_wakes_nothing(world, app, wake_ups):
    first, second = world.operating_consultant(), world.operating_consultant()
    project = world.project()
    phone = world.next_buyer_phone()
    world.register(first, project, phone=phone)
    wake_ups.new_window()  # a wake-up would be sent if the refusal asked for one
    world.register(second, project, phone=phone, expect=409)
    assert wake_ups == []


def test_a_wake_up_lost_to_a_broker_outage_loses_nothing(world, app, monkeypatch):
    """Redis down: the commit stands (201), the wake-up is lost, the rows stay pending; the beat's
    drain (here run by hand) delivers them."""
    from kombu.exceptions import OperationalError
    from estate_platform import db as db_module
    from estate_platform import tasks

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    consultant = world.operating_consultant()
    project = world.project()
    monkeypatch.setitem(app.config["CELERY"], "task_always_eager", False)
    monkeypatch.setattr(db_module, "_wake_due", 0.0)
    monkeypatch.setattr(tasks.drain_outbox_task, "apply_async", broker_down)
    registration = world.register(consultant, project)
    assert pending(app, consultant.id, registration["id"]) == (True, "pending")
    monkeypatch.undo()
    with app.app_context():
        assert tasks.drain_outbox_task.apply().get() >= 2
    assert pending(app, consultant.id, registration["id"]) == (False, "sent")


def test_run_eagerly_a_registration_is_delivered_once_however_often_the_outbox_runs(world, app):
    """Tasks run eagerly (tests, in-process): the drain runs after the commit and delivered both;
    the drain and the message of earlier releases (``outbox.deliver``) run again send nothing more."""
    from estate_platform.notifications.models import Notification
    from estate_platform.registrations.models import Registration
    from estate_platform.tasks import deliver_outbox_task, drain_outbox_task
    consultant = world.operating_consultant()
    registration = world.register(consultant, world.project())
    with app.app_context():
        notification = db.session.scalar(select(Notification).where(Notification.consultant_id == consultant.id,
                                                                    Notification.kind == "registration_accepted"))
        assert notification.delivered_at is not None
        assert db.session.get(Registration, registration["id"]).buyer_notice == "sent"
        delivered_at = notification.delivered_at
        sms_before = len(app.extensions["adapters"].sms.notices)
        assert drain_outbox_task.apply().get() == 0
        deliver_outbox_task.apply(args=[{"notification": [notification.id],
                                         "registration_notice": [registration["id"]]}])
        db.session.expire_all()
        assert db.session.get(Notification, notification.id).delivered_at == delivered_at
        assert len(app.extensions["adapters"].sms.notices) == sms_before


# --- on the wire (PostgreSQL): the round trips themselves -------------------------------------

@contextmanager
def on_the_wire(app, tmp_path):
    """The queries each connection checked out meanwhile sends, as psycopg traces them: a list of
    round trips, each the text of a simple query or ``"extended"`` (a prepared statement's
    Bind/Execute/Sync). The pool's ping runs before the checkout event: not counted."""
    from sqlalchemy import event as sa_event
    trace = tmp_path / "wire.trace"
    handle = open(trace, "w")
    traced, started = [], []
    with app.app_context():
        engine = db.engine

    def on_checkout(dbapi_connection, record, proxy):
        if not started:  # the request's own connection (after its commit the eager drain takes others)
            started.append(True)
            dbapi_connection.pgconn.trace(handle.fileno())
            traced.append(dbapi_connection)

    def on_checkin(dbapi_connection, record):
        if dbapi_connection in traced:
            dbapi_connection.pgconn.untrace()
            traced.remove(dbapi_connection)

    sa_event.listen(engine, "checkout", on_checkout)
    sa_event.listen(engine, "checkin", on_checkin)
    trips: list[str] = []
    try:
        yield trips
    finally:
        sa_event.remove(engine, "checkout", on_checkout)
        sa_event.remove(engine, "checkin", on_checkin)
        for dbapi_connection in traced:
            dbapi_connection.pgconn.untrace()
        handle.close()
        for line in trace.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) > 3 and parts[1] == "F":
                if parts[3] == "Query":
                    trips.append(parts[4].strip().strip('"').split(" ")[0].upper())
                elif parts[3] == "Sync":
                    trips.append("extended")


@pytest.mark.postgres
def test_an_accepted_registration_is_two_round_trips_after_the_ping(world, app, tmp_path):
    """No BEGIN and no COMMIT on the wire: the SELECT reads in autocommit and the one INSERT
    statement is its own transaction (``registrations.path.request_connection``)."""
    consultant = world.operating_consultant()
    project = world.project()
    world.register(consultant, project)  # the statements are prepared on the connection alike
    for _ in range(6):  # past psycopg's prepare threshold (5): the request as it runs for hours
        project = world.project()
        with on_the_wire(app, tmp_path) as trips:
            world.register(consultant, project)
        assert len(trips) == 2 and "BEGIN" not in trips and "COMMIT" not in trips, trips


@pytest.mark.postgres
def test_a_refusal_is_two_round_trips_and_keeps_its_attempt(world, app, tmp_path):
    first, second = world.operating_consultant(), world.operating_consultant()
    project = world.project()
    phone = world.next_buyer_phone()
    world.register(first, project, phone=phone)
    before = attempts(app)
    with on_the_wire(app, tmp_path) as trips:
        world.register(second, project, phone=phone, expect=409)
    assert len(trips) == 2 and "BEGIN" not in trips, trips  # the SELECT, the attempt's INSERT
    assert attempts(app) == before + 1


@pytest.mark.postgres
def test_the_connection_goes_back_to_the_pool_transactional(world, app, tmp_path):
    """The pool gets the connection back out of autocommit (SQLAlchemy resets the isolation level
    it set), so every other route's writes stay one transaction: BEGIN … COMMIT on the wire."""
    from estate_platform.identity.models import Buyer
    consultant = world.operating_consultant()
    world.register(consultant, world.project())
    with app.app_context():
        pooled = [record.dbapi_connection for record in db.engine.pool._pool.queue]
        assert pooled and not any(connection.autocommit for connection in pooled)
    with on_the_wire(app, tmp_path) as trips:
        with app.app_context():
            db.session.get(Buyer, 1).name = "王五"
            db.session.commit()
    assert trips[0] == "BEGIN" and trips[-1] == "COMMIT" and len(trips) >= 3, trips
