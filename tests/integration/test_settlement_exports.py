"""Payouts (付款明细) and statements (结算对账单) exports: what finance downloads from the settlement pages."""
from __future__ import annotations

from io import BytesIO

import pytest
from openpyxl import load_workbook

from tests.integration.settlement_scene import add_verified_account, age_accounts, credit, finance_token, id_number


@pytest.fixture(autouse=True)
def relaxed_sms(app):
    app.config.update(SMS_PHONE_INTERVAL_SECONDS=0, SMS_PHONE_HOURLY_LIMIT=100, SMS_IP_HOURLY_LIMIT=1000)


def rows(response):
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    sheet = load_workbook(BytesIO(response.data), read_only=True).active
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def test_payouts_and_statements_export_what_the_batch_paid(world, client, app):
    consultant = world.operating_consultant(name="李独立")
    add_verified_account(client, app, consultant, holder_name="李独立", id_no=id_number(3))
    credit(app, "consultant", consultant.id, available=500_000, owes=30_000)
    age_accounts(app)
    maker, checker, second = (finance_token(world, client) for _ in range(3))
    batch = client.post("/admin/api/v1/settlements", json={}, headers=maker).get_json()
    for approver in (checker, second):
        assert client.post(f"/admin/api/v1/settlements/{batch['id']}/approve", headers=approver).status_code == 200

    payouts = rows(client.get(f"/admin/api/v1/exports/payouts?batch_id={batch['id']}", headers=maker))
    assert payouts[0][:3] == ["明细编号", "批次编号", "批次号"]
    [line] = payouts[1:]
    # gross 5,000 元, owes 300 netted, tax 800, net 3,900; amounts are numbers in 元
    assert (line[5], line[6], line[7], line[8], line[9], line[10], line[11]) == (
        "李独立", 5000, 300, 800, 3900, "平台代扣", "已付款")

    statements = rows(client.get("/admin/api/v1/exports/statements", headers=maker))
    assert [r[4] for r in statements[1:]] == ["李独立"] and statements[1][9] == 3900
    assert rows(client.get("/admin/api/v1/exports/payouts?status=failed", headers=maker))[1:] == []


def test_payout_exports_are_finance_only_and_filters_are_checked(world, client):
    operations = world.staff_auth("operations")
    assert client.get("/admin/api/v1/exports/payouts", headers=operations).status_code == 403
    bad = client.get("/admin/api/v1/exports/payouts?status=lost", headers=world.staff_auth("finance"))
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "validation_error"
