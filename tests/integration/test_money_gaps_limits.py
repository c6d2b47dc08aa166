"""Payout limits set by finance (付款限额, issue 12 §2): the configured values are the defaults,
finance (or an admin) changes them in the settlement admin, every change is recorded with who,
when, old and new, and every batch reads the limits in force from that one place."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from estate_platform.db import db
from estate_platform.settlement.models import PayoutLimitChange, SettlementItem
from tests.integration.settlement_scene import age_accounts, finance_token
from tests.integration.test_admin_deals_pages import sign_in
from tests.integration.test_settlement import independent, items, prepare, relaxed_sms  # noqa: F401
from tests.integration.test_staff_auth import csrf_from

URL = "/admin/api/v1/settlements/limits"


def put(client, headers, expect=200, **body):
    body = {"min_cents": 100_000, "max_cents": 1_000_000, "daily_max_cents": 10_000_000, **body}
    response = client.put(URL, json=body, headers=headers)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def changes(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(PayoutLimitChange))


def test_the_configured_limits_are_the_defaults_until_finance_changes_them(world, client, app):
    app.config.update(PAYOUT_MIN_CENTS=10_000, PAYOUT_MAX_CENTS=50_000_000, PAYOUT_DAILY_MAX_CENTS=5_000_000_000)
    finance = finance_token(world, client)
    view = client.get(URL, headers=finance).get_json()
    assert view["current"] == view["defaults"] == {"min_cents": 10_000, "max_cents": 50_000_000,
                                                    "daily_max_cents": 5_000_000_000}
    assert view["changes"] == []

    view = put(client, finance, note="年底调整")
    assert view["current"] == {"min_cents": 100_000, "max_cents": 1_000_000, "daily_max_cents": 10_000_000}
    assert view["defaults"]["min_cents"] == 10_000
    [change] = view["changes"]
    assert (change["previous_min_cents"], change["previous_max_cents"], change["previous_daily_max_cents"]) == (
        10_000, 50_000_000, 5_000_000_000)
    assert (change["min_cents"], change["max_cents"], change["daily_max_cents"]) == (100_000, 1_000_000, 10_000_000)
    assert change["changed_by"]["id"] and change["changed_at"] and change["note"] == "年底调整"

    # The same values again record nothing; a second change records the first as its old values.
    put(client, finance)
    assert changes(app) == 1
    view = put(client, finance, min_cents=200_000)
    assert [c["previous_min_cents"] for c in view["changes"]] == [100_000, 10_000]


def test_a_batch_prepared_after_a_change_uses_the_new_limits(world, client, app):
    finance = finance_token(world, client)
    small = independent(world, client, app, available=150_000, name="孙少", serial=5)
    big = independent(world, client, app, available=5_000_000, name="周多", serial=6)
    age_accounts(app)
    put(client, finance, min_cents=200_000, max_cents=1_000_000)
    [item] = items(client, finance, prepare(client, finance)["id"])
    assert item["party_id"] == big.id and item["gross_cents"] == 1_000_000
    assert small.id != big.id


def test_the_daily_maximum_set_by_finance_refuses_the_approval(world, client, app):
    maker, checker = finance_token(world, client), finance_token(world, client)
    independent(world, client, app, available=300_000)
    age_accounts(app)
    put(client, maker, min_cents=1, max_cents=100_000, daily_max_cents=100_000)
    put(client, maker, min_cents=1, max_cents=100_000, daily_max_cents=100_000)  # unchanged: nothing recorded
    assert changes(app) == 1
    batch = prepare(client, maker)
    with app.app_context():  # not a first payout to a new account: one approval would send it now
        db.session.query(SettlementItem).update({"first_to_account": False})
        db.session.commit()
    put(client, maker, min_cents=1, max_cents=100_000, daily_max_cents=100_000 - 1, expect=422)
    put(client, maker, min_cents=1, max_cents=50_000, daily_max_cents=50_000)  # below the batch (net 960 元)
    refused = client.post(f"/admin/api/v1/settlements/{batch['id']}/approve", headers=checker)
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "payout_daily_limit_exceeded"
    put(client, maker, min_cents=1, max_cents=100_000, daily_max_cents=100_000)
    assert client.post(f"/admin/api/v1/settlements/{batch['id']}/approve", headers=checker).status_code == 200


@pytest.mark.parametrize("body, field", [
    ({"max_cents": 50_000}, "max_cents"),                       # below the minimum
    ({"daily_max_cents": 500_000}, "daily_max_cents"),          # below the per-payout maximum
    ({"min_cents": 0}, "min_cents"),
    ({"min_cents": "100"}, "min_cents"),
    ({"min_cents": 10**13}, "min_cents"),
    ({"note": "x" * 501}, "note"),
], ids=["max-below-min", "daily-below-max", "zero", "string", "huge", "long-note"])
def test_bad_limits_are_refused_naming_the_field_and_change_nothing(world, client, app, body, field):
    finance = finance_token(world, client)
    response = client.put(URL, json={"min_cents": 100_000, "max_cents": 1_000_000, "daily_max_cents": 10_000_000,
                                     **body}, headers=finance)
    assert response.status_code in (400, 422), response.get_json()
    assert field in str(response.get_json()["error"])
    assert changes(app) == 0


@pytest.mark.parametrize("role", ["operations", "site_staff"])
def test_other_roles_can_neither_read_nor_change_the_limits(world, client, app, role):
    headers = world.staff_auth(role)
    assert client.get(URL, headers=headers).status_code == 403
    assert client.put(URL, json={"min_cents": 1, "max_cents": 1, "daily_max_cents": 1},
                      headers=headers).status_code == 403
    assert client.put(URL, json={"min_cents": 1, "max_cents": 1, "daily_max_cents": 1}).status_code == 401
    assert changes(app) == 0


def test_finance_changes_the_limits_in_the_settings_page(world, client, app):
    sign_in(world, client, "finance")
    page = client.get("/admin/settlements/limits")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "付款限额" in html and "尚未修改过" in html
    response = client.post("/admin/settlements/limits", data={
        "csrf_token": csrf_from(html), "min": "1000", "max": "20000.50", "daily_max": "500000", "note": "调整"})
    assert response.status_code == 302
    html = client.get("/admin/settlements/limits").get_data(as_text=True)
    assert "¥1,000.00" in html and "¥20,000.50" in html and "调整" in html
    bad = client.post("/admin/settlements/limits", data={
        "csrf_token": csrf_from(html), "min": "abc", "max": "1", "daily_max": "1"})
    assert bad.status_code == 422
    assert changes(app) == 1
    with app.app_context():
        row = db.session.scalar(select(PayoutLimitChange))
        assert (row.min_cents, row.max_cents, row.daily_max_cents) == (100_000, 2_000_050, 50_000_000)
