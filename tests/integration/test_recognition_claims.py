"""Recognition plans from reads and claims each deal before it posts (issue 16 §2): a deal cancelled,
re-priced, reassigned or recognised between its plan and its write is left as it is now, and the
batch's read-ahead (the next chunk read and planned on a second connection, in a thread) recognises
what the batch in turn does, stops with its writer or its planner, and leaves no thread behind.
The claims on both databases; the read-ahead on PostgreSQL (elsewhere the batch reads in turn)."""
from __future__ import annotations

import sys
import threading

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from estate_platform.commissions.models import CommissionLine
from estate_platform.db import commit, db
from estate_platform.deals import batch as recognition_batch, recognition
from estate_platform.deals.models import Deal, DueDeal
from estate_platform.ledger import services as ledger
from estate_platform.ledger.models import LedgerTransaction, Posting
from estate_platform.ledger.services import Entry, Leg
from tests.conftest import now


@pytest.fixture
def due(world, app):
    """A maker of deals that reached their trigger without recognition (a plain UPDATE, as an
    import would): the batch's to recognise. An inviter above the serving consultant, so each
    deal's chain has two members."""
    project = world.project()
    world.commission_rule(project)
    world.split_policy()
    inviter = world.operating_consultant(name="甲")
    serving = world.operating_consultant(name="乙", inviter_code=inviter.invite_code)

    def make(count: int) -> list[int]:
        ids = [world.deal(project, world.register(serving, project)["buyer_phone"])["id"] for _ in range(count)]
        with app.app_context():
            for deal in db.session.scalars(select(Deal).where(Deal.id.in_(ids))):
                deal.stage, deal.signed_on, deal.trigger_reached_on = "signed", deal.subscribed_on, deal.subscribed_on
            commit(db.session)
        return ids
    make.serving, make.other = serving, inviter
    return make


def queued(ids: list[int]) -> list:
    """These deals as the batch reads them (rows of ``RECOGNITION_COLUMNS``)."""
    return db.session.execute(select(*recognition.RECOGNITION_COLUMNS).where(Deal.id.in_(ids))
                              .order_by(Deal.id)).all()


def postings_by_key() -> dict[str, list[int]]:
    """Each ledger transaction's leg amounts, by idempotency key."""
    found: dict[str, list[int]] = {}
    for key, amount in db.session.execute(select(LedgerTransaction.idempotency_key, Posting.amount_cents)
                                          .join(Posting, Posting.transaction_id == LedgerTransaction.id)):
        found.setdefault(key, []).append(amount)
    return {key: sorted(amounts) for key, amounts in found.items()}


def state(deal_id: int) -> tuple:
    deal = db.session.execute(select(Deal.recognised, Deal.lines_version).where(Deal.id == deal_id)).one()
    lines = db.session.scalar(select(func.count()).select_from(CommissionLine).where(CommissionLine.deal_id == deal_id))
    keys = db.session.scalar(select(func.count()).select_from(LedgerTransaction)
                             .where(LedgerTransaction.deal_id == deal_id))
    in_queue = db.session.get(DueDeal, deal_id) is not None
    return tuple(deal), lines, keys, in_queue


@pytest.mark.parametrize("change", [
    pytest.param({"stage": "cancelled", "cancelled_at": now(), "cancel_reason": "退房"}, id="cancelled"),
    pytest.param({"commission_cents": 123_456}, id="re-priced"),
    pytest.param("reassigned", id="reassigned"),
    pytest.param({"recognised": True, "lines_version": 1}, id="recognised by another run"),
])
def test_a_deal_changed_after_its_plan_is_left_as_it_is_now(due, app, change):
    ids = due(3)
    with app.app_context():
        planned = recognition.plan(db.session, queued(ids))
        changed = ids[1]
        if change == "reassigned":
            change = {"consultant_id": due.other.id}
        # Committed by someone else between the plan and its write (READ COMMITTED sees it).
        db.session.execute(update(Deal).where(Deal.id == changed).values(**change))
        commit(db.session)
        recognised = recognition.write(db.session, planned, now=now())
        commit(db.session)

        assert sorted(recognised) == [ids[0], ids[2]]
        for deal_id in (ids[0], ids[2]):
            assert state(deal_id)[:3] == ((True, 1), 3, 1)  # fee, serving, upline
        (recognised_now, version), lines, keys, in_queue = state(changed)
        assert (lines, keys) == (0, 0)  # nothing posted for it
        assert (recognised_now, version) == (change.get("recognised", False), change.get("lines_version", 0))
        assert ledger.total(db.session) == 0 and ledger.unbalanced_transactions(db.session) == []
        if "commission_cents" in change or "consultant_id" in change:
            # Still due: the next run plans it again, from what it is now.
            assert in_queue
            assert recognition_batch.recognise_due(db.session, now=now()) == 1
            commit(db.session)
            legs = postings_by_key()[f"deal:{changed}:recognise:v1"]
            assert max(legs) == change.get("commission_cents", max(legs))
            parties = set(db.session.scalars(select(CommissionLine.party_id).where(
                CommissionLine.deal_id == changed, CommissionLine.party_type == "consultant")))
            assert parties == ({due.other.id} if "consultant_id" in change else {due.serving.id, due.other.id})


def test_a_claimed_deal_whose_key_exists_is_refused_not_recognised_without_lines(due, app):
    ids = due(2)
    with app.app_context():
        planned = recognition.plan(db.session, queued(ids))
        # A transaction under the key the plan would post, the deal still unrecognised at version 0
        # (this module never leaves that: the deal's row and its ledger disagree).
        ledger.post(db.session, Entry(f"deal:{ids[0]}:recognise:v1", "commission_recognised", "forged", (
            Leg("developer", 1, "receivable", 100), Leg("platform", 0, "revenue", -100)), deal_id=ids[0]),
            now=now())
        commit(db.session)
        with pytest.raises(recognition.KeyAlreadyPosted, match=f"deal:{ids[0]}:recognise:v1"):
            recognition.write(db.session, planned, now=now())
        db.session.rollback()
        assert state(ids[1]) == ((False, 0), 0, 0, True)  # the chunk as a whole did not happen


# --- read-ahead (PostgreSQL) ---------------------------------------------------------------

def planning_threads(monkeypatch, fail_on: int | None = None) -> list[str]:
    """Record which thread plans each chunk; ``fail_on``: the planning of that chunk (1-based) raises."""
    names: list[str] = []
    plan = recognition.plan

    def recording(session, deals, context=None):
        names.append(threading.current_thread().name)
        if len(names) == fail_on:
            raise RuntimeError("planner failed")
        return plan(session, deals, context)
    monkeypatch.setattr(recognition, "plan", recording)
    return names


def read_ahead_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("recognition-read-ahead")]


@pytest.mark.postgres
def test_read_ahead_plans_in_a_thread_and_posts_what_the_plans_say(due, app, monkeypatch):
    ids = due(11)
    interval = sys.getswitchinterval()
    with app.app_context():
        expected = {e.idempotency_key: sorted(leg.amount_cents for leg in e.legs)
                    for e in recognition.plan(db.session, queued(ids)).entries}
        commit(db.session)
        names = planning_threads(monkeypatch)
        switch_during: list[float] = []

        def after_chunk():
            switch_during.append(sys.getswitchinterval())
            commit(db.session)
        assert recognition_batch.recognise_due(db.session, now=now(), chunk_size=4, after_chunk=after_chunk,
                                         read_ahead=True) == 11
        commit(db.session)
        assert postings_by_key() == expected
        assert len(names) == 3 and all(name.startswith("recognition-read-ahead") for name in names)
        assert switch_during and all(s == min(0.001, interval) for s in switch_during)
    assert sys.getswitchinterval() == interval and read_ahead_threads() == []


@pytest.mark.postgres
def test_read_ahead_in_turn_elsewhere_and_with_a_limit(due, app, monkeypatch):
    due(7)
    with app.app_context():
        names = planning_threads(monkeypatch)
        assert recognition_batch.recognise_due(db.session, now=now(), chunk_size=4, limit=6, read_ahead=True,
                                         after_chunk=lambda: commit(db.session)) == 6
        commit(db.session)
        assert db.session.scalar(select(func.count()).select_from(DueDeal)) == 1
        assert [name.startswith("recognition-read-ahead") for name in names] == [True, True]
        # A session bound to a connection (its transaction the caller's) reads in turn, on it.
        names.clear()
        with db.engine.connect() as connection:
            with Session(bind=connection) as own:
                assert recognition_batch.recognise_due(own, now=now(), read_ahead=True) == 1
                own.commit()
            connection.commit()
        assert names == [threading.current_thread().name]


@pytest.mark.postgres
def test_a_planner_failure_stops_the_batch_after_the_chunks_written(due, app, monkeypatch):
    ids = due(10)
    interval = sys.getswitchinterval()
    with app.app_context():
        planning_threads(monkeypatch, fail_on=2)
        with pytest.raises(RuntimeError, match="planner failed"):
            recognition_batch.recognise_due(db.session, now=now(), chunk_size=4, read_ahead=True,
                                      after_chunk=lambda: commit(db.session))
        db.session.rollback()
        # The first chunk was written and committed before the second's plan was needed.
        assert [state(deal_id)[0][0] for deal_id in ids] == [True] * 4 + [False] * 6
    assert sys.getswitchinterval() == interval and read_ahead_threads() == []
    monkeypatch.undo()
    with app.app_context():
        assert recognition_batch.recognise_due(db.session, now=now(), read_ahead=True,
                                         after_chunk=lambda: commit(db.session)) == 6
        commit(db.session)
        assert ledger.total(db.session) == 0 and ledger.unbalanced_transactions(db.session) == []


@pytest.mark.postgres
def test_a_writer_failure_stops_the_read_ahead(due, app, monkeypatch):
    ids = due(9)
    interval = sys.getswitchinterval()
    with app.app_context():
        names = planning_threads(monkeypatch)
        commits = []

        def after_chunk():
            commit(db.session)
            commits.append(1)
            if len(commits) == 2:
                raise RuntimeError("writer failed")
        with pytest.raises(RuntimeError, match="writer failed"):
            recognition_batch.recognise_due(db.session, now=now(), chunk_size=3, read_ahead=True, after_chunk=after_chunk)
        db.session.rollback()
        assert [state(deal_id)[0][0] for deal_id in ids] == [True] * 6 + [False] * 3
        assert len(names) == 3  # the third chunk was planned ahead, and not written
    assert sys.getswitchinterval() == interval and read_ahead_threads() == []
