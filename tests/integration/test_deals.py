"""Deals, their commission split by the referral chain, and the ledger, over HTTP (DESIGN §2, §3, §5)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from estate_platform.clock import SHANGHAI
from estate_platform.db import db
from estate_platform.ledger import services as ledger
from estate_platform.ledger.models import LedgerTransaction, Posting
from tests.conftest import now

MP = "/api/mp/v1"


def today():
    return now().astimezone(SHANGHAI).date()


def error(response) -> str:
    return response.get_json()["error"]["code"]


@pytest.fixture
def chain(world):
    """A invited B, B invited C; D hands a buyer to C, who serves him."""
    a = world.operating_consultant(name="甲")
    b = world.operating_consultant(name="乙", inviter_code=a.invite_code)
    c = world.operating_consultant(name="丙", inviter_code=b.invite_code)
    d = world.operating_consultant(name="丁")
    project = world.project()
    world.commission_rule(project)  # 2% of the price, on signing
    world.split_policy()  # fee 10%, referral 20%, uplines 10% / 5% of the rest
    phone = world.next_buyer_phone()
    offered = world.client.post(f"{MP}/handoffs", headers=d.auth, json={
        "buyer_phone": phone, "buyer_name": "周先生", "project_id": project, "to_consultant_id": c.id})
    assert offered.status_code == 201, offered.get_json()
    accepted = world.client.post(f"{MP}/handoffs/{offered.get_json()['id']}/accept", headers=c.auth)
    assert accepted.status_code == 200, accepted.get_json()
    return {"a": a, "b": b, "c": c, "d": d, "project": project, "phone": phone}


def own_lines(client, consultant, deal_id):
    response = client.get(f"{MP}/deals/{deal_id}/commission", headers=consultant.auth)
    return response.status_code, response.get_json()


def test_a_signed_deal_splits_its_commission_along_the_chain_to_the_cent(world, client, chain, app):
    deal = world.deal(chain["project"], chain["phone"], price_cents=300_000_000)
    assert deal["commission_cents"] == 6_000_000 and deal["recognised"] is False
    signed = world.stage(deal["id"], "signed")
    assert signed["recognised"] is True
    assert signed["due_on"] == (today() + timedelta(days=30)).isoformat()

    lines = client.get(f"/admin/api/v1/deals/{deal['id']}/commission", headers=world.staff_auth("finance")).get_json()
    by_role = {(line["role"], line["level"]): (line["party_id"], line["amount_cents"]) for line in lines["lines"]}
    # C = 6,000,000; fee 10% = 600,000; the rest R = 5,400,000: referral 20% = 1,080,000,
    # upline L1 10% = 540,000, L2 5% = 270,000, the serving consultant keeps 3,510,000.
    assert by_role == {("platform_fee", None): (0, 600_000), ("referral", None): (chain["d"].id, 1_080_000),
                       ("upline", 1): (chain["b"].id, 540_000), ("upline", 2): (chain["a"].id, 270_000),
                       ("serving", None): (chain["c"].id, 3_510_000)}
    assert sum(amount for _, amount in by_role.values()) == 6_000_000
    with app.app_context():
        assert ledger.total(db.session) == 0 and ledger.unbalanced_transactions(db.session) == []
        assert ledger.balances(db.session, "consultant", chain["c"].id)["pending"] == -3_510_000


def test_each_consultant_sees_only_his_own_line_and_its_reason(world, client, chain):
    deal = world.deal(chain["project"], chain["phone"])
    world.stage(deal["id"], "signed")
    status, mine = own_lines(client, chain["c"], deal["id"])
    assert status == 200 and [(l["role"], l["amount_cents"]) for l in mine["lines"]] == [("serving", 3_510_000)]
    status, upline = own_lines(client, chain["b"], deal["id"])
    assert status == 200 and [(l["role"], l["level"], l["amount_cents"]) for l in upline["lines"]] == [
        ("upline", 1, 540_000)]
    assert upline["lines"][0]["reason"].startswith("丙 的 1 级上级 乙（邀请 丙 于 ")
    assert "3510000" not in str(upline) and "1080000" not in str(upline)
    status, referral = own_lines(client, chain["d"], deal["id"])
    assert [(l["role"], l["amount_cents"]) for l in referral["lines"]] == [("referral", 1_080_000)]
    outsider = world.operating_consultant(name="戊")
    assert own_lines(client, outsider, deal["id"])[0] == 404
    # The deal itself (price, buyer) is the serving consultant's only.
    assert client.get(f"{MP}/deals/{deal['id']}", headers=chain["b"].auth).status_code == 404
    assert client.get(f"{MP}/deals/{deal['id']}", headers=chain["c"].auth).status_code == 200
    assert [d["id"] for d in client.get(f"{MP}/deals", headers=chain["c"].auth).get_json()["items"]] == [deal["id"]]
    assert client.get(f"{MP}/deals", headers=chain["b"].auth).get_json()["total"] == 0


def test_before_the_trigger_the_serving_consultant_sees_his_expected_line_and_nothing_is_posted(
        world, client, chain, app):
    deal = world.deal(chain["project"], chain["phone"])
    status, mine = own_lines(client, chain["c"], deal["id"])
    assert status == 200 and [(l["status"], l["amount_cents"]) for l in mine["lines"]] == [("expected", 3_510_000)]
    assert own_lines(client, chain["b"], deal["id"])[0] == 404  # no line yet, not his deal
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Posting)) == 0


def test_earnings_show_pending_and_history_from_the_ledger(world, client, chain):
    deal = world.deal(chain["project"], chain["phone"])
    world.stage(deal["id"], "signed")
    earnings = client.get(f"{MP}/earnings", headers=chain["c"].auth).get_json()
    assert (earnings["pending_cents"], earnings["available_cents"], earnings["paid_cents"],
            earnings["owed_cents"]) == (3_510_000, 0, 0, 0)
    assert [(h["account"], h["amount_cents"], h["deal_id"]) for h in earnings["history"]] == [
        ("pending", 3_510_000, deal["id"])]


def test_cancelling_a_recognised_deal_reverses_every_line_exactly_once(world, client, chain, app):
    deal = world.deal(chain["project"], chain["phone"])
    world.stage(deal["id"], "signed")
    response = client.post(f"/admin/api/v1/deals/{deal['id']}/cancel", json={"reason": "客户退房"},
                           headers=world.staff_auth("finance"))
    assert response.status_code == 200 and response.get_json()["stage"] == "cancelled"
    again = client.post(f"/admin/api/v1/deals/{deal['id']}/cancel", json={"reason": "重复提交"},
                        headers=world.staff_auth("finance"))
    assert again.status_code == 409 and error(again) == "deal_cancelled"
    with app.app_context():
        for who in "abcd":
            assert ledger.balances(db.session, "consultant", chain[who].id)["pending"] == 0
        kinds = db.session.scalars(select(LedgerTransaction.kind).order_by(LedgerTransaction.id)).all()
        assert kinds == ["commission_recognised", "commission_reversed"]
        assert ledger.total(db.session) == 0
    mine = own_lines(client, chain["c"], deal["id"])[1]
    assert [l["status"] for l in mine["lines"]] == ["reversed"]
    # The unit is free again: the buyer's registration still binds him, so he may subscribe it anew.
    world.deal(chain["project"], chain["phone"], unit=response.get_json()["unit"])


def test_a_clawback_after_payout_becomes_an_amount_the_consultant_owes(world, client, chain, app):
    from tests.integration.settlement_scene import add_verified_account, age_accounts, finance_token, id_number
    deal = world.deal(chain["project"], chain["phone"])
    world.stage(deal["id"], "signed")
    c = chain["c"]
    with app.app_context():  # the developer paid: C's line became available
        ledger.post(db.session, ledger.Entry("test:paid", "developer_paid", "回款", (
            ledger.Leg("consultant", c.id, "pending", 3_510_000), ledger.Leg("consultant", c.id, "available", -3_510_000)),
            deal_id=deal["id"]), now=now())
        db.session.commit()
    # C is paid through a real settlement batch (maker, checker, second checker for a new account).
    add_verified_account(client, app, c, holder_name="丙", id_no=id_number(7))
    age_accounts(app)
    maker, checker, second = (finance_token(world, client) for _ in range(3))
    batch = client.post("/admin/api/v1/settlements", json={}, headers=maker).get_json()
    for approver in (checker, second):
        assert client.post(f"/admin/api/v1/settlements/{batch['id']}/approve", headers=approver).status_code == 200
    paid = client.get(f"{MP}/earnings", headers=c.auth).get_json()
    assert (paid["available_cents"], paid["paid_cents"]) == (0, 3_510_000)

    client.post(f"/admin/api/v1/deals/{deal['id']}/cancel", json={"reason": "退房"}, headers=world.staff_auth("finance"))
    earnings = client.get(f"{MP}/earnings", headers=c.auth).get_json()
    assert (earnings["pending_cents"], earnings["available_cents"], earnings["paid_cents"],
            earnings["owed_cents"]) == (0, 0, 3_510_000, 3_510_000)
    with app.app_context():
        assert ledger.total(db.session) == 0


def test_rerunning_the_batch_posts_nothing_new(world, chain, app):
    from estate_platform.deals import batch as recognition_batch, recognition
    deal = world.deal(chain["project"], chain["phone"])
    world.stage(deal["id"], "signed")
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(Posting))
        assert recognition_batch.recognise_due(db.session, now=now()) == 0
        assert recognition.recognise(db.session, [db.session.get(recognition.Deal, deal["id"])], now=now()) == 0
        assert db.session.scalar(select(func.count()).select_from(Posting)) == before


def test_the_cli_batch_recognises_due_deals_with_a_progress_bar_and_twice_posts_nothing(world, chain, app):
    from estate_platform.deals.models import Deal
    deal = world.deal(chain["project"], chain["phone"])
    with app.app_context():  # reached the trigger without per-deal recognition (e.g. an import)
        row = db.session.get(Deal, deal["id"])
        row.stage, row.signed_on, row.trigger_reached_on = "signed", today(), today()
        db.session.commit()
    runner = app.test_cli_runner()
    first = runner.invoke(args=["commissions", "recognise"])
    assert first.exit_code == 0 and "recognised 1 deals" in first.output, first.output
    second = runner.invoke(args=["commissions", "recognise"])
    assert "recognised 0 deals" in second.output
    with app.app_context():
        assert db.session.get(Deal, deal["id"]).recognised is True
        assert ledger.total(db.session) == 0


def test_a_chain_member_not_operating_on_the_subscription_date_is_skipped_and_the_platform_keeps_his_share(
        world, client, chain):
    suspended = client.post(f"/admin/api/v1/consultants/{chain['b'].id}/suspend", json={"reason": "违规"},
                            headers=world.staff_auth("operations"))
    assert suspended.status_code == 200
    deal = world.deal(chain["project"], chain["phone"])
    world.stage(deal["id"], "signed")
    lines = client.get(f"/admin/api/v1/deals/{deal['id']}/commission", headers=world.staff_auth("finance")).get_json()
    by_role = {(l["role"], l["level"]): l["amount_cents"] for l in lines["lines"]}
    assert ("upline", 1) not in by_role
    assert by_role[("platform_fee", None)] == 600_000 + 540_000
    assert "乙（上级）成交日非有效签约顾问" in next(l["reason"] for l in lines["lines"] if l["role"] == "platform_fee")
    assert sum(by_role.values()) == 6_000_000


def test_tiers_price_each_deal_by_its_place_in_the_month_forward_only(world):
    consultant = world.operating_consultant()
    project = world.project()
    world.split_policy()
    world.commission_rule(project, tier_metric="units", tiers=[{"threshold": 2, "rate_bps": 300}])
    first = world.deal(project, world.register(consultant, project)["buyer_phone"], price_cents=100_000_000)
    second = world.deal(project, world.register(consultant, project)["buyer_phone"], price_cents=100_000_000)
    assert (first["commission_cents"], second["commission_cents"]) == (2_000_000, 3_000_000)


def test_a_fixed_amount_rule_pays_per_unit_and_its_trigger_waits_for_the_loan(world, client):
    consultant = world.operating_consultant()
    project = world.project()
    world.split_policy(platform_fee_bps=0, referral_bps=0, upline_bps=[], max_upline_levels=0)
    world.commission_rule(project, basis="fixed", rate_bps=None, fixed_cents=5_000_000, trigger="loan_disbursed",
                          payment_terms_days=45)
    deal = world.deal(project, world.register(consultant, project)["buyer_phone"])
    assert world.stage(deal["id"], "signed")["recognised"] is False
    disbursed = world.stage(deal["id"], "loan_disbursed")
    assert disbursed["recognised"] is True and disbursed["due_on"] == (today() + timedelta(days=45)).isoformat()
    assert client.get(f"{MP}/earnings", headers=consultant.auth).get_json()["pending_cents"] == 5_000_000


def test_correcting_the_price_reprices_and_reposts_the_commission(world, client, chain, app):
    deal = world.deal(chain["project"], chain["phone"], price_cents=300_000_000)
    world.stage(deal["id"], "signed")
    response = client.post(f"/admin/api/v1/deals/{deal['id']}/price", json={"price_cents": 250_000_000,
                                                                              "reason": "优惠后网签价"},
                           headers=world.staff_auth("finance"))
    assert response.status_code == 200 and response.get_json()["commission_cents"] == 5_000_000
    earnings = client.get(f"{MP}/earnings", headers=chain["c"].auth).get_json()
    # R = 4,500,000 → serving keeps 65% of it: 2,925,000.
    assert earnings["pending_cents"] == 2_925_000
    with app.app_context():
        assert ledger.total(db.session) == 0


@pytest.mark.parametrize("case, status, code", [
    ("unregistered", 409, "no_binding_registration"),
    ("future", 422, "validation_error"),
    ("before_registration", 409, "subscribed_before_registration"),
    ("unit_taken", 409, "unit_already_sold"),
    ("no_rule", 409, "no_commission_rule"),
    ("other_developer", 404, "project_not_found"),
    ("consultant_token", 401, None),
])
def test_a_deal_that_cannot_be_recorded_is_refused_and_changes_nothing(world, client, counts, case, status, code):
    consultant = world.operating_consultant()
    project = world.project()
    world.split_policy()
    world.commission_rule(project)
    phone = world.register(consultant, project)["buyer_phone"]
    world.deal(project, phone, unit="1-101")
    second = world.register(consultant, project)["buyer_phone"]
    body = {"project_id": project, "buyer_phone": second, "unit": "2-202", "price_cents": 100_000_000,
            "subscribed_on": today().isoformat()}
    headers = world.staff_auth("finance")
    if case == "unregistered":
        body["buyer_phone"] = world.next_buyer_phone()
    elif case == "future":
        body["subscribed_on"] = (today() + timedelta(days=1)).isoformat()
    elif case == "before_registration":
        body["subscribed_on"] = (today() - timedelta(days=3)).isoformat()
    elif case == "unit_taken":
        body["unit"] = "1-101"
    elif case == "no_rule":
        other = world.project()
        body["project_id"] = other
        body["buyer_phone"] = world.register(consultant, other)["buyer_phone"]
    elif case == "other_developer":
        headers = world.staff_auth("site_staff")  # works for another developer
    elif case == "consultant_token":
        headers = consultant.auth
    before = counts()
    response = client.post("/admin/api/v1/deals", json=body, headers=headers)
    assert response.status_code == status, response.get_json()
    if code:
        assert error(response) == code
    after = counts()
    assert {k: v for k, v in after.items() if v != before[k]} == {}


def test_site_staff_record_deals_only_for_their_developer_and_never_see_the_split(world, client, app):
    from estate_platform.identity.models import StaffUser
    consultant = world.operating_consultant()
    site_headers = world.staff_auth("site_staff")
    with app.app_context():
        developer_id = db.session.scalar(select(StaffUser.developer_id).where(StaffUser.role == "site_staff"))
    project = world.project(developer_id=developer_id)
    world.split_policy()
    world.commission_rule(project)
    deal = world.deal(project, world.register(consultant, project)["buyer_phone"], role="site_staff")
    assert "lines" not in deal and "*" in deal["buyer_phone"]
    assert client.get(f"/admin/api/v1/deals/{deal['id']}/commission", headers=site_headers).status_code == 403
    assert world.stage(deal["id"], "signed", role="site_staff")["recognised"] is True


def test_stages_only_move_forward(world):
    consultant = world.operating_consultant()
    project = world.project()
    world.split_policy()
    world.commission_rule(project)
    deal = world.deal(project, world.register(consultant, project)["buyer_phone"])
    world.stage(deal["id"], "loan_disbursed", expect=409)
    world.stage(deal["id"], "signed")
    world.stage(deal["id"], "signed", expect=409)
    world.stage(deal["id"], "paid_in_full")


def test_a_split_policy_with_three_upline_levels_is_refused_by_the_api_and_by_the_database(world, app):
    refused = world.split_policy(expect=422, upline_bps=[500, 300, 200], max_upline_levels=3)
    assert "max_upline_levels" in refused["error"]["details"]["fields"]
    with app.app_context():
        with pytest.raises(Exception):
            db.session.execute(text(
                "INSERT INTO split_policies (effective_from, platform_fee_bps, referral_bps, max_upline_levels, "
                "upline_l1_bps, upline_l2_bps, buyer_referral_reward_cents, created_at) "
                "VALUES ('2030-01-01', 1000, 0, 3, 100, 100, 0, '2030-01-01 00:00:00')"))
            db.session.flush()
        db.session.rollback()


def test_a_buyer_who_referred_his_friend_earns_the_reward_out_of_the_platform_fee(world, client, app):
    consultant = world.operating_consultant()
    project = world.project()
    world.split_policy(buyer_referral_reward_cents=200_000)
    world.commission_rule(project)
    owner_phone, friend_phone = world.next_buyer_phone(), world.next_buyer_phone()

    def buyer_token(phone):
        assert client.post(f"{MP}/auth/sms/send", json={"phone": phone}).status_code == 200
        code = app.extensions["adapters"].sms.last_code("+86" + phone)
        return client.post(f"{MP}/auth/sms/verify", json={"phone": phone, "code": code}).get_json()["token"]

    owner = {"Authorization": f"Bearer {buyer_token(owner_phone)}"}
    friend = {"Authorization": f"Bearer {buyer_token(friend_phone)}"}
    code = client.get(f"{MP}/buyer/referral-code", headers=owner).get_json()["code"]
    assert client.post(f"{MP}/buyer/referrals", json={"code": code}, headers=friend).status_code == 201
    again = client.post(f"{MP}/buyer/referrals", json={"code": code}, headers=friend)
    assert again.status_code == 409 and error(again) == "already_referred"
    own = client.get(f"{MP}/buyer/referral-code", headers=friend).get_json()["code"]
    loop = client.post(f"{MP}/buyer/referrals", json={"code": own}, headers=owner)
    assert loop.status_code == 409 and error(loop) == "referral_not_allowed"

    world.register(consultant, project, phone=friend_phone)
    deal = world.deal(project, friend_phone)
    world.stage(deal["id"], "signed")
    lines = client.get(f"/admin/api/v1/deals/{deal['id']}/commission", headers=world.staff_auth("finance")).get_json()
    by_role = {l["role"]: l["amount_cents"] for l in lines["lines"]}
    assert by_role["buyer_referral"] == 200_000 and by_role["platform_fee"] == 600_000 - 200_000
    assert sum(by_role.values()) == 6_000_000
