"""The registration path's statement budget (issue 16 §1): ≤ 8 SQL statements per
request, the commit included, on SQLite and PostgreSQL, for the happy path and
the main refusals. Counted with SQLAlchemy's ``before_cursor_execute`` and
``commit`` events, so a new query on the path fails here."""
from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event, func, select

from estate_platform.consultants.models import Consultant
from estate_platform.credit import rules as credit_rules
from estate_platform.db import db
from estate_platform.risk.models import RegistrationAttempt

BUDGET = 8


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
    assert not any(s.startswith(("SAVEPOINT", "RELEASE")) for s in ran), ran  # the index decides races


def test_a_registration_of_a_known_buyer_elsewhere_runs_within_the_budget(world, app):
    consultant = world.operating_consultant()
    first, second = world.project(), world.project()
    phone = world.next_buyer_phone()
    world.register(consultant, first, phone=phone)
    ran = run_counted(app, lambda: world.register(consultant, second, phone=phone))
    assert len(ran) <= BUDGET - 1, "\n".join(ran)  # the buyer exists: no INSERT for him


def test_the_already_registered_refusal_and_its_attempt_log_run_within_the_budget(world, app):
    first, second = world.operating_consultant(), world.operating_consultant()
    project = world.project()
    phone = world.next_buyer_phone()
    world.register(first, project, phone=phone)
    before = attempts(app)
    ran = run_counted(app, lambda: world.register(second, project, phone=phone, expect=409))
    assert len(ran) <= BUDGET, "\n".join(ran)
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
    assert attempts(app) == before + 1


def test_a_low_credit_consultant_under_his_cap_registers_within_the_budget(world, app):
    consultant = world.operating_consultant()
    project = world.project(daily_consultant_registration_cap_low_credit=3)
    with app.app_context():
        db.session.get(Consultant, consultant.id).rating = credit_rules.LOW_CREDIT_THRESHOLD - 1
        db.session.commit()
    ran = run_counted(app, lambda: world.register(consultant, project))
    assert len(ran) <= BUDGET, "\n".join(ran)


def test_a_registration_sends_one_broker_message_for_its_whole_outbox(world, app, monkeypatch):
    """The consultant's message and the buyer's SMS notice travel in ONE message after the commit
    (db.after_commit_deliver): a publish costs a broker round trip on the request path."""
    from estate_platform import tasks
    from estate_platform.notifications.models import Notification
    from estate_platform.registrations.models import Registration
    sent: list[dict] = []
    monkeypatch.setattr(tasks.deliver_outbox_task, "delay", lambda items: sent.append(items))
    consultant = world.operating_consultant()
    project = world.project()
    sent.clear()  # approving the consultant told him too
    registration = world.register(consultant, project)
    with app.app_context():
        notification_id = db.session.scalar(select(Notification.id).where(
            Notification.consultant_id == consultant.id, Notification.kind == "registration_accepted"))
        assert db.session.get(Registration, registration["id"]).buyer_notice == "pending"
    assert sent == [{"notification": [notification_id], "registration_notice": [registration["id"]]}]


def test_a_refused_registration_sends_no_message(world, app, monkeypatch):
    from estate_platform import tasks
    sent: list[dict] = []
    monkeypatch.setattr(tasks.deliver_outbox_task, "delay", lambda items: sent.append(items))
    first, second = world.operating_consultant(), world.operating_consultant()
    project = world.project()
    phone = world.next_buyer_phone()
    world.register(first, project, phone=phone)
    sent.clear()
    world.register(second, project, phone=phone, expect=409)
    assert sent == []


def test_the_outbox_message_delivers_each_item_once_however_often_it_runs(world, app):
    """Run eagerly (tests), the message delivered both; run again it sends nothing more."""
    from estate_platform.notifications.models import Notification
    from estate_platform.registrations.models import Registration
    from estate_platform.tasks import deliver_outbox_task
    consultant = world.operating_consultant()
    registration = world.register(consultant, world.project())
    with app.app_context():
        notification = db.session.scalar(select(Notification).where(Notification.consultant_id == consultant.id,
                                                                    Notification.kind == "registration_accepted"))
        assert notification.delivered_at is not None
        assert db.session.get(Registration, registration["id"]).buyer_notice == "sent"
        delivered_at = notification.delivered_at
        sms_before = len(app.extensions["adapters"].sms.notices)
        deliver_outbox_task.apply(args=[{"notification": [notification.id],
                                         "registration_notice": [registration["id"]]}])
        db.session.expire_all()
        assert db.session.get(Notification, notification.id).delivered_at == delivered_at
        assert len(app.extensions["adapters"].sms.notices) == sms_before
