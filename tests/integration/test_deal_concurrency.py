"""DESIGN §7.1 and §7.5 under real concurrency on PostgreSQL: one live deal per unit, and
concurrent recognition runs post each deal once."""
from __future__ import annotations

import sys
from collections import Counter

import pytest
from sqlalchemy import func, select

from estate_platform.clock import local_date
from estate_platform.db import commit, db
from estate_platform.deals import batch as recognition_batch
from estate_platform.deals.models import CommissionNotice, Deal
from estate_platform.ledger import services as ledger
from estate_platform.ledger.models import LedgerTransaction
from estate_platform.notifications.models import Notification
from tests.conftest import now
from tests.parallel import at_once, parallel

pytestmark = pytest.mark.postgres


def test_twenty_staff_recording_the_same_unit_at_once_get_exactly_one_201(world, app):
    consultant = world.operating_consultant()
    project = world.project()
    world.split_policy()
    world.commission_rule(project)
    phones = [world.register(consultant, project)["buyer_phone"] for _ in range(20)]
    headers = world.staff_auth("finance")
    today = local_date(now()).isoformat()  # the Shanghai day the registrations were made on
    outcome = parallel(app, [
        (lambda c, phone=phone: c.post("/admin/api/v1/deals", headers=headers, json={
            "project_id": project, "buyer_phone": phone, "unit": "8-808", "price_cents": 100_000_000,
            "subscribed_on": today})) for phone in phones])
    assert outcome == Counter({(201, None): 1, (409, "unit_already_sold"): 19})
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Deal)) == 1


@pytest.mark.parametrize("read_ahead", [False, True], ids=["in turn", "read ahead"])
def test_concurrent_batch_runs_post_each_deal_exactly_once(world, app, read_ahead):
    consultant = world.operating_consultant()
    project = world.project()
    world.split_policy()
    world.commission_rule(project)
    ids = [world.deal(project, world.register(consultant, project)["buyer_phone"])["id"] for _ in range(12)]
    with app.app_context():  # reached the trigger without per-deal recognition (as a bulk import would)
        for deal in db.session.scalars(select(Deal).where(Deal.id.in_(ids))):
            deal.stage, deal.signed_on, deal.trigger_reached_on = "signed", deal.subscribed_on, deal.subscribed_on
        db.session.commit()

    def run() -> int:
        posted = recognition_batch.recognise_due(db.session, now=now(), chunk_size=5, after_chunk=lambda: commit(db.session),
                                           read_ahead=read_ahead)
        commit(db.session)
        return posted

    interval = sys.getswitchinterval()
    results, errors = at_once(app, run)
    assert errors == [] and sum(results) == 12
    assert sys.getswitchinterval() == interval  # the read-ahead batches' 1 ms, restored by the last to end
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LedgerTransaction)) == 12
        assert ledger.total(db.session) == 0 and ledger.unbalanced_transactions(db.session) == []
        assert all(d.recognised and d.lines_version == 1 for d in db.session.scalars(select(Deal)))
        # Each run's commits woke a drain (eagerly, in its thread): every deal told to its consultant
        # once, in however many messages the four runs and their drains made (deals.notices).
        told = db.session.scalars(select(Notification.body).where(Notification.consultant_id == consultant.id,
                                                                  Notification.kind == "commission_recognised"))
        assert sum(int(body.split(" 笔")[0]) for body in told) == 12
        assert db.session.scalar(select(func.count()).select_from(CommissionNotice)) == 0
