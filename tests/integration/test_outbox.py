"""The outbox drain (``outbox.drain``, issue 16 §1): requests write their notifications and buyer
notices as rows and wake the worker's drain; the drain claims the rows in batches and delivers each
once, however many drains run, and leaves nothing behind."""
from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from estate_platform.adapters.notify import SENT, NotificationUnavailable
from estate_platform.db import db


def use_adapter(app, **adapters):
    current = app.extensions["adapters"]
    app.extensions["adapters"] = SimpleNamespace(**{**vars(current), **adapters})


class RecordingSender:
    """Records every WeChat message; the thread ``hold_in`` names waits in its first send until
    ``release`` is set (a drain caught mid-batch, its claimed rows locked)."""

    def __init__(self, outcomes=()):
        self.sent: list[tuple[str, str]] = []  # (openid, page)
        self.messages: list[tuple] = []  # (openid, kind, body, page, at): one per notification
        self.outcomes = list(outcomes)
        self.hold_in: str | None = None
        self.holding, self.release = threading.Event(), threading.Event()
        self.lock = threading.Lock()

    def send(self, openid, kind, title, body, page, *, at=None):
        if threading.current_thread().name == self.hold_in and not self.holding.is_set():
            self.holding.set()
            assert self.release.wait(30), "the other drain never finished"
        with self.lock:
            self.sent.append((openid, page))
            self.messages.append((openid, kind, body, page, at))
            outcome = self.outcomes.pop(0) if self.outcomes else SENT
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


@pytest.fixture
def parked(app, monkeypatch):
    """Wake-ups are not sent: rows written by requests stay in the outbox until a drain runs."""
    from estate_platform import db as db_module
    monkeypatch.setattr(db_module, "wake_outbox_drain", lambda: None)


def registrations(world, count: int, *, consultants: int = 2) -> list[dict]:
    people = [world.operating_consultant() for _ in range(consultants)]
    project = world.project()
    return [world.register(people[i % consultants], project) for i in range(count)]


def outbox_left(app) -> tuple[int, int]:
    from estate_platform.notifications.models import Notification
    from estate_platform.registrations.models import Registration
    with app.app_context():
        left = (db.session.scalar(select(func.count()).select_from(Notification).where(
                    Notification.delivered_at.is_(None), Notification.delivery_error.is_(None))),
                db.session.scalar(select(func.count()).select_from(Registration).where(
                    Registration.buyer_notice == "pending")))
        db.session.rollback()
        return left


def drain(app, batch: int = 20) -> int:
    from estate_platform.db import utcnow
    from estate_platform.tasks import drain_outbox
    with app.app_context():
        try:
            return drain_outbox(db.session, batch=batch, now=utcnow())
        finally:
            db.session.remove()


def test_the_drain_delivers_every_row_in_batches_and_then_nothing(world, app, parked):
    sender = RecordingSender()
    use_adapter(app, notify=sender)
    made = registrations(world, 5)
    sms = app.extensions["adapters"].sms.notices
    sms.clear()
    notifications, notices = outbox_left(app)
    assert notices == 5 and notifications >= 5
    assert drain(app, batch=2) == notifications + notices
    assert outbox_left(app) == (0, 0)
    pages = [page for _, page in sender.sent]
    for registration in made:
        assert pages.count(f"pages/registrations/detail?id={registration['id']}") == 1
    assert len(sms) == 5
    assert drain(app, batch=2) == 0
    assert len(sms) == 5 and len(sender.sent) == notifications


def test_a_provider_outage_stops_the_drain_and_leaves_the_rows_to_the_retries(world, app, parked):
    """WeChat down: the first failure is recorded as worth retrying (the redelivery sweep's), and the
    drain tries no further notification this run; the buyer notices still go out."""
    sender = RecordingSender([NotificationUnavailable()])
    use_adapter(app, notify=sender)
    registrations(world, 3)
    notifications, _ = outbox_left(app)
    assert drain(app) == 3  # the three SMS
    assert len(sender.sent) == 1
    assert outbox_left(app) == (notifications - 1, 0)
    assert drain(app) == notifications - 1  # the rest, next run
    assert outbox_left(app) == (0, 0)


@pytest.mark.postgres
def test_two_drains_at_once_deliver_each_row_once_and_leave_nothing(world, app, parked):
    """Drain A claims a batch (locked FOR UPDATE) and is caught in its first send; drain B, running
    meanwhile, skips A's locked rows and delivers the rest; A then finishes its batch. Every
    notification and notice is sent exactly once."""
    sender = RecordingSender()
    use_adapter(app, notify=sender)
    made = registrations(world, 6, consultants=3)
    sms = app.extensions["adapters"].sms.notices
    sms.clear()
    notifications, notices = outbox_left(app)
    sender.hold_in = "drain-a"
    results = {}
    first = threading.Thread(target=lambda: results.setdefault("a", drain(app, batch=3)), name="drain-a")
    first.start()
    try:
        assert sender.holding.wait(30), "drain A never started sending"
        results["b"] = drain(app, batch=3)
    finally:
        sender.release.set()
        first.join(60)
    assert not first.is_alive()
    assert results["a"] >= 3 and results["b"] >= 1  # both did part of the work
    assert results["a"] + results["b"] == notifications + notices
    assert len(sender.messages) == notifications and len(set(sender.messages)) == notifications
    assert sorted(phone for phone, *_ in sms) == sorted(set(phone for phone, *_ in sms)) and len(sms) == 6
    assert outbox_left(app) == (0, 0)
    pages = [page for _, page in sender.sent]
    for registration in made:
        assert pages.count(f"pages/registrations/detail?id={registration['id']}") == 1
