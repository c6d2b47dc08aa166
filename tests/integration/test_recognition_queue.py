"""The queue of due deals (issue 16 §2, migration c9d0e1f2a3b4): the recognition batch finds due
deals in ``deal_recognition_queue``, which triggers on ``deals`` keep. Whatever path makes a deal
due (its trigger reached, its commission reversed) or not due (recognised, cancelled), the queue
must hold exactly the due deals afterwards, so the batch misses none. Runs on SQLite and on
PostgreSQL (the CI's two passes)."""
from __future__ import annotations

import pytest
from sqlalchemy import select, text

from estate_platform import migrate
from estate_platform.clock import SHANGHAI
from estate_platform.db import commit, db
from estate_platform.deals import batch as recognition_batch, recognition, services as deals
from estate_platform.deals.models import Deal, DueDeal
from estate_platform.evidence.services import Actor
from estate_platform.ledger import services as ledger
from tests.conftest import now

ADMIN = "/admin/api/v1"


def today():
    return now().astimezone(SHANGHAI).date()


def queued(session) -> set[int]:
    return set(session.scalars(select(DueDeal.deal_id)))


def due(session) -> set[int]:
    """The due deals, read from ``deals`` itself."""
    return set(session.scalars(select(Deal.id).where(*recognition.DUE)))


def assert_queue_right(app) -> set[int]:
    with app.app_context():
        db.session.expire_all()
        assert queued(db.session) == due(db.session)
        return queued(db.session)


@pytest.fixture
def scene(world):
    """Two consultants (the second takes a deal over after a dispute), a project paying 2 % on signing."""
    project = world.project()
    world.commission_rule(project)
    world.split_policy()
    serving = world.operating_consultant(name="甲")
    rightful = world.operating_consultant(name="乙")

    def new_deal(**fields) -> int:
        phone = world.register(serving, project)["buyer_phone"]
        return world.deal(project, phone, **fields)["id"]

    return {"project": project, "serving": serving, "rightful": rightful, "new_deal": new_deal}


def signed_without_recognition(app, *deal_ids: int) -> None:
    """The trigger reached by a plain UPDATE, as an import would (no per-deal recognition)."""
    with app.app_context():
        for deal_id in deal_ids:
            deal = db.session.get(Deal, deal_id)
            deal.stage, deal.signed_on, deal.trigger_reached_on = "signed", today(), today()
        commit(db.session)


def recognise_due(app) -> int:
    with app.app_context():
        posted = recognition_batch.recognise_due(db.session, now=now(), chunk_size=2, after_chunk=lambda: commit(db.session))
        commit(db.session)
        return posted


def state(app, deal_id: int) -> tuple[str, bool, int]:
    with app.app_context():
        deal = db.session.get(Deal, deal_id)
        return deal.stage, deal.recognised, deal.lines_version


def test_the_queue_holds_exactly_the_due_deals_through_every_path(world, client, app, scene):
    finance = world.staff_auth("finance")
    recorded, signed_now, imported, cancelled_due, repriced, reassigned = (scene["new_deal"]() for _ in range(6))
    assert assert_queue_right(app) == set()  # subscribed: no trigger reached

    # Signing through the API recognises the deal at once: in and out of the queue in one transaction.
    world.stage(signed_now, "signed")
    assert state(app, signed_now) == ("signed", True, 1)
    assert assert_queue_right(app) == set()

    # The trigger reached without recognition: due, queued.
    signed_without_recognition(app, imported, cancelled_due, repriced, reassigned)
    assert assert_queue_right(app) == {imported, cancelled_due, repriced, reassigned}

    # Cancelling a due deal takes it out.
    response = client.post(f"{ADMIN}/deals/{cancelled_due}/cancel", json={"reason": "客户退房"}, headers=finance)
    assert response.status_code == 200, response.get_json()
    assert assert_queue_right(app) == {imported, repriced, reassigned}

    # The batch recognises the rest and empties the queue; a second run finds nothing.
    assert recognise_due(app) == 3
    assert assert_queue_right(app) == set()
    assert recognise_due(app) == 0

    # Re-pricing a recognised deal reverses and recognises it again in one transaction.
    response = client.post(f"{ADMIN}/deals/{repriced}/price", json={"price_cents": 250_000_000, "reason": "网签价"},
                           headers=finance)
    assert response.status_code == 200, response.get_json()
    assert state(app, repriced) == ("signed", True, 2)
    assert assert_queue_right(app) == set()

    # A dispute upheld against the serving consultant: reversed and recognised along the rightful chain.
    with app.app_context():
        deals.reassign_serving_consultant(db.session, reassigned, scene["rightful"].id, reason="报备争议成立",
                                          actor=Actor("system"), now=now())
        commit(db.session)
    assert state(app, reassigned) == ("signed", True, 2)
    assert assert_queue_right(app) == set()

    # A reversal on its own (the commission taken back, the deal still live) makes the deal due
    # again; the batch recognises it anew (the next version).
    with app.app_context():
        deal = db.session.get(Deal, imported)
        assert recognition.reverse(db.session, deal, reason="更正", now=now(), actor_type="system")
        commit(db.session)
    assert state(app, imported) == ("signed", False, 1)
    assert assert_queue_right(app) == {imported}
    assert recognise_due(app) == 1
    assert state(app, imported) == ("signed", True, 2)
    assert assert_queue_right(app) == set()

    # Cancelling a recognised deal: its commission reversed (clawback), and it is not due.
    response = client.post(f"{ADMIN}/deals/{imported}/cancel", json={"reason": "客户退房"}, headers=finance)
    assert response.status_code == 200, response.get_json()
    assert state(app, imported)[:2] == ("cancelled", False)
    assert assert_queue_right(app) == set()

    # Signing the still-subscribed deal through the API, at last.
    world.stage(recorded, "signed")
    assert assert_queue_right(app) == set()
    with app.app_context():
        assert ledger.total(db.session) == 0 and ledger.unbalanced_transactions(db.session) == []
        recognised = set(db.session.scalars(select(Deal.id).where(Deal.recognised.is_(True))))
    assert recognised == {recorded, signed_now, repriced, reassigned}


def test_the_database_keeps_the_queue_whatever_statement_changes_a_deal(world, app, scene):
    """Plain SQL, not the services: the triggers alone keep every due deal queued."""
    first, second = scene["new_deal"](), scene["new_deal"]()
    with app.app_context():
        session = db.session
        session.execute(text("UPDATE deals SET stage = 'signed', signed_on = subscribed_on, "
                             "trigger_reached_on = subscribed_on"))
        commit(session)
        assert queued(session) == due(session) == {first, second}
        # A column the rule does not read changes nothing.
        session.execute(text(f"UPDATE deals SET price_cents = price_cents + 100 WHERE id = {first}"))
        commit(session)
        assert queued(session) == {first, second}
        session.execute(text(f"UPDATE deals SET stage = 'cancelled', cancelled_at = updated_at, "
                             f"cancel_reason = '退房' WHERE id = {second}"))
        commit(session)
        assert queued(session) == due(session) == {first}
    # Recognised by hand (not through recognition): the row stays until the batch meets the deal,
    # which posts nothing for it and takes the row out.
    with app.app_context():
        db.session.execute(text(f"UPDATE deals SET recognised = true, lines_version = 1 WHERE id = {first}"))
        commit(db.session)
        assert queued(db.session) == {first} and due(db.session) == set()
        assert recognition_batch.count_due(db.session) == 0
    assert recognise_due(app) == 0
    assert assert_queue_right(app) == set()
    with app.app_context():
        # Back to due (a reversal by hand): queued again; the batch recognises the next version.
        db.session.execute(text(f"UPDATE deals SET recognised = false WHERE id = {first}"))
        commit(db.session)
        assert queued(db.session) == {first} and recognition_batch.count_due(db.session) == 1
    assert recognise_due(app) == 1
    assert state(app, first) == ("signed", True, 2)
    assert assert_queue_right(app) == set()


def test_a_deal_inserted_due_is_queued_and_a_deleted_one_leaves(world, app, scene):
    source = scene["new_deal"]()
    with app.app_context():
        session = db.session
        columns = [c.name for c in Deal.__table__.columns if c.name not in ("id", "unit", "registration_id")]
        listed = ", ".join(columns)
        # A copy of the deal, inserted already signed (as a bulk load would), for another registration.
        registration = world.register(scene["serving"], scene["project"])["id"]
        session.execute(text(f"INSERT INTO deals (unit, registration_id, {listed}) "
                             f"SELECT 'B-1', {registration}, {listed} FROM deals WHERE id = {source}"))
        session.execute(text("UPDATE deals SET stage = 'signed', signed_on = subscribed_on, "
                             "trigger_reached_on = subscribed_on WHERE unit = 'B-1'"))
        commit(session)
        copy = session.scalar(select(Deal.id).where(Deal.unit == "B-1"))
        assert queued(session) == due(session) == {copy}
        session.execute(text(f"DELETE FROM deals WHERE id = {copy}"))  # nothing refers to it yet
        commit(session)
        assert queued(session) == due(session) == set()
        session.execute(text(f"INSERT INTO deals (unit, registration_id, {listed}) "
                             f"SELECT 'B-2', {registration}, {listed} FROM deals WHERE id = {source}"))
        commit(session)
        assert queued(session) == set()  # inserted not due
        session.execute(text("DELETE FROM deals WHERE unit = 'B-2'"))
        session.execute(text(f"UPDATE deals SET trigger_reached_on = subscribed_on, stage = 'signed', "
                             f"signed_on = subscribed_on WHERE id = {source}"))
        # Inserted due: a row trigger on INSERT (and COPY) queues it.
        session.execute(text(f"INSERT INTO deals (unit, registration_id, {listed}) "
                             f"SELECT 'B-3', {registration}, {listed} FROM deals WHERE id = {source}"))
        commit(session)
        inserted = session.scalar(select(Deal.id).where(Deal.unit == "B-3"))
        assert queued(session) == due(session) == {source, inserted}


def test_the_migration_queues_the_deals_due_before_it_and_downgrades(world, app, scene, database_url):
    """Downgraded to the revision before, the queue is gone and the old index is back; upgraded
    again, the deals due meanwhile are queued."""
    due_deal, recognised = scene["new_deal"](), scene["new_deal"]()
    world.stage(recognised, "signed")
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    migrate.downgrade(database_url, "b8c9d0e1f2a3")
    with app.app_context():
        assert db.session.execute(text("SELECT COUNT(*) FROM deals")).scalar() == 2
        db.session.execute(text(f"UPDATE deals SET stage = 'signed', signed_on = subscribed_on, "
                                f"trigger_reached_on = subscribed_on WHERE id = {due_deal}"))
        commit(db.session)
        db.session.remove()
        db.engine.dispose()
    migrate.upgrade(database_url)
    assert assert_queue_right(app) == {due_deal}
    assert recognise_due(app) == 1
    assert assert_queue_right(app) == set()
