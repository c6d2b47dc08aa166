"""Shared set-up for the buy-back tests: a consultant with recognised, pending commission lines."""
from __future__ import annotations

from dataclasses import dataclass

from estate_platform.db import db

MP = "/api/mp/v1"
ADMIN = "/admin/api/v1"


@dataclass
class Sold:
    consultant: object
    project_id: int
    developer_id: int
    deal_id: int
    line_id: int
    face_cents: int


def set_settings(world, **changes) -> dict:
    response = world.client.put(f"{ADMIN}/buyback/settings", json=changes, headers=world.staff_auth("finance"))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def signed_line(world, consultant=None, project_id=None, price_cents: int = 300_000_000) -> Sold:
    """A signed deal of ``consultant`` (a new one by default): his serving line, recognised and pending."""
    from estate_platform.projects.models import Project
    consultant = consultant or world.operating_consultant()
    if project_id is None:
        project_id = world.project()
        world.commission_rule(project_id)  # 2% on signing, due 30 days later
        if not getattr(world, "_buyback_policy", False):
            world.split_policy(referral_bps=0, upline_bps=[0, 0])
            world._buyback_policy = True
    phone = world.next_buyer_phone()
    world.register(consultant, project_id, phone=phone)
    deal = world.deal(project_id, phone, price_cents=price_cents)
    world.stage(deal["id"], "signed")
    lines = world.client.get(f"{MP}/deals/{deal['id']}/commission", headers=consultant.auth).get_json()["lines"]
    assert len(lines) == 1 and lines[0]["id"], lines
    with world.app.app_context():
        developer_id = db.session.get(Project, project_id).developer_id
    return Sold(consultant, project_id, developer_id, deal["id"], lines[0]["id"], lines[0]["amount_cents"])


def quote(world, sold: Sold, expect: int = 201, line_ids=None):
    response = world.client.post(f"{MP}/buyback/quotes", json={"line_ids": line_ids or [sold.line_id]},
                                 headers=sold.consultant.auth)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def request(world, sold: Sold, quote_id: int, expect: int = 201):
    response = world.client.post(f"{MP}/buyback/requests", json={"quote_id": quote_id}, headers=sold.consultant.auth)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def approve(world, request_id: int, auth: dict, expect: int = 200):
    response = world.client.post(f"{ADMIN}/buyback/requests/{request_id}/approve", json={}, headers=auth)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


# --- the tests -------------------------------------------------------------------------------

from datetime import timedelta  # noqa: E402

import pytest  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from estate_platform.buyback.models import BuybackLine, BuybackRequest  # noqa: E402
from estate_platform.ledger import services as ledger  # noqa: E402
from estate_platform.ledger.models import LedgerTransaction  # noqa: E402
from tests.conftest import now  # noqa: E402


def code(response_json) -> str:
    return response_json["error"]["code"]


def test_a_quote_shows_every_fee_and_the_terms_with_recourse(world):
    sold = signed_line(world)
    q = quote(world, sold)
    assert q["face_cents"] == sold.face_cents == 5_400_000
    assert q["advance_cents"] + q["discount_cents"] + q["remainder_cents"] == q["face_cents"]
    assert q["advance_cents"] <= q["face_cents"] * 9000 // 10000
    line = q["lines"][0]
    assert line["line_id"] == sold.line_id and line["days"] == 30  # due 30 days after signing, no lateness
    # 12% a year for 30 days + 0.5% premium: 5,400,000 × 1200 × 30 / 3,650,000 = 53,260.27 → 53,260; 27,000
    assert (line["time_discount_cents"], line["premium_cents"], q["discount_cents"]) == (53_260, 27_000, 80_260)
    assert q["advance_cents"] == 4_860_000 and q["remainder_cents"] == 459_740
    assert "追索" in q["terms"] and "尾款" in q["terms"]
    assert q["equivalent_annual_bps"] > 0


def test_approval_posts_one_balanced_transaction_once_and_marks_the_lines_bought(world, app):
    sold = signed_line(world)
    set_settings(world, second_approver_cents=100_000_000)  # one finance user suffices below ¥1,000,000
    q = quote(world, sold)
    r = request(world, sold, q["id"])
    assert r["status"] == "requested" and r["lines"][0]["status"] == "reserved"
    done = approve(world, r["id"], world.staff_auth("finance"))
    assert done["status"] == "approved" and done["lines"][0]["status"] == "purchased"
    again = world.client.post(f"{ADMIN}/buyback/requests/{r['id']}/approve", json={},
                              headers=world.staff_auth("finance"))
    assert again.status_code == 409 and code(again.get_json()) == "buyback_request_closed"
    with app.app_context():
        kinds = db.session.scalars(select(LedgerTransaction.kind).where(
            LedgerTransaction.kind == "buyback_purchased")).all()
        assert kinds == ["buyback_purchased"]
        mine = ledger.balances(db.session, "consultant", sold.consultant.id)
        assert (mine["pending"], mine["available"], mine["remainder"]) == (0, -q["advance_cents"], -q["remainder_cents"])
        assert ledger.balances(db.session, "platform", 0)["purchased"] == -q["discount_cents"]
        assert ledger.total(db.session) == 0 and ledger.unbalanced_transactions(db.session) == []
    earnings = world.client.get(f"{MP}/earnings", headers=sold.consultant.auth).get_json()
    assert earnings["available_cents"] == q["advance_cents"] and earnings["pending_cents"] == 0


def test_a_sold_line_cannot_be_quoted_again(world):
    sold = signed_line(world)
    request(world, sold, quote(world, sold)["id"])
    assert code(quote(world, sold, expect=409)) == "buyback_line_taken"


def test_an_expired_quote_is_refused(world, app):
    sold = signed_line(world)
    q = quote(world, sold)
    with app.app_context():
        from estate_platform.buyback.models import BuybackQuote
        row = db.session.get(BuybackQuote, q["id"])
        row.created_at, row.expires_at = now() - timedelta(hours=2), now() - timedelta(hours=1)
        db.session.commit()
    assert code(request(world, sold, q["id"], expect=409)) == "buyback_quote_expired"


def test_a_quote_is_used_once(world):
    sold = signed_line(world)
    q = quote(world, sold)
    request(world, sold, q["id"])
    assert code(request(world, sold, q["id"], expect=409)) == "buyback_quote_used"


def test_another_consultants_line_is_not_found(world):
    sold = signed_line(world)
    other = world.operating_consultant()
    response = world.client.post(f"{MP}/buyback/quotes", json={"line_ids": [sold.line_id]}, headers=other.auth)
    assert response.status_code == 404 and code(response.get_json()) == "buyback_line_not_found"


def test_a_line_of_a_deal_not_signed_is_refused(world, app):
    sold = signed_line(world)
    world.client.post(f"{ADMIN}/deals/{sold.deal_id}/cancel", json={"reason": "退房"},
                      headers=world.staff_auth("finance"))
    assert code(quote(world, sold, expect=409)) == "buyback_deal_not_live"


def test_a_consultant_not_operating_is_refused(world, app):
    sold = signed_line(world)
    with app.app_context():
        from estate_platform.consultants.models import Consultant
        db.session.get(Consultant, sold.consultant.id).status = "suspended"
        db.session.commit()
    assert code(quote(world, sold, expect=403)) == "buyback_consultant_not_operating"


def test_credit_below_the_threshold_is_refused(world, app):
    sold = signed_line(world)
    with app.app_context():
        from estate_platform.consultants.models import Consultant
        db.session.get(Consultant, sold.consultant.id).rating = 59
        db.session.commit()
    body = quote(world, sold, expect=403)
    assert code(body) == "buyback_credit_too_low" and body["error"]["details"]["threshold"] == 60


def test_an_open_dispute_on_the_deal_is_refused(world, app):
    sold = signed_line(world)
    response = world.client.post(f"{ADMIN}/disputes", headers=world.staff_auth("operations"), json={
        "deal_id": sold.deal_id, "respondent_kind": "consultant", "subject": "核实", "summary": "客户投诉"})
    assert response.status_code == 201, response.get_json()
    assert code(quote(world, sold, expect=409)) == "buyback_open_dispute"


@pytest.mark.parametrize("setting, refusal", [("developer_limit_cents", "buyback_developer_limit"),
                                              ("consultant_limit_cents", "buyback_consultant_limit"),
                                              ("book_limit_cents", "buyback_book_limit")])
def test_each_exposure_limit_refuses_with_its_own_code(world, setting, refusal):
    sold = signed_line(world)
    set_settings(world, **{setting: sold.face_cents - 1})
    assert code(quote(world, sold, expect=409)) == refusal


def test_a_developers_own_limit_overrides_the_platform_default(world):
    sold = signed_line(world)
    response = world.client.put(f"{ADMIN}/buyback/developers/{sold.developer_id}/terms", headers=world.staff_auth(
        "finance"), json={"risk_premium_bps": 200, "exposure_limit_cents": 100})
    assert response.status_code == 200, response.get_json()
    assert code(quote(world, sold, expect=409)) == "buyback_developer_limit"


def test_exposure_is_reserved_on_request_and_released_by_cancel_reject_and_expiry(world, app):
    sold = signed_line(world)
    set_settings(world, consultant_limit_cents=sold.face_cents)
    first = request(world, sold, quote(world, sold)["id"])
    second = signed_line(world, consultant=sold.consultant, project_id=sold.project_id)
    assert code(quote(world, second, expect=409)) == "buyback_consultant_limit"  # the first reserves it all
    cancelled = world.client.post(f"{MP}/buyback/requests/{first['id']}/cancel", headers=sold.consultant.auth)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    r2 = request(world, second, quote(world, second)["id"])  # released: the second fits now
    rejected = world.client.post(f"{ADMIN}/buyback/requests/{r2['id']}/reject", json={"reason": "资料不全"},
                                 headers=world.staff_auth("finance"))
    assert rejected.status_code == 200 and rejected.get_json()["status"] == "rejected"
    r3 = request(world, sold, quote(world, sold)["id"])  # the first line may be offered again
    from estate_platform.buyback import requests as buyback_requests
    with app.app_context():
        assert buyback_requests.expire_due(db.session, now=now() + timedelta(days=4)) == 1
        db.session.commit()
        assert db.session.get(BuybackRequest, r3["id"]).status == "expired"
        assert db.session.scalar(select(func.count()).select_from(BuybackLine).where(
            BuybackLine.status != "released")) == 0
    assert request(world, second, quote(world, second)["id"])["status"] == "requested"


def second_finance_auth(world) -> dict:
    """Another finance user than ``world.staff_auth("finance")``."""
    _, username, password = world.staff("finance")
    response = world.client.post(f"{ADMIN}/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def test_a_large_request_needs_a_second_different_finance_user(world, app):
    sold = signed_line(world)
    set_settings(world, second_approver_cents=1_000_000)
    r = request(world, sold, quote(world, sold)["id"])
    first_auth = world.staff_auth("finance")
    first = approve(world, r["id"], first_auth)
    assert first["status"] == "requested" and first["first_approver_id"] is not None
    same = world.client.post(f"{ADMIN}/buyback/requests/{r['id']}/approve", json={}, headers=first_auth)
    assert same.status_code == 409 and code(same.get_json()) == "buyback_same_approver"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LedgerTransaction).where(
            LedgerTransaction.kind == "buyback_purchased")) == 0
    done = approve(world, r["id"], second_finance_auth(world))
    assert done["status"] == "approved" and done["second_approver_id"] != done["first_approver_id"]


def test_the_database_refuses_an_approval_without_the_second_approver(world, app):
    from sqlalchemy.exc import IntegrityError
    sold = signed_line(world)
    set_settings(world, second_approver_cents=1)
    r = request(world, sold, quote(world, sold)["id"])
    approve(world, r["id"], world.staff_auth("finance"))
    with app.app_context():
        row = db.session.get(BuybackRequest, r["id"])
        row.status, row.decided_at = "approved", now()
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()
