"""Exposure limits under real concurrent requests on PostgreSQL (issue 13 §1): reservations are
serialised by the settings row lock, so no limit is ever exceeded."""
from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from estate_platform.buyback.models import BuybackLine
from estate_platform.db import db
from tests.integration.test_buyback import MP, quote, set_settings, signed_line
from tests.parallel import parallel

pytestmark = pytest.mark.postgres


def test_twenty_concurrent_requests_never_exceed_the_developers_limit(world, app):
    first = signed_line(world)
    sold = [first] + [signed_line(world, project_id=first.project_id) for _ in range(19)]
    quotes = [quote(world, s)["id"] for s in sold]  # quoting reserves nothing
    set_settings(world, developer_limit_cents=5 * first.face_cents)
    outcome = parallel(app, [
        (lambda c, s=s, q=q: c.post(f"{MP}/buyback/requests", json={"quote_id": q}, headers=s.consultant.auth))
        for s, q in zip(sold, quotes)])
    assert outcome == Counter({(201, None): 5, (409, "buyback_developer_limit"): 15})
    with app.app_context():
        reserved = db.session.scalar(select(func.sum(BuybackLine.face_cents)).where(BuybackLine.status == "reserved"))
        assert reserved == 5 * first.face_cents


def test_one_consultant_racing_himself_never_exceeds_his_limit(world, app):
    first = signed_line(world)
    mine = [first] + [signed_line(world, consultant=first.consultant, project_id=first.project_id)
                      for _ in range(5)]
    quotes = [quote(world, s)["id"] for s in mine]
    set_settings(world, consultant_limit_cents=2 * first.face_cents)
    outcome = parallel(app, [
        (lambda c, q=q: c.post(f"{MP}/buyback/requests", json={"quote_id": q}, headers=first.consultant.auth))
        for q in quotes])
    assert outcome == Counter({(201, None): 2, (409, "buyback_consultant_limit"): 4})
