"""Payout gateways (issue 12 §3): the real Stripe Connect adapter with HTTP intercepted, and the
flexible-employment (灵活用工) provider file with its results re-imported."""
from __future__ import annotations

from io import BytesIO

import pytest
import responses

from estate_platform.adapters.stripe_connect import GatewayUnavailable, LocalPayoutGateway, StripeConnectGateway
from estate_platform.db import db
from estate_platform.ledger import services as ledger
from estate_platform.settlement.models import SensitiveRead
from tests.integration.settlement_scene import (add_verified_account, age_accounts, balances, credit, finance_token,
                                                id_number, platform)

STRIPE = "https://api.stripe.test"


def transfer(gateway, key="settlement-7-consultant-3"):
    return gateway.transfer(idempotency_key=key, amount_cents=390_000, destination="acct_1Abc",
                            transfer_group="settlement-7", description="结算批次 7 明细 9")


@responses.activate
def test_a_retried_payout_sends_the_same_idempotency_key_and_the_batch_transfer_group():
    responses.add(responses.POST, f"{STRIPE}/v1/transfers", status=500, json={"error": {"message": "boom"}})
    responses.add(responses.POST, f"{STRIPE}/v1/transfers", status=200, json={"id": "tr_123", "object": "transfer"})
    gateway = StripeConnectGateway("sk_test_x", base_url=STRIPE)
    with pytest.raises(GatewayUnavailable):
        transfer(gateway)
    result = transfer(gateway)
    assert result.ok and result.reference == "tr_123"
    first, second = (call.request for call in responses.calls)
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] == "settlement-7-consultant-3"
    assert first.body == second.body
    assert "transfer_group=settlement-7" in second.body and "amount=390000" in second.body
    assert second.headers["Authorization"] == "Bearer sk_test_x"


@responses.activate
def test_a_declined_transfer_is_a_failure_with_stripes_reason():
    responses.add(responses.POST, f"{STRIPE}/v1/transfers", status=400,
                  json={"error": {"message": "Insufficient funds in Stripe account"}})
    result = transfer(StripeConnectGateway("sk_test_x", base_url=STRIPE))
    assert not result.ok and "Insufficient funds" in result.failure_reason


@responses.activate
def test_a_connected_account_is_created_once_per_payout_account():
    responses.add(responses.POST, f"{STRIPE}/v1/accounts", status=200, json={"id": "acct_9"})
    gateway = StripeConnectGateway("sk_test_x", base_url=STRIPE)
    assert gateway.connected_account(payout_account_id=9, holder_name="李", kind="personal") == "acct_9"
    assert responses.calls[0].request.headers["Idempotency-Key"] == "payout-account-9"


def test_the_local_gateway_remembers_keys_across_processes(tmp_path):
    store = tmp_path / "transfers.jsonl"
    first = transfer(LocalPayoutGateway(store))
    again = transfer(LocalPayoutGateway(store))  # a restarted worker
    assert first.ok and again.reference == first.reference
    assert len(LocalPayoutGateway(store).transfers()) == 1


@pytest.fixture(autouse=True)
def relaxed_sms(app):
    app.config.update(SMS_PHONE_INTERVAL_SECONDS=0, SMS_PHONE_HOURLY_LIMIT=100, SMS_IP_HOURLY_LIMIT=1000)


def test_provider_batch_file_and_results_pay_and_return_with_tax_collected_by_the_provider(world, client, app):
    import openpyxl

    maker, checker, second = (finance_token(world, client) for _ in range(3))
    paid_one = world.operating_consultant(name="灵活甲")
    failed_one = world.operating_consultant(name="灵活乙")
    add_verified_account(client, app, paid_one, holder_name="灵活甲", id_no=id_number(21), account_number="6222000000000021")
    add_verified_account(client, app, failed_one, holder_name="灵活乙", id_no=id_number(22), account_number="6222000000000022")
    credit(app, "consultant", paid_one.id, available=500_000)
    credit(app, "consultant", failed_one.id, available=300_000)
    age_accounts(app)
    batch = client.post("/admin/api/v1/settlements", json={"channel": "provider"}, headers=maker).get_json()
    early = client.get(f"/admin/api/v1/settlements/{batch['id']}/provider-file", headers=maker)
    assert early.status_code == 409  # not approved yet
    for user in (checker, second):
        assert client.post(f"/admin/api/v1/settlements/{batch['id']}/approve", headers=user).status_code == 200
    items = client.get(f"/admin/api/v1/settlements/{batch['id']}/items", headers=maker).get_json()["items"]
    assert {i["withheld_by"] for i in items} == {"provider"} and {i["tax_cents"] for i in items} == {0}
    assert {i["status"] for i in items} == {"sending"} and platform(app)["in_transit"] == -800_000

    operations = world.staff_auth("operations")
    assert client.get(f"/admin/api/v1/settlements/{batch['id']}/provider-file", headers=operations).status_code == 403
    download = client.get(f"/admin/api/v1/settlements/{batch['id']}/provider-file", headers=maker)
    assert download.status_code == 200
    sheet = openpyxl.load_workbook(BytesIO(download.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:5] == ("明细编号", "姓名", "证件号码", "开户银行", "银行账号")
    by_name = {r[1]: r for r in rows[1:]}
    assert by_name["灵活甲"][2] == id_number(21) and by_name["灵活甲"][4] == "6222000000000021"
    with app.app_context():
        assert db.session.query(SensitiveRead).filter_by(subject_type="settlement_batch").count() == 1

    result = openpyxl.Workbook()
    result.active.append(["明细编号", "结果", "失败原因", "代征税额（元）"])
    result.active.append([by_name["灵活甲"][0], "成功", "", 620.5])
    result.active.append([by_name["灵活乙"][0], "失败", "户名与账号不符", 0])
    buffer = BytesIO()
    result.save(buffer)
    content = buffer.getvalue()
    imported = client.post(f"/admin/api/v1/settlements/{batch['id']}/provider-results", headers=maker,
                           data={"file": (BytesIO(content), "results.xlsx")}, content_type="multipart/form-data")
    assert imported.get_json() == {"paid": 1, "failed": 1, "skipped": 0}
    again = client.post(f"/admin/api/v1/settlements/{batch['id']}/provider-results", headers=maker,
                        data={"file": (BytesIO(content), "results.xlsx")}, content_type="multipart/form-data")
    assert again.get_json() == {"paid": 0, "failed": 0, "skipped": 2}
    assert balances(app, "consultant", failed_one.id)["available"] == -300_000
    money = platform(app)
    assert money["cash"] == -500_000 and money["in_transit"] == 0 and money.get("tax_payable", 0) == 0
    with app.app_context():
        assert ledger.total(db.session) == 0
    [statement] = client.get("/api/mp/v1/statements", headers=paid_one.auth).get_json()["items"]
    assert "由该平台代征" in statement["withholding_note"] and "620.50" in statement["withholding_note"]
    failures = client.get("/admin/api/v1/settlement-failures", headers=maker).get_json()["items"]
    assert [f["failure_reason"] for f in failures] == ["户名与账号不符"]


def test_a_bad_results_file_names_its_rows_and_changes_nothing(world, client, app):
    import openpyxl

    maker, checker = finance_token(world, client), finance_token(world, client)
    batch = client.post("/admin/api/v1/settlements", json={"channel": "provider"}, headers=maker).get_json()
    client.post(f"/admin/api/v1/settlements/{batch['id']}/approve", headers=checker)
    book = openpyxl.Workbook()
    book.active.append(["明细编号", "结果"])
    book.active.append([999, "成功"])
    buffer = BytesIO()
    book.save(buffer)
    refused = client.post(f"/admin/api/v1/settlements/{batch['id']}/provider-results", headers=maker,
                          data={"file": (BytesIO(buffer.getvalue()), "r.xlsx")}, content_type="multipart/form-data")
    assert refused.status_code == 422 and "row 2" in refused.get_json()["error"]["details"]["fields"]
    junk = client.post(f"/admin/api/v1/settlements/{batch['id']}/provider-results", headers=maker,
                       data={"file": (BytesIO(b"not a workbook"), "r.xlsx")}, content_type="multipart/form-data")
    assert junk.status_code == 422
