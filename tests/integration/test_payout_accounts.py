"""Payout accounts (收款账户, issue 12 §3): own name, ID checksum, encrypted at rest, masked,
SMS-confirmed with the verified phone, every full read logged; buyers on their H5 page."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from estate_platform.db import db
from estate_platform.settlement.models import PayoutAccount, SensitiveRead
from tests.integration.settlement_scene import add_verified_account, finance_token, id_number

ACCOUNT = "6225880187654321"


@pytest.fixture(autouse=True)
def relaxed_sms(app):
    app.config.update(SMS_PHONE_INTERVAL_SECONDS=0, SMS_PHONE_HOURLY_LIMIT=100, SMS_IP_HOURLY_LIMIT=1000)


def test_an_independent_adds_a_personal_account_in_his_name_with_a_valid_id_number(world, client, app):
    consultant = world.apply(name="陈独立")
    bad = client.post("/api/mp/v1/payout-accounts", headers=consultant.auth, json={
        "holder_name": "别人", "bank_name": "工商银行", "account_number": "12ab5678", "id_number": "110105194912310021"})
    assert bad.status_code == 422
    fields = bad.get_json()["error"]["details"]["fields"]
    assert set(fields) == {"holder_name", "account_number", "id_number"}
    assert db_count(app) == 0

    account = add_verified_account(client, app, consultant, holder_name="陈独立", id_no=id_number(7),
                                   account_number=ACCOUNT)
    assert account["account_number_masked"] == "****4321"
    assert account["id_number_masked"].endswith(id_number(7)[-4:]) and id_number(7) not in str(account)
    assert account["status"] == "verified" and account["payable_from"] > account["verified_at"]
    with app.app_context():
        raw = db.session.execute(text("SELECT account_number_enc, id_number_enc FROM payout_accounts")).one()
    assert ACCOUNT not in raw[0] and id_number(7) not in raw[1]  # encrypted at rest
    listing = client.get("/api/mp/v1/payout-accounts", headers=consultant.auth).get_json()["items"]
    assert ACCOUNT not in str(listing) and len(listing) == 1


def test_a_company_consultant_uses_a_corporate_account_in_the_company_name(world, client, app):
    consultant = world.apply(name="林经理", kind="company", company_name="南京安居有限公司")
    refused = client.post("/api/mp/v1/payout-accounts", headers=consultant.auth, json={
        "holder_name": "林经理", "bank_name": "工商银行", "account_number": ACCOUNT})
    assert refused.status_code == 422 and "holder_name" in refused.get_json()["error"]["details"]["fields"]
    account = add_verified_account(client, app, consultant, holder_name="南京安居有限公司")
    assert account["kind"] == "corporate" and account["id_number_masked"] is None


def test_an_unverified_phone_cannot_confirm_a_payout_account(world, client, app):
    consultant = world.apply(name="黄未验", phone_verified=False)
    created = client.post("/api/mp/v1/payout-accounts", headers=consultant.auth, json={
        "holder_name": "黄未验", "bank_name": "工商银行", "account_number": ACCOUNT, "id_number": id_number(8)})
    refused = client.post(f"/api/mp/v1/payout-accounts/{created.get_json()['id']}/send-code", headers=consultant.auth)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "phone_unverified"


def test_a_wrong_code_confirms_nothing_and_a_change_replaces_the_old_account(world, client, app):
    consultant = world.apply(name="许换卡")
    first = add_verified_account(client, app, consultant, holder_name="许换卡", id_no=id_number(9))
    created = client.post("/api/mp/v1/payout-accounts", headers=consultant.auth, json={
        "holder_name": "许换卡", "bank_name": "建设银行", "account_number": "6217000011112222",
        "id_number": id_number(9)}).get_json()
    client.post(f"/api/mp/v1/payout-accounts/{created['id']}/send-code", headers=consultant.auth)
    wrong = client.post(f"/api/mp/v1/payout-accounts/{created['id']}/verify", json={"code": "000000"},
                        headers=consultant.auth)
    assert wrong.status_code in (400, 422) or wrong.get_json()["error"]["code"] == "sms_code_wrong"
    assert client.get(f"/api/mp/v1/payout-accounts/{first['id']}", headers=consultant.auth).get_json()[
        "status"] == "verified"
    second = add_verified_account(client, app, consultant, holder_name="许换卡", id_no=id_number(9),
                                  account_number="6217000033334444")
    statuses = {a["id"]: a["status"] for a in client.get("/api/mp/v1/payout-accounts",
                                                         headers=consultant.auth).get_json()["items"]}
    assert statuses[first["id"]] == "replaced" and statuses[second["id"]] == "verified"
    assert statuses[created["id"]] == "abandoned"


def test_another_consultants_account_is_not_found(world, client, app):
    owner = world.apply(name="甲")
    other = world.apply(name="乙")
    account = add_verified_account(client, app, owner, holder_name="甲", id_no=id_number(10))
    assert client.get(f"/api/mp/v1/payout-accounts/{account['id']}", headers=other.auth).status_code == 404


def test_finance_reads_full_numbers_only_through_a_logged_reveal(world, client, app):
    consultant = world.apply(name="罗查看")
    account = add_verified_account(client, app, consultant, holder_name="罗查看", id_no=id_number(11),
                                   account_number=ACCOUNT)
    finance = finance_token(world, client)
    listing = client.get("/admin/api/v1/payout-accounts", headers=finance).get_json()
    assert ACCOUNT not in str(listing) and listing["items"][0]["account_number_masked"] == "****4321"
    operations = world.staff_auth("operations")
    assert client.post(f"/admin/api/v1/payout-accounts/{account['id']}/reveal", headers=operations).status_code == 403
    full = client.post(f"/admin/api/v1/payout-accounts/{account['id']}/reveal", headers=finance).get_json()
    assert full == {"account_number": ACCOUNT, "id_number": id_number(11)}
    with app.app_context():
        reads = db.session.query(SensitiveRead).all()
    assert [(r.actor_type, r.subject_type, r.subject_id) for r in reads] == [
        ("staff", "payout_account", account["id"])]


def test_a_buyer_adds_his_account_on_the_h5_page_with_a_fresh_sms_code(world, client, app):
    phone = world.next_buyer_phone()
    page = client.get("/r/payout-account")
    assert page.status_code == 200 and "老带新奖励收款账户" in page.get_data(as_text=True)
    client.post("/api/mp/v1/auth/sms/send", json={"phone": phone})
    code = app.extensions["adapters"].sms.last_code("+86" + phone)
    form = {"phone": phone, "sms_code": code, "holder_name": "钱老业主", "id_number": id_number(12),
            "bank_name": "农业银行", "account_number": ACCOUNT}
    done = client.post("/r/payout-account", data=form)
    assert done.status_code == 200 and "****4321" in done.get_data(as_text=True)
    with app.app_context():
        account = db.session.query(PayoutAccount).one()
        assert (account.party_type, account.status, account.kind) == ("buyer", "verified", "personal")
    replay = client.post("/r/payout-account", data=form)  # the code is used up
    assert replay.status_code >= 400

    # His 老带新 reward is paid in the same batches as consultants, once the 24 hours have passed.
    from tests.integration.settlement_scene import age_accounts, balances, credit
    credit(app, "buyer", account.party_id, available=120_000)
    maker, checker, second = (finance_token(world, client) for _ in range(3))
    assert client.post("/admin/api/v1/settlements", json={}, headers=maker).get_json()["item_count"] == 0
    age_accounts(app)
    batch = client.post("/admin/api/v1/settlements", json={}, headers=maker).get_json()
    for user in (checker, second):
        assert client.post(f"/admin/api/v1/settlements/{batch['id']}/approve", headers=user).status_code == 200
    [item] = client.get(f"/admin/api/v1/settlements/{batch['id']}/items", headers=maker).get_json()["items"]
    assert (item["party_type"], item["status"], item["tax_cents"]) == ("buyer", "paid", 8_000)  # (1,200 − 800) × 20%
    assert balances(app, "buyer", account.party_id)["available"] == 0


def db_count(app) -> int:
    with app.app_context():
        return db.session.query(PayoutAccount).count()
