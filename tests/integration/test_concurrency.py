"""Concurrency claims, proven with real parallel requests against PostgreSQL."""
from __future__ import annotations

from collections import Counter

import pytest

from tests.parallel import parallel

pytestmark = pytest.mark.postgres


def test_twenty_applications_with_the_same_phone_give_exactly_one_consultant(world, app):
    tokens = [world.wechat_login()[0] for _ in range(20)]
    body = {"name": "抢注", "phone": "13866668888", "city": "南京", "kind": "independent"}
    outcome = parallel(app, [
        (lambda c, t=t: c.post("/api/mp/v1/consultants", json=body, headers={"Authorization": f"Bearer {t}"}))
        for t in tokens])
    assert outcome == Counter({(201, None): 1, (409, "phone_taken"): 19})


def test_one_wechat_user_applying_twenty_times_at_once_applies_once(world, app):
    token, _ = world.wechat_login()
    requests = [
        (lambda c, i=i: c.post("/api/mp/v1/consultants", headers={"Authorization": f"Bearer {token}"},
                               json={"name": "重复", "phone": f"1386666{i:04d}", "city": "南京", "kind": "independent"}))
        for i in range(20)]
    outcome = parallel(app, requests)
    assert outcome == Counter({(201, None): 1, (409, "already_applied"): 19})


def test_two_consultants_naming_each_other_at_once_cannot_make_a_cycle(world, app):
    for _ in range(5):
        a, b = world.operating_consultant(), world.operating_consultant()
        outcome = parallel(app, [
            lambda c: c.put("/api/mp/v1/consultants/me/inviter", json={"invite_code": b.invite_code}, headers=a.auth),
            lambda c: c.put("/api/mp/v1/consultants/me/inviter", json={"invite_code": a.invite_code}, headers=b.auth),
        ])
        assert outcome == Counter({(201, None): 1, (409, "invite_cycle"): 1})
