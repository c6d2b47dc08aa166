"""DESIGN §7.1: at most one binding registration per (project, buyer), under real concurrency."""
from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from estate_platform.db import db
from estate_platform.identity.models import Buyer
from estate_platform.registrations.models import Registration
from tests.parallel import parallel

pytestmark = pytest.mark.postgres


def test_twenty_consultants_registering_one_buyer_at_once_get_exactly_one_201(world, app):
    consultants = [world.operating_consultant() for _ in range(20)]
    project = world.project()
    body = {"project_id": project, "buyer_name": "抢客户", "buyer_phone": "13912341234"}
    outcome = parallel(app, [
        (lambda c, who=who: c.post("/api/mp/v1/registrations", json=body, headers=who.auth)) for who in consultants])
    assert outcome == Counter({(201, None): 1, (409, "already_registered"): 19})
    with app.app_context():
        binding = db.session.scalar(select(func.count()).select_from(Registration)
                                    .where(Registration.project_id == project, Registration.binding.is_(True)))
        total = db.session.scalar(select(func.count()).select_from(Registration))
    assert (binding, total) == (1, 1)


def test_one_consultant_double_tapping_registers_once(world, app):
    consultant = world.operating_consultant()
    project = world.project()
    body = {"project_id": project, "buyer_name": "双击", "buyer_phone": "13912345555"}
    outcome = parallel(app, [(lambda c: c.post("/api/mp/v1/registrations", json=body, headers=consultant.auth))] * 10)
    assert outcome == Counter({(201, None): 1, (409, "already_registered"): 9})


def test_consultants_registering_one_new_buyer_in_different_projects_at_once_share_one_buyer(
        world, app, monkeypatch):
    """The one INSERT statement of a new buyer loses the race on ``uq_buyers_phone`` but to one
    request: the others register the buyer the winner created (the step-by-step way)."""
    from estate_platform import db as db_module
    from estate_platform import tasks
    consultants = [world.operating_consultant() for _ in range(8)]
    projects = [world.project(daily_buyer_project_limit=20) for _ in consultants]
    # The drain's wake-ups are not run eagerly in the request threads: Celery's eager apply flips a
    # process-wide "no join inside a task" flag without a lock, and eight at once can leave it set
    # for the tests that follow in this process.
    monkeypatch.setitem(app.config["CELERY"], "task_always_eager", False)
    monkeypatch.setattr(db_module, "_wake_due", 0.0)
    monkeypatch.setattr(tasks.drain_outbox_task, "apply_async", lambda *a, **k: None)
    monkeypatch.setattr(tasks.drain_outbox_task, "delay", lambda *a, **k: None)
    phone = "13912346666"
    outcome = parallel(app, [
        (lambda c, who=who, project=project: c.post("/api/mp/v1/registrations", headers=who.auth, json={
            "project_id": project, "buyer_name": "新客户", "buyer_phone": phone}))
        for who, project in zip(consultants, projects)])
    assert outcome == Counter({(201, None): 8})
    with app.app_context():
        buyers = db.session.scalars(select(Buyer.id).where(Buyer.phone.endswith(phone[-8:]))).all()
        rows = db.session.execute(select(Registration.buyer_id, Registration.project_id)).all()
    assert len(buyers) == 1
    assert sorted(rows) == sorted((buyers[0], project) for project in projects)
