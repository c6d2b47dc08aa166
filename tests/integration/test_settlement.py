"""Settlement batches (结算, issue 12 §3): maker-checker, withholding, netting, the 24-hour wait,
failures returning the money, re-runs paying nobody twice, and statements."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from estate_platform.db import db
from estate_platform.ledger import services as ledger
from estate_platform.settlement import batches, payouts
from estate_platform.settlement.models import SettlementBatch, SettlementItem
from tests.conftest import now
from tests.integration.settlement_scene import (add_verified_account, age_accounts, balances, credit, finance_token,
                                                id_number, platform)


@pytest.fixture(autouse=True)
def relaxed_sms(app):
    """Each test sends several payout-account codes from one address within seconds."""
    app.config.update(SMS_PHONE_INTERVAL_SECONDS=0, SMS_PHONE_HOURLY_LIMIT=100, SMS_IP_HOURLY_LIMIT=1000)


@pytest.fixture
def finance(world, client):
    """Three different finance users: maker, checker, second checker (first payout to a new account)."""
    return [finance_token(world, client) for _ in range(3)]


def independent(world, client, app, *, available: int, owes: int = 0, name: str = "李独立", serial: int = 2):
    consultant = world.operating_consultant(name=name)
    add_verified_account(client, app, consultant, holder_name=name, id_no=id_number(serial))
    credit(app, "consultant", consultant.id, available=available, owes=owes)
    return consultant


def prepare(client, finance, **body):
    response = client.post("/admin/api/v1/settlements", json=body, headers=finance)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def items(client, finance, batch_id):
    return client.get(f"/admin/api/v1/settlements/{batch_id}/items", headers=finance).get_json()["items"]


def test_independent_is_paid_net_of_withholding_and_owes_after_maker_checker(world, client, app, finance):
    maker, checker, second = finance
    consultant = independent(world, client, app, available=500_000, owes=30_000)
    age_accounts(app)
    batch = prepare(client, maker)
    assert batch["item_count"] == 1 and batch["status"] == "prepared"
    [item] = items(client, maker, batch["id"])
    # 5,000 元 income: taxable 4,000, tax 800; owes 300 netted; net 3,900. Netting does not lower the base.
    assert (item["gross_cents"], item["owes_netted_cents"], item["tax_cents"], item["net_cents"]) == (
        500_000, 30_000, 80_000, 390_000)
    assert item["first_to_account"] is True and item["withheld_by"] == "platform"

    assert client.post(f"/admin/api/v1/settlements/{batch['id']}/approve", headers=checker).status_code == 200
    assert items(client, maker, batch["id"])[0]["status"] == "awaiting_second_approval"
    # The checker cannot also be the second checker; a third finance user releases it.
    refused = client.post(f"/admin/api/v1/settlements/{batch['id']}/approve", headers=checker)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "self_approval"
    assert client.post(f"/admin/api/v1/settlements/{batch['id']}/approve", headers=second).status_code == 200

    [item] = items(client, maker, batch["id"])
    assert item["status"] == "paid" and item["gateway_ref"].startswith("tr_local_")
    mine = balances(app, "consultant", consultant.id)
    assert mine["available"] == 0 and mine["owes"] == 0
    money = platform(app)
    assert money["tax_payable"] == -80_000 and money["in_transit"] == 0 and money["cash"] == -390_000
    with app.app_context():
        assert ledger.total(db.session) == 0 and ledger.unbalanced_transactions(db.session) == []
    earnings = client.get("/api/mp/v1/earnings", headers=consultant.auth).get_json()
    assert earnings["paid_cents"] == 500_000 and earnings["available_cents"] == 0
    detail = client.get(f"/admin/api/v1/settlements/{batch['id']}", headers=maker).get_json()
    assert detail["status"] == "completed" and detail["prepared_by"]["id"] != detail["approved_by"]["id"]


def test_the_maker_cannot_approve_his_own_batch(world, client, app, finance):
    maker, _, _ = finance
    independent(world, client, app, available=200_000)
    age_accounts(app)
    batch = prepare(client, maker)
    refused = client.post(f"/admin/api/v1/settlements/{batch['id']}/approve", headers=maker)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "self_approval"
    assert items(client, maker, batch["id"])[0]["status"] == "ready"
    assert platform(app)["in_transit"] == 0


def test_the_database_refuses_an_approval_by_the_maker(world, client, app, finance):
    prepare(client, finance[0])
    with app.app_context():
        batch = db.session.query(SettlementBatch).one()
        with pytest.raises(IntegrityError, match="checker_not_maker"):
            db.session.execute(text("UPDATE settlement_batches SET status = 'approved', approved_by_id = prepared_by_id, "
                                    "approved_at = prepared_at WHERE id = :id"), {"id": batch.id})
            db.session.flush()
        db.session.rollback()


def test_a_new_payout_account_is_not_paid_within_24_hours(world, client, app, finance):
    independent(world, client, app, available=200_000)
    limits = batches.Limits(10_000, 50_000_000, 10**12)
    with app.app_context():
        early, _ = batches.prepare(db.session, key="early", channel="gateway", staff=None, limits=limits,
                                   now=now() + timedelta(hours=23))
        assert early.item_count == 0
        later, _ = batches.prepare(db.session, key="later", channel="gateway", staff=None, limits=limits,
                                   now=now() + timedelta(hours=24, minutes=1))
        assert later.item_count == 1
        db.session.rollback()


def test_a_changed_account_waits_again_and_its_item_is_held(world, client, app, finance):
    maker, checker, _ = finance
    consultant = independent(world, client, app, available=200_000, name="王变更")
    age_accounts(app)
    batch = prepare(client, maker)
    add_verified_account(client, app, consultant, holder_name="王变更", id_no=id_number(2),
                         account_number="6222020000000001")
    client.post(f"/admin/api/v1/settlements/{batch['id']}/approve", headers=checker)
    [item] = items(client, maker, batch["id"])
    assert item["status"] == "held" and "24 小时" in item["hold_reason"]
    assert balances(app, "consultant", consultant.id)["available"] == -200_000


def test_a_failed_transfer_returns_the_money_and_reverses_the_tax(world, client, app, finance):
    maker, checker, second = finance
    consultant = independent(world, client, app, available=500_000, owes=30_000)
    age_accounts(app)
    batch = prepare(client, maker)
    [item] = items(client, maker, batch["id"])
    with app.app_context():
        account_id = db.session.get(SettlementItem, item["id"]).payout_account_id
    app.extensions["adapters"].payouts.decline(f"acct_local_{account_id}")
    client.post(f"/admin/api/v1/settlements/{batch['id']}/approve", headers=checker)
    client.post(f"/admin/api/v1/settlements/{batch['id']}/approve", headers=second)
    [item] = items(client, maker, batch["id"])
    assert item["status"] == "failed" and item["failure_reason"]
    mine = balances(app, "consultant", consultant.id)
    assert mine["available"] == -(500_000 - 30_000) and mine["owes"] == 0  # back to what was payable
    money = platform(app)
    assert money["tax_payable"] == 0 and money["in_transit"] == 0 and money.get("cash", 0) == 0
    queue = client.get("/admin/api/v1/settlement-failures", headers=maker).get_json()
    assert [i["id"] for i in queue["items"]] == [item["id"]]
    assert client.get("/api/mp/v1/earnings", headers=consultant.auth).get_json()["paid_cents"] == 0


def test_a_rerun_batch_or_retried_send_pays_nobody_twice(world, client, app, finance):
    maker, checker, second = finance
    independent(world, client, app, available=300_000, name="赵一", serial=3)
    independent(world, client, app, available=400_000, name="钱二", serial=4)
    age_accounts(app)
    body = {"idempotency_key": "batch-retry-0001"}
    first = client.post("/admin/api/v1/settlements", json=body, headers=maker)
    again = client.post("/admin/api/v1/settlements", json=body, headers=maker)
    assert (first.status_code, again.status_code) == (201, 200) and again.get_json()["id"] == first.get_json()["id"]
    batch_id = first.get_json()["id"]
    for finance_user in (checker, second):
        client.post(f"/admin/api/v1/settlements/{batch_id}/approve", headers=finance_user)
    gateway = app.extensions["adapters"].payouts
    paid_before = dict(gateway.transfers())
    cash_before = platform(app)["cash"]
    with app.app_context():
        counts = payouts.send_batch(db.session, gateway, batch_id, now=now())  # a retried task
        db.session.commit()
        # Items forced back to "sending" (as if the worker died after the transfer, before recording it):
        db.session.execute(text("UPDATE settlement_items SET status = 'sending' WHERE batch_id = :b"), {"b": batch_id})
        counts_after_crash = payouts.send_batch(db.session, gateway, batch_id, now=now())
        db.session.commit()
    assert counts == {"paid": 0, "failed": 0, "pending": 0}
    assert counts_after_crash["paid"] == 2
    assert gateway.transfers() == paid_before and len(paid_before) == 2
    assert platform(app)["cash"] == cash_before == -(300_000 - 44_000 + 400_000 - 64_000)
    assert prepare(client, maker)["item_count"] == 0  # nothing left to pay
    with app.app_context():
        assert ledger.total(db.session) == 0


def test_two_payouts_in_one_month_are_taxed_as_one(world, client, app, finance):
    maker, checker, second = finance
    consultant = independent(world, client, app, available=300_000)
    age_accounts(app)
    first = prepare(client, maker)
    client.post(f"/admin/api/v1/settlements/{first['id']}/approve", headers=checker)
    client.post(f"/admin/api/v1/settlements/{first['id']}/approve", headers=second)
    credit(app, "consultant", consultant.id, available=300_000, key="second-earning")
    later = prepare(client, maker)
    [item] = items(client, maker, later["id"])
    assert items(client, maker, first["id"])[0]["tax_cents"] == 44_000       # (3,000 − 800) × 20%
    assert item["tax_cents"] == 96_000 - 44_000 and item["first_to_account"] is False
    client.post(f"/admin/api/v1/settlements/{later['id']}/approve", headers=checker)
    assert items(client, maker, later["id"])[0]["status"] == "paid"  # not a new account: one approval
    assert platform(app)["tax_payable"] == -96_000


def test_limits_minimum_and_per_payout_maximum(world, client, app, finance):
    maker = finance[0]
    app.config.update(PAYOUT_MIN_CENTS=100_000, PAYOUT_MAX_CENTS=1_000_000)
    independent(world, client, app, available=99_999, name="孙少", serial=5)
    big = independent(world, client, app, available=5_000_000, owes=200_000, name="周多", serial=6)
    age_accounts(app)
    [item] = items(client, maker, prepare(client, maker)["id"])
    assert item["party_id"] == big.id
    assert item["gross_cents"] - item["owes_netted_cents"] == 1_000_000  # capped; the rest waits for the next batch


def test_the_daily_maximum_refuses_the_approval(world, client, app, finance):
    maker, checker, _ = finance
    consultant = independent(world, client, app, available=300_000)
    age_accounts(app)
    credit(app, "consultant", consultant.id, available=1, key="tiny")
    app.config.update(PAYOUT_DAILY_MAX_CENTS=100_000)
    batch = prepare(client, maker)
    with app.app_context():
        db.session.query(SettlementItem).update({"first_to_account": False})
        db.session.commit()
    refused = client.post(f"/admin/api/v1/settlements/{batch['id']}/approve", headers=checker)
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "payout_daily_limit_exceeded"
    assert platform(app)["in_transit"] == 0


def test_a_company_consultant_is_paid_only_against_an_invoice_of_the_payout(world, client, app, finance):
    maker, checker, second = finance
    consultant = world.operating_consultant(name="吴经理", kind="company", company_name="南京安居房产经纪有限公司")
    add_verified_account(client, app, consultant, holder_name="南京安居房产经纪有限公司")
    credit(app, "consultant", consultant.id, available=800_000)
    age_accounts(app)
    batch = prepare(client, maker)
    [item] = items(client, maker, batch["id"])
    assert item["status"] == "awaiting_invoice" and item["tax_cents"] == 0 and item["withheld_by"] == "none"
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    from io import BytesIO
    wrong = client.post(f"/api/mp/v1/statements/{item['id']}/invoice", headers=consultant.auth,
                        data={"invoice_number": "No.001", "amount_cents": "700000",
                              "file": (BytesIO(pdf), "fapiao.pdf", "application/pdf")},
                        content_type="multipart/form-data")
    assert wrong.status_code == 422 and "amount_cents" in wrong.get_json()["error"]["details"]["fields"]
    right = client.post(f"/api/mp/v1/statements/{item['id']}/invoice", headers=consultant.auth,
                        data={"invoice_number": "No.001", "amount_cents": "800000",
                              "file": (BytesIO(pdf), "fapiao.pdf", "application/pdf")},
                        content_type="multipart/form-data")
    assert right.status_code == 201, right.get_json()
    client.post(f"/admin/api/v1/settlements/{batch['id']}/approve", headers=checker)
    client.post(f"/admin/api/v1/settlements/{batch['id']}/approve", headers=second)
    assert items(client, maker, batch["id"])[0]["status"] == "paid"
    assert platform(app)["cash"] == -800_000


def test_a_company_item_without_invoice_is_held_and_keeps_its_money(world, client, app, finance):
    maker, checker, _ = finance
    consultant = world.operating_consultant(name="郑店长", kind="store", company_name="安家门店")
    add_verified_account(client, app, consultant, holder_name="安家门店")
    credit(app, "consultant", consultant.id, available=800_000)
    age_accounts(app)
    batch = prepare(client, maker)
    client.post(f"/admin/api/v1/settlements/{batch['id']}/approve", headers=checker)
    [item] = items(client, maker, batch["id"])
    assert item["status"] == "held" and "发票" in item["hold_reason"]
    assert balances(app, "consultant", consultant.id)["available"] == -800_000
    assert prepare(client, maker)["item_count"] == 1  # offered again in the next batch


def test_statements_are_his_own_with_the_withholding_line(world, client, app, finance):
    maker, checker, second = finance
    consultant = independent(world, client, app, available=500_000)
    other = world.operating_consultant(name="旁人")
    age_accounts(app)
    batch = prepare(client, maker)
    for user in (checker, second):
        client.post(f"/admin/api/v1/settlements/{batch['id']}/approve", headers=user)
    listing = client.get("/api/mp/v1/statements", headers=consultant.auth).get_json()
    [statement] = listing["items"]
    assert statement["withheld_by"] == "platform" and statement["tax_cents"] == 80_000
    assert any("代扣个人所得税" in line["label"] and line["amount_cents"] == -80_000 for line in statement["lines"])
    assert "平台按劳务报酬所得预扣预缴" in statement["withholding_note"]
    assert client.get(f"/api/mp/v1/statements/{statement['id']}", headers=other.auth).status_code == 404
    xlsx = client.get(f"/api/mp/v1/statements/{statement['id']}/xlsx", headers=consultant.auth)
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    import openpyxl
    from io import BytesIO
    cells = [c.value for row in openpyxl.load_workbook(BytesIO(xlsx.data)).active.iter_rows() for c in row]
    assert -800 in cells and 4200 in cells and 5000 in cells and any("代扣" in str(c) for c in cells)
    page = client.get(f"/api/mp/v1/statements/{statement['id']}/print", headers=consultant.auth)
    assert page.status_code == 200 and "代扣说明" in page.get_data(as_text=True)


@pytest.mark.postgres
def test_parallel_approvals_and_prepares_pay_once(world, client, app, finance):
    from tests.parallel import parallel

    maker, checker, second = finance
    independent(world, client, app, available=300_000)
    age_accounts(app)
    key = {"idempotency_key": "parallel-prepare-01"}
    prepared = parallel(app, [lambda c: c.post("/admin/api/v1/settlements", json=key, headers=maker)] * 4)
    assert sum(n for (status, _), n in prepared.items() if status in (200, 201)) == 4
    with app.app_context():
        assert db.session.query(SettlementBatch).count() == 1
        batch_id = db.session.query(SettlementBatch.id).scalar()
        db.session.query(SettlementItem).update({"first_to_account": False})
        db.session.commit()
    url = f"/admin/api/v1/settlements/{batch_id}/approve"
    outcomes = parallel(app, [lambda c: c.post(url, headers=checker), lambda c: c.post(url, headers=second)])
    assert outcomes[(200, None)] == 1 and outcomes[(409, "settlement_not_approvable")] == 1
    assert platform(app)["cash"] == -(300_000 - 44_000)
    with app.app_context():
        assert ledger.total(db.session) == 0
