"""Consultant credit (信用分, DESIGN §4): one event per cause, a clamped score the pool
routes by, tenure, and the daily registration cap below the threshold."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from estate_platform.consultants.models import Consultant
from estate_platform.credit import rules
from estate_platform.credit import services as credit
from estate_platform.credit.models import CreditEvent
from estate_platform.db import db
from estate_platform.notifications.models import Notification
from tests.conftest import now

from .dispute_scene import run

MP = "/api/mp/v1"


def score(app, consultant_id):
    return run(app, lambda s: s.get(Consultant, consultant_id).rating)


def set_score(app, consultant_id, value):
    def change(session):
        session.get(Consultant, consultant_id).rating = value
    run(app, change)


def test_a_cause_counts_once_however_often_it_is_reported(app, world):
    consultant = world.operating_consultant()
    first = run(app, lambda s: credit.risk_flagged(s, consultant.id, 9, "防截客：报备后 2 分钟到访", now=now()))
    again = run(app, lambda s: credit.risk_flagged(s, consultant.id, 9, "防截客：报备后 2 分钟到访", now=now()))
    assert first is not None and again is None
    assert (first.delta, first.score_after) == (-5, 75) and score(app, consultant.id) == 75
    assert run(app, lambda s: s.scalar(select(func.count()).select_from(CreditEvent))) == 1
    told = run(app, lambda s: s.scalars(select(Notification.body).where(Notification.kind == "credit_changed")).all())
    assert told == ["您的信用分 -5，现为 75 分（风控预警 #9：防截客：报备后 2 分钟到访）"]


def test_the_score_stays_between_0_and_100_and_the_event_records_what_really_changed(app, world):
    consultant = world.operating_consultant()
    set_score(app, consultant.id, 99)
    assert run(app, lambda s: credit.revisit_confirmed(s, consultant.id, 1, now=now())).delta == 1
    capped = run(app, lambda s: credit.revisit_confirmed(s, consultant.id, 2, now=now()))
    assert (capped.delta, capped.score_after) == (0, 100)
    set_score(app, consultant.id, 10)
    floored = run(app, lambda s: credit.dispute_upheld(s, consultant.id, 7, "抢客", now=now()))
    assert (floored.delta, floored.score_after, score(app, consultant.id)) == (-10, 0, 0)
    # No notification when nothing changed.
    kinds = run(app, lambda s: s.scalars(select(Notification.body).where(Notification.kind == "credit_changed")
                                         .order_by(Notification.id)).all())
    assert len(kinds) == 2 and "低于 60 分时每日报备数量受限" in kinds[-1]


def test_the_database_keeps_the_history_append_only(app, world):
    from sqlalchemy.exc import IntegrityError
    consultant = world.operating_consultant()
    run(app, lambda s: credit.revisit_confirmed(s, consultant.id, 1, now=now()))

    def rewrite(session):
        session.scalar(select(CreditEvent)).delta = 50
        session.flush()
    with pytest.raises(IntegrityError):
        run(app, rewrite)


def test_tenure_adds_one_point_per_full_month_active_once(app, world):
    senior = world.operating_consultant()
    junior = world.operating_consultant()

    def backdate(session):
        session.get(Consultant, senior.id).approved_at = now() - timedelta(days=65)
    run(app, backdate)
    assert run(app, lambda s: credit.award_tenure(s, now=now())) == 1
    assert run(app, lambda s: credit.award_tenure(s, now=now())) == 0  # the same month counts once
    assert (score(app, senior.id), score(app, junior.id)) == (81, 80)
    ref = run(app, lambda s: s.scalar(select(CreditEvent.ref).where(CreditEvent.consultant_id == senior.id)))
    assert ref == "tenure:2"
    # A month later, the next month counts for him, and the first for his junior.
    assert run(app, lambda s: credit.award_tenure(s, now=now() + timedelta(days=31))) == 2
    assert (score(app, senior.id), score(app, junior.id)) == (82, 81)


def test_the_tenure_task_is_scheduled_daily():
    from estate_platform.tasking import BEAT_SCHEDULE
    assert BEAT_SCHEDULE["credit-award-tenure"]["task"] == "credit.award_tenure"


# --- low credit caps registrations ------------------------------------------------------------------

def test_below_the_threshold_a_consultant_registers_at_most_the_projects_daily_cap(app, world, client):
    consultant = world.operating_consultant()
    project = world.project(daily_consultant_registration_cap_low_credit=2)
    set_score(app, consultant.id, rules.LOW_CREDIT_THRESHOLD - 1)
    world.register(consultant, project)
    world.register(consultant, project)
    refused = client.post(f"{MP}/registrations", headers=consultant.auth, json={
        "project_id": project, "buyer_name": "钱女士", "buyer_phone": world.next_buyer_phone()})
    assert refused.status_code == 429
    error = refused.get_json()["error"]
    assert error["code"] == "low_credit_daily_cap" and error["details"]["limit"] == 2
    assert 0 < int(refused.headers["Retry-After"]) <= 24 * 3600
    # Another project has its own cap; at the threshold there is none.
    world.register(consultant, world.project())
    set_score(app, consultant.id, rules.LOW_CREDIT_THRESHOLD)
    world.register(consultant, project)


def count_statements(app, action) -> int:
    statements = []

    def listen(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", listen)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    return len(statements)


def test_the_cap_costs_no_statement_on_either_path(app, world):
    """The low score's count is one more subquery of the registration's one SELECT (issue 16 §1)."""
    consultant = world.operating_consultant()
    project = world.project()
    world.register(consultant, project)  # warm up: accounts, cards, caches
    normal = count_statements(app, lambda: world.register(consultant, project))
    set_score(app, consultant.id, 30)
    low = count_statements(app, lambda: world.register(consultant, project))
    assert low == normal
# --- the consultant reads his score -------------------------------------------------------------

def test_a_consultant_reads_his_score_and_its_history(app, world, client):
    consultant = world.operating_consultant()
    run(app, lambda s: credit.risk_flagged(s, consultant.id, 3, "短时成交", now=now()))
    run(app, lambda s: credit.revisit_confirmed(s, consultant.id, 4, now=now()))
    body = client.get(f"{MP}/credit", headers=consultant.auth).get_json()
    assert body["score"] == 76 and body["threshold"] == 60 and body["low"] is False
    assert [(e["delta"], e["reason_code"], e["score_after"]) for e in body["events"]] == [
        (1, "revisit_confirmed", 76), (-5, "risk_flag", 75)]
    assert body["events"][1]["reason_label"] == "风控预警"
    other = world.operating_consultant()
    assert client.get(f"{MP}/credit", headers=other.auth).get_json()["events"] == []


