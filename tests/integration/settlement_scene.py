"""Builders for the settlement tests: consultants with money in the ledger, verified payout
accounts (by the real SMS flow), finance users with their tokens."""
from __future__ import annotations

from datetime import datetime, timedelta

from estate_platform.db import db
from estate_platform.ledger import services as ledger
from estate_platform.settlement.models import PayoutAccount

ID_BASE = "11010519491231"


def id_number(serial: int = 2) -> str:
    """A valid 身份证号 (ISO 7064 MOD 11-2 check character)."""
    base = f"{ID_BASE}{serial:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return base + "10X98765432"[sum(int(c) * w for c, w in zip(base, weights)) % 11]


def credit(app, party_type: str, party_id: int, *, available: int = 0, owes: int = 0, key: str | None = None):
    """Give a party money in the ledger as if earned (available) or owed (owes)."""
    legs = []
    if available:
        legs += [ledger.Leg(party_type, party_id, "available", -available), ledger.Leg("platform", 0, "revenue", available)]
    if owes:
        legs += [ledger.Leg(party_type, party_id, "owes", owes), ledger.Leg("platform", 0, "revenue", -owes)]
    with app.app_context():
        ledger.post(db.session, ledger.Entry(key or f"test-credit-{party_type}-{party_id}-{available}-{owes}",
                                             "test_credit", "测试入账", tuple(legs)), now=datetime.now().astimezone())
        db.session.commit()


def add_verified_account(client, app, consultant, *, holder_name: str, id_no: str | None = None,
                         bank_name: str = "招商银行南京分行", account_number: str = "6225880112345678") -> dict:
    body = {"holder_name": holder_name, "bank_name": bank_name, "account_number": account_number,
            "id_number": id_no}
    created = client.post("/api/mp/v1/payout-accounts", json=body, headers=consultant.auth)
    assert created.status_code == 201, created.get_json()
    account_id = created.get_json()["id"]
    sent = client.post(f"/api/mp/v1/payout-accounts/{account_id}/send-code", headers=consultant.auth)
    assert sent.status_code == 200, sent.get_json()
    with app.app_context():
        from estate_platform.consultants.models import Consultant
        phone = db.session.get(Consultant, consultant.id).phone
    code = app.extensions["adapters"].sms.last_code(phone)
    verified = client.post(f"/api/mp/v1/payout-accounts/{account_id}/verify", json={"code": code},
                           headers=consultant.auth)
    assert verified.status_code == 200, verified.get_json()
    return verified.get_json()


def age_accounts(app, hours: int = 25) -> None:
    """As if every verified account had been verified ``hours`` ago."""
    with app.app_context():
        for account in db.session.query(PayoutAccount).filter(PayoutAccount.status == "verified"):
            account.verified_at -= timedelta(hours=hours)
            account.payable_from -= timedelta(hours=hours)
        db.session.commit()


def finance_token(world, client) -> dict:
    _, username, password = world.staff("finance")
    response = client.post("/admin/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def balances(app, party_type: str, party_id: int) -> dict[str, int]:
    with app.app_context():
        return ledger.balances(db.session, party_type, party_id)


def platform(app) -> dict[str, int]:
    return balances(app, "platform", 0)
