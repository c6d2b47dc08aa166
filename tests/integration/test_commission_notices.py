"""Telling consultants their recognised commissions through the outbox of notices (issue 16 §2,
``deals.notices``, migration d0e1f2a3b4c5): one message per consultant per batch however many
chunks his deals fall in, none while the batch runs, a stalled batch's late but not lost, a single
recognition's at once, and each notice told once however many drains run. SQLite and PostgreSQL;
the concurrent drains on PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from estate_platform.commissions.models import CommissionLine
from estate_platform.db import commit, db
from estate_platform.deals import batch as recognition_batch, notices, recognition
from estate_platform.deals.models import CommissionNotice, Deal
from estate_platform.money import yuan
from estate_platform.notifications.models import Notification
from estate_platform.tasks import drain_outbox
from tests.conftest import now
from tests.parallel import at_once


@pytest.fixture
def team(world):
    """An inviter and the consultant he invited, a project paying 2 % on signing."""
    project = world.project()
    world.commission_rule(project)
    world.split_policy()
    inviter = world.operating_consultant(name="甲")
    serving = world.operating_consultant(name="乙", inviter_code=inviter.invite_code)
    return {"project": project, "inviter": inviter, "serving": serving}


def due_deals(world, app, team, count: int) -> list[int]:
    """``count`` deals of the serving consultant that reached their trigger without recognition
    (a plain UPDATE, as an import would): the batch's to recognise."""
    ids = [world.deal(team["project"], world.register(team["serving"], team["project"])["buyer_phone"])["id"]
           for _ in range(count)]
    with app.app_context():
        for deal in db.session.scalars(select(Deal).where(Deal.id.in_(ids))):
            deal.stage, deal.signed_on, deal.trigger_reached_on = "signed", deal.subscribed_on, deal.subscribed_on
        commit(db.session)
    return ids


def told(app, consultant_id: int) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Notification.body).where(
            Notification.consultant_id == consultant_id, Notification.kind == "commission_recognised")
            .order_by(Notification.id)))


def lines_of(app, consultant_id: int, deal_ids: list[int], version: int | None = None) -> int:
    """The total of the consultant's lines of these deals (of one version, or of all)."""
    with app.app_context():
        query = select(func.sum(CommissionLine.amount_cents)).where(
            CommissionLine.party_type == "consultant", CommissionLine.party_id == consultant_id,
            CommissionLine.deal_id.in_(deal_ids))
        if version is not None:
            query = query.where(CommissionLine.version == version)
        return int(db.session.scalar(query))


def left(app) -> list[tuple[str | None, str]]:
    with app.app_context():
        return [tuple(row) for row in db.session.execute(select(CommissionNotice.held_for, CommissionNotice.deals))]


def test_a_batch_tells_each_consultant_once_whatever_the_chunks(world, app, team):
    ids = due_deals(world, app, team, 5)
    seen_mid_batch = []

    def after_chunk():
        commit(db.session)  # the task's commit per chunk: it wakes no drain, and a drain takes nothing
        seen_mid_batch.append(drain_outbox(db.session, batch=20, now=now()))

    with app.app_context():
        assert recognition_batch.recognise_due(db.session, now=now(), chunk_size=2, after_chunk=after_chunk) == 5
        assert [held is not None for held, _ in left(app)] == [True, True, True]  # 3 chunks, still held
        assert told(app, team["serving"].id) == []
        commit(db.session)  # the batch's last transaction releases them and wakes the drain (eager here)
    assert seen_mid_batch == [0, 0, 0] and left(app) == []
    for consultant in (team["serving"], team["inviter"]):  # the serving consultant and his upline
        amount = lines_of(app, consultant.id, ids)
        assert amount > 0
        assert told(app, consultant.id) == [f"5 笔成交佣金已确认，共 {yuan(amount)}，待开发商回款后可提现"]


def test_a_single_recognition_is_told_when_it_commits(world, app, team):
    [deal_id] = [world.deal(team["project"], world.register(team["serving"], team["project"])["buyer_phone"])["id"]]
    world.stage(deal_id, "signed")  # recognised in the request; its commit wakes the drain
    assert told(app, team["serving"].id) == [
        f"1 笔成交佣金已确认，共 {yuan(lines_of(app, team['serving'].id, [deal_id]))}，待开发商回款后可提现"]
    assert left(app) == []


def test_a_batch_that_died_is_told_late_but_not_lost(world, app, team):
    ids = due_deals(world, app, team, 3)
    started = now()
    with app.app_context():  # the batch's chunks committed, then the process died: never released
        recognition_batch.recognise_due(db.session, now=started, chunk_size=1, after_chunk=lambda: db.session.commit())
        db.session.rollback()
        assert len(left(app)) == 3
        assert notices.fan_out(db.session, now=started + notices.STALLED_AFTER - timedelta(seconds=1)) == (0, 0)
        assert notices.fan_out(db.session, now=started + notices.STALLED_AFTER + timedelta(seconds=1)) == (3, 2)
        commit(db.session)
    assert left(app) == []
    assert told(app, team["serving"].id) == [
        f"3 笔成交佣金已确认，共 {yuan(lines_of(app, team['serving'].id, ids))}，待开发商回款后可提现"]


def test_a_deal_repriced_before_the_drain_is_told_with_its_current_lines(world, app, team):
    [deal_id] = due_deals(world, app, team, 1)
    with app.app_context():
        recognition_batch.recognise_due(db.session, now=now())
        db.session.commit()  # released, not yet drained (a plain commit wakes nothing)
        deal = db.session.get(Deal, deal_id)
        recognition.reverse(db.session, deal, reason="价格更正", now=now(), actor_type="system")
        deal.commission_cents //= 2
        recognition.recognise(db.session, [deal], now=now())
        db.session.commit()
        assert deal.lines_version == 2 and len(left(app)) == 2
        drain_outbox(db.session, batch=20, now=now())
    current = lines_of(app, team["serving"].id, [deal_id], version=2)  # the lines of version 2 only
    assert told(app, team["serving"].id) == [f"1 笔成交佣金已确认，共 {yuan(current)}，待开发商回款后可提现"]


def test_a_notice_must_list_deals(app):
    from sqlalchemy.exc import IntegrityError
    with app.app_context():
        for bad in ("", "{}", "12"):
            with pytest.raises(IntegrityError):
                db.session.add(CommissionNotice(deals=bad, created_at=now()))
                db.session.flush()
            db.session.rollback()


@pytest.mark.postgres
def test_concurrent_drains_tell_each_notice_once(world, app, team):
    ids = due_deals(world, app, team, 8)
    with app.app_context():
        recognition_batch.recognise_due(db.session, now=now(), chunk_size=1, after_chunk=lambda: db.session.commit())
        db.session.commit()  # eight notices released, none drained yet
    def drain() -> list[tuple[int, int]]:
        taken = []
        while (got := notices.fan_out(db.session, now=now(), limit=1))[0]:
            taken.append(got)
            commit(db.session)
        return taken

    runs, errors = at_once(app, drain)
    taken = [got for run in runs for got in run]
    assert errors == [] and sum(n for n, _ in taken) == 8 and left(app) == []
    counts = [int(body.split(" 笔")[0]) for body in told(app, team["serving"].id)]
    assert sum(counts) == 8  # every deal told once, in however many messages the drains made
    assert sum(int(body.split(" 笔")[0]) for body in told(app, team["inviter"].id)) == 8
    assert lines_of(app, team["serving"].id, ids) > 0
