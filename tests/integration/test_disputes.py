"""Disputes, penalties and their money (DESIGN §4, §5a, §7.4, §7.5, §7.10).

Service level first (opening once per finding, the maker-checker decision and what it
posts), then the admin and mini-program APIs, then concurrency on PostgreSQL.
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from estate_platform.consultants.models import Consultant
from estate_platform.credit.models import CreditEvent
from estate_platform.deals.models import Deal
from estate_platform.deals.recognition import current_lines
from estate_platform.disputes import decisions
from estate_platform.disputes import services as disputes
from estate_platform.disputes import terms as penalty_terms
from estate_platform.disputes.models import Dispute, DisputeDecision, DisputeEvent
from estate_platform.errors import ValidationFailed
from estate_platform.evidence import services as evidence
from estate_platform.ledger import services as ledger
from estate_platform.ledger.models import LedgerTransaction
from estate_platform.notifications.models import Notification
from estate_platform.registrations.models import Registration
from tests.conftest import now

from .dispute_scene import COMMISSION, PENALTY_FIXED, PRICE, build_market, run, staff, staff_member, today


@pytest.fixture
def market(world):
    return build_market(world)


@pytest.fixture
def ops(world):
    """Two operations staff: the maker and the checker."""
    return staff_member(world, "operations", "运营小李"), staff_member(world, "operations", "运营老王")


def open_against_jia(app, market, key="manual:zhou", **extra):
    return run(app, lambda s: disputes.open_dispute(
        s, source="manual", source_key=key, project_id=market.project, buyer_id=market.zhou_buyer,
        registration_id=market.zhou_registration, deal_id=market.deal, respondent_kind="consultant",
        respondent_consultant_id=market.jia.id, claimant_consultant_id=market.yi.id,
        subject="报备了未服务的客户", summary="客户称全程由乙接待", now=now(), **extra)[0].id)


def open_against_developer(app, market, key="reconciliation:registration:wang", **extra):
    values = {"sale_price_cents": PRICE, "sold_on": today(), **extra}
    return run(app, lambda s: disputes.open_dispute(
        s, source="reconciliation", source_key=key, project_id=market.project, buyer_id=market.wang_buyer,
        registration_id=market.wang_registration, respondent_kind="developer",
        subject="跑单：开发商直接成交受保护客户", summary="销售清单第 7 行，渠道：自然到访", now=now(), **values)[0].id)


def propose(app, staff_id, dispute_id, **kwargs):
    kwargs.setdefault("outcome", "upheld")
    kwargs.setdefault("reason", "回访与证据链一致")
    return run(app, lambda s: decisions.propose_decision(s, staff(s, staff_id), dispute_id, now=now(), **kwargs).id)


def approve(app, staff_id, dispute_id, decision_id):
    return run(app, lambda s: decisions.approve_decision(s, staff(s, staff_id), dispute_id, decision_id,
                                                         now=now()).id)


def balances(app, party_type, party_id):
    return run(app, lambda s: ledger.balances(s, party_type, party_id))


def count(app, model, *where):
    return run(app, lambda s: s.scalar(select(func.count()).select_from(model).where(*where)))


def rating(app, consultant_id):
    return run(app, lambda s: s.get(Consultant, consultant_id).rating)


def ledger_is_balanced(app):
    return run(app, lambda s: (ledger.total(s), ledger.unbalanced_transactions(s))) == (0, [])


# --- opening ---------------------------------------------------------------------------------------

def test_the_same_finding_opens_one_dispute_however_often_it_is_reported(app, market):
    first = open_against_developer(app, market)
    again = run(app, lambda s: disputes.open_dispute(
        s, source="reconciliation", source_key="reconciliation:registration:wang", project_id=market.project,
        buyer_id=market.wang_buyer, registration_id=market.wang_registration, respondent_kind="developer",
        subject="另一次导入", summary="同一行", now=now()))
    assert again[0].id == first and again[1] is False
    assert count(app, Dispute) == 1
    assert count(app, DisputeEvent, DisputeEvent.dispute_id == first) == 1
    assert count(app, Notification, Notification.kind == "dispute_opened") == 1  # only the protected 乙


def test_a_developer_dispute_names_the_protected_consultant_as_party_and_never_as_respondent(app, market):
    dispute_id = open_against_developer(app, market)
    dispute = run(app, lambda s: s.get(Dispute, dispute_id))
    assert dispute.respondent_kind == "developer" and dispute.respondent_consultant_id is None
    assert dispute.protected_consultant_id == market.yi.id
    assert dispute.developer_id == market.developer_id
    assert dispute.deadline_at > now() + timedelta(days=6)


@pytest.mark.parametrize("change, field", [
    ({"respondent_consultant_id": None}, "respondent_consultant_id"),
    ({"claimant_consultant_id": "jia"}, "claimant_consultant_id"),
    ({"subject": "  "}, "subject"),
    ({"registration_id": "wang"}, "registration_id"),
    ({"sale_price_cents": 100}, "sold_on"),
])
def test_a_dispute_that_does_not_hold_together_is_refused_naming_the_field(app, market, change, field):
    values = dict(source="manual", source_key="manual:bad", project_id=market.project, buyer_id=market.zhou_buyer,
                  registration_id=market.zhou_registration, respondent_kind="consultant",
                  respondent_consultant_id=market.jia.id, subject="标题", summary="说明")
    names = {"jia": market.jia.id, "wang": market.wang_registration}
    values.update({k: names.get(v, v) for k, v in change.items()})
    with pytest.raises(ValidationFailed) as refused:
        run(app, lambda s: disputes.open_dispute(s, now=now(), **values))
    assert field in refused.value.details["fields"]
    assert count(app, Dispute) == 0


# --- deciding against a consultant ----------------------------------------------------------------

def test_upheld_against_a_consultant_posts_the_penalty_once_as_money_he_owes(app, market, ops):
    (maker, _), (checker, _) = ops
    dispute_id = open_against_jia(app, market)
    decision_id = propose(app, maker, dispute_id)
    proposed = run(app, lambda s: s.get(DisputeDecision, decision_id))
    # The deal's commission ¥60,000 is at stake: 2× = ¥120,000 beats the fixed ¥5,000.
    assert (proposed.stake_cents, proposed.penalty_cents) == (COMMISSION, 2 * COMMISSION)
    assert "协议第 1 版" in proposed.terms_note
    assert count(app, LedgerTransaction, LedgerTransaction.kind == "dispute_penalty") == 0  # nothing before approval
    owed_before = balances(app, "consultant", market.jia.id)["owes"]

    approve(app, checker, dispute_id, decision_id)
    assert run(app, lambda s: s.get(Dispute, dispute_id).status) == "upheld"
    assert balances(app, "consultant", market.jia.id)["owes"] - owed_before == 2 * COMMISSION
    assert count(app, LedgerTransaction, LedgerTransaction.idempotency_key == f"dispute:{dispute_id}:penalty") == 1
    assert rating(app, market.jia.id) == 60
    assert ledger_is_balanced(app)

    # Decided is final: approving again, or proposing anew, changes nothing.
    with pytest.raises(disputes.DisputeClosed):
        approve(app, checker, dispute_id, decision_id)
    with pytest.raises(disputes.DisputeClosed):
        propose(app, maker, dispute_id, outcome="dismissed")
    assert count(app, LedgerTransaction, LedgerTransaction.kind == "dispute_penalty") == 1
    assert rating(app, market.jia.id) == 60


def test_the_decider_cannot_approve_his_own_decision(app, market, ops):
    (maker, _), _ = ops
    dispute_id = open_against_jia(app, market)
    decision_id = propose(app, maker, dispute_id)
    with pytest.raises(decisions.SameApprover):
        approve(app, maker, dispute_id, decision_id)
    assert run(app, lambda s: s.get(Dispute, dispute_id).status) == "open"
    assert count(app, LedgerTransaction, LedgerTransaction.kind == "dispute_penalty") == 0
    assert rating(app, market.jia.id) == 80


def test_the_database_refuses_an_approval_by_the_proposer_even_behind_the_service(app, market, ops):
    from sqlalchemy.exc import IntegrityError
    (maker, _), _ = ops
    decision_id = propose(app, maker, open_against_jia(app, market))

    def self_approve(session):
        decision = session.get(DisputeDecision, decision_id)
        decision.status, decision.approved_by_id, decision.approved_at = "approved", maker, now()
        session.flush()
    with pytest.raises(IntegrityError):
        run(app, self_approve)


def test_a_fixed_penalty_applies_when_no_commission_is_at_stake(app, market, ops):
    (maker, _), (checker, _) = ops
    dispute_id = run(app, lambda s: disputes.open_dispute(
        s, source="revisit", source_key="revisit:1", project_id=market.project, buyer_id=market.wang_buyer,
        registration_id=market.wang_registration, respondent_kind="consultant", respondent_consultant_id=market.yi.id,
        subject="虚假带看", summary="客户否认到访", now=now())[0].id)
    decision_id = propose(app, maker, dispute_id)
    assert run(app, lambda s: s.get(DisputeDecision, decision_id).penalty_cents) == PENALTY_FIXED
    approve(app, checker, dispute_id, decision_id)
    assert balances(app, "consultant", market.yi.id)["owes"] == PENALTY_FIXED


def test_the_terms_in_force_when_the_buyer_was_registered_apply(app, world, market, ops):
    (maker, _), _ = ops
    # Stricter project terms set after 甲 registered 周先生 do not apply to him …
    run(app, lambda s: penalty_terms.set_project_terms(s, market.project, penalty_fixed_cents=50_000_000,
                                                       penalty_multiple_bps=30_000, staff_id=None, now=now()))
    dispute_id = open_against_jia(app, market)
    assert run(app, lambda s: s.get(DisputeDecision, propose(app, maker, dispute_id)).penalty_cents) == 2 * COMMISSION
    # … but to a buyer registered after them: 3× ¥60,000 = ¥180,000 < ¥500,000 fixed.
    later = world.register(market.jia, market.project, name="李先生")
    other = run(app, lambda s: disputes.open_dispute(
        s, source="manual", source_key="manual:li", project_id=market.project,
        buyer_id=s.get(Registration, later["id"]).buyer_id,
        registration_id=later["id"], respondent_kind="consultant", respondent_consultant_id=market.jia.id,
        subject="抢客", summary="说明", sale_price_cents=PRICE, sold_on=today(), now=now())[0].id)
    decision = run(app, lambda s: s.get(DisputeDecision, propose(app, maker, other)))
    assert (decision.stake_cents, decision.penalty_cents) == (COMMISSION, 50_000_000)
    assert "楼盘加重条款" in decision.terms_note


def test_who_served_the_buyer_is_corrected_and_the_deals_lines_still_sum_to_its_commission(app, market, ops):
    (maker, _), (checker, _) = ops
    dispute_id = open_against_jia(app, market)
    decision_id = propose(app, maker, dispute_id, rightful_consultant_id=market.yi.id)
    approve(app, checker, dispute_id, decision_id)

    deal = run(app, lambda s: s.get(Deal, market.deal))
    lines = run(app, lambda s: current_lines(s, s.get(Deal, market.deal)))
    assert deal.consultant_id == market.yi.id and deal.recognised and deal.lines_version == 2
    assert sum(line.amount_cents for line in lines) == deal.commission_cents == COMMISSION
    by_role = {(line.role, line.level): line.party_id for line in lines}
    assert by_role[("serving", None)] == market.yi.id and by_role[("upline", 1)] == market.bing.id
    # 甲's pending from this deal is gone; he owes the penalty; 乙 and his upline 丙 earn.
    assert run(app, lambda s: ledger.deal_balance(s, market.deal, "consultant", market.jia.id, "pending")) == 0
    assert balances(app, "consultant", market.yi.id)["pending"] < 0
    assert ledger_is_balanced(app)
    chain = run(app, lambda s: evidence.chain(s, "deal", market.deal))
    assert [r.event for r in chain][-1] == "consultant_reassigned" and evidence.verify(chain) == (True, None)
    assert json.loads(chain[-1].payload)["to_consultant_id"] == market.yi.id


def test_dismissed_moves_no_money_and_keeps_every_score(app, market, ops):
    (maker, _), (checker, _) = ops
    dispute_id = open_against_jia(app, market)
    before = count(app, LedgerTransaction)
    approve(app, checker, dispute_id, propose(app, maker, dispute_id, outcome="dismissed"))
    assert run(app, lambda s: s.get(Dispute, dispute_id).status) == "dismissed"
    assert count(app, LedgerTransaction) == before
    assert rating(app, market.jia.id) == 80 and count(app, CreditEvent) == 0


def test_a_new_proposal_supersedes_the_pending_one_which_can_no_longer_be_approved(app, market, ops):
    (maker, _), (checker, _) = ops
    dispute_id = open_against_jia(app, market)
    first = propose(app, maker, dispute_id)
    second = propose(app, checker, dispute_id, outcome="dismissed", reason="证据不足")
    assert run(app, lambda s: s.get(DisputeDecision, first).status) == "superseded"
    with pytest.raises(decisions.ProposalNotPending):
        approve(app, checker, dispute_id, first)
    approve(app, maker, dispute_id, second)  # the first proposer checks the second proposal
    assert run(app, lambda s: s.get(Dispute, dispute_id).status) == "dismissed"


def test_a_withdrawn_dispute_takes_no_decision(app, market, ops):
    (maker, _), _ = ops
    dispute_id = open_against_jia(app, market)
    pending = propose(app, maker, dispute_id)
    run(app, lambda s: disputes.withdraw(s, dispute_id, reason="双方和解", actor=disputes.Actor("consultant", market.yi.id),
                                         now=now()))
    assert run(app, lambda s: s.get(DisputeDecision, pending).status) == "superseded"
    with pytest.raises(disputes.DisputeClosed):
        propose(app, maker, dispute_id)


def test_only_the_complainant_may_withdraw_and_others_do_not_see_the_dispute(app, market):
    dispute_id = open_against_jia(app, market)
    with pytest.raises(disputes.InvalidDisputeTransition):
        run(app, lambda s: disputes.withdraw(s, dispute_id, reason="不服",
                                             actor=disputes.Actor("consultant", market.jia.id), now=now()))
    with pytest.raises(disputes.DisputeNotFound):
        run(app, lambda s: disputes.withdraw(s, dispute_id, reason="路过",
                                             actor=disputes.Actor("consultant", market.bing.id), now=now()))


# --- deciding against the developer ------------------------------------------------------------------

def test_upheld_against_the_developer_creates_the_receivable_and_never_fines_the_victim(app, market, ops):
    (maker, _), (checker, _) = ops
    dispute_id = open_against_developer(app, market)
    with pytest.raises(ValidationFailed):  # the victim cannot be fined, nor the deal reassigned
        propose(app, maker, dispute_id, penalty_cents=100)
    decision_id = propose(app, maker, dispute_id)
    owed_before = balances(app, "consultant", market.yi.id)["owes"]
    receivable_before = balances(app, "developer", market.developer_id)["receivable"]
    approve(app, checker, dispute_id, decision_id)

    decision = run(app, lambda s: s.get(DisputeDecision, decision_id))
    assert decision.stake_cents == COMMISSION and decision.penalty_cents == 0
    assert balances(app, "developer", market.developer_id)["receivable"] - receivable_before == COMMISSION
    lines = decisions.stake_lines_of(decision)
    assert sum(line["amount_cents"] for line in lines) == COMMISSION
    by_role = {(line["role"], line["level"]): (line["party_id"], line["amount_cents"]) for line in lines}
    # fee 10% = 600,000; the rest 5,400,000: 丙 (upline 1 of 乙) 10% = 540,000; 乙 keeps 4,860,000.
    assert by_role == {("platform_fee", None): (0, 600_000), ("upline", 1): (market.bing.id, 540_000),
                       ("serving", None): (market.yi.id, 4_860_000)}
    assert balances(app, "consultant", market.yi.id)["owes"] == owed_before  # the victim is never fined
    assert rating(app, market.yi.id) == 80
    assert count(app, LedgerTransaction, LedgerTransaction.kind == "dispute_penalty") == 0
    assert count(app, LedgerTransaction,
                 LedgerTransaction.idempotency_key == f"dispute:{dispute_id}:developer-stake") == 1
    receivables = run(app, lambda s: [(r.dispute.id, r.decision.stake_cents)
                                      for r in decisions.developer_receivables(s, market.developer_id)])
    assert receivables == [(dispute_id, COMMISSION)]
    assert ledger_is_balanced(app)


def test_a_developer_dispute_with_no_known_sale_asks_for_the_stake(app, market, ops):
    (maker, _), _ = ops
    dispute_id = run(app, lambda s: disputes.open_dispute(
        s, source="complaint", source_key="complaint:x", project_id=market.project, buyer_id=market.wang_buyer,
        registration_id=market.wang_registration, respondent_kind="developer", claimant_consultant_id=market.yi.id,
        subject="开发商撬单", summary="说明", now=now())[0].id)
    with pytest.raises(decisions.StakeUnknown):
        propose(app, maker, dispute_id)
    decision_id = propose(app, maker, dispute_id, stake_cents=1_000_000)
    assert run(app, lambda s: s.get(DisputeDecision, decision_id).stake_cents) == 1_000_000


# --- the admin JSON API --------------------------------------------------------------------------------

ADMIN = "/admin/api/v1"
MP = "/api/mp/v1"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
PDF = b"%PDF-1.4\n" + bytes(64)


def error(response) -> str:
    return response.get_json()["error"]["code"]


def create_manual(client, headers, market, **extra):
    body = {"deal_id": market.deal, "respondent_kind": "consultant", "claimant_consultant_id": market.yi.id,
            "subject": "报备了未服务的客户", "summary": "客户称全程由另一位顾问接待\n有聊天记录", **extra}
    return client.post(f"{ADMIN}/disputes", headers=headers, json=body)


def test_operations_open_a_dispute_once_per_idempotency_key(client, market, ops):
    (_, headers), _ = ops
    first = create_manual(client, headers, market, idempotency_key="ticket-42")
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert body["respondent"] == {"id": market.jia.id, "name": "甲"} and body["deal_id"] == market.deal
    assert body["registration_id"] == market.zhou_registration and body["status_label"] == "待处理"
    assert body["buyer_phone"] == market.zhou_phone[:3] + "****" + market.zhou_phone[-4:]
    assert body["terms"]["penalty_cents"] == 2 * COMMISSION and body["terms"]["stake_cents"] == COMMISSION
    again = create_manual(client, headers, market, idempotency_key="ticket-42")
    assert again.status_code == 200 and again.get_json()["id"] == body["id"]
    listed = client.get(f"{ADMIN}/disputes?status=open&respondent_kind=consultant&consultant_id={market.jia.id}",
                        headers=headers).get_json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == body["id"]
    assert client.get(f"{ADMIN}/disputes?source=risk_flag", headers=headers).get_json()["total"] == 0


def test_a_manual_dispute_without_a_registration_or_deal_is_refused(client, ops, market):
    (_, headers), _ = ops
    response = client.post(f"{ADMIN}/disputes", headers=headers, json={
        "respondent_kind": "consultant", "subject": "无对象", "summary": "说明"})
    assert response.status_code == 422 and "registration_id" in response.get_json()["error"]["details"]["fields"]


def test_the_decision_goes_through_a_maker_and_a_different_checker_over_the_api(client, market, ops, app):
    (_, maker), (_, checker) = ops
    dispute = create_manual(client, maker, market).get_json()
    investigating = client.post(f"{ADMIN}/disputes/{dispute['id']}/investigate", headers=maker, json={"note": "调取录音"})
    assert investigating.get_json()["status"] == "investigating"
    proposed = client.post(f"{ADMIN}/disputes/{dispute['id']}/decision", headers=maker, json={
        "outcome": "upheld", "reason": "客户确认由乙接待", "rightful_consultant_id": market.yi.id})
    assert proposed.status_code == 201, proposed.get_json()
    decision = proposed.get_json()
    assert decision["status"] == "proposed" and decision["penalty_cents"] == 2 * COMMISSION
    assert decision["rightful_consultant"]["id"] == market.yi.id

    own = client.post(f"{ADMIN}/disputes/{dispute['id']}/decision/approve", headers=maker,
                      json={"decision_id": decision["id"]})
    assert own.status_code == 409 and error(own) == "same_approver"
    approved = client.post(f"{ADMIN}/disputes/{dispute['id']}/decision/approve", headers=checker,
                           json={"decision_id": decision["id"]})
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json()["penalty_transaction_id"] is not None
    again = client.post(f"{ADMIN}/disputes/{dispute['id']}/decision/approve", headers=checker,
                        json={"decision_id": decision["id"]})
    assert again.status_code == 409 and error(again) == "dispute_closed"
    detail = client.get(f"{ADMIN}/disputes/{dispute['id']}", headers=checker).get_json()
    assert detail["status"] == "upheld" and detail["closed_at"]
    assert [e["event"] for e in detail["events"]] == ["opened", "investigating", "decision_proposed", "decided"]
    assert count(app, LedgerTransaction, LedgerTransaction.kind == "dispute_penalty") == 1
    assert ledger_is_balanced(app)


@pytest.mark.parametrize("role, method, path, status", [
    ("site_staff", "get", "/disputes", 403), ("finance", "post", "/disputes/{id}/decision", 403),
    ("finance", "get", "/disputes/{id}", 200), ("site_staff", "get", "/disputes/{id}/evidence-pack", 403)])
def test_who_may_read_and_who_may_decide(client, world, market, ops, role, method, path, status):
    (_, headers), _ = ops
    dispute = create_manual(client, headers, market).get_json()
    response = getattr(client, method)(f"{ADMIN}{path.format(id=dispute['id'])}", headers=world.staff_auth(role),
                                       json={"outcome": "dismissed", "reason": "不成立"} if method == "post" else None)
    assert response.status_code == status, response.get_json()


def test_the_developers_collection_record_shows_what_it_owes_from_disputes(client, app, market, ops, world):
    (maker_id, maker), (_, checker) = ops
    dispute_id = open_against_developer(app, market)
    decision = client.post(f"{ADMIN}/disputes/{dispute_id}/decision", headers=maker, json={
        "outcome": "upheld", "reason": "销售清单显示自然到访成交"}).get_json()
    assert decision["stake_cents"] == COMMISSION and decision["penalty_cents"] == 0
    assert sum(line["amount_cents"] for line in decision["stake_lines"]) == COMMISSION
    client.post(f"{ADMIN}/disputes/{dispute_id}/decision/approve", headers=checker,
                json={"decision_id": decision["id"]})
    record = client.get(f"{ADMIN}/developers/{market.developer_id}/dispute-receivables",
                        headers=world.staff_auth("finance")).get_json()
    assert record["total_cents"] == COMMISSION and [i["dispute_id"] for i in record["items"]] == [dispute_id]
    assert record["items"][0]["transaction_id"] is not None


def test_a_project_sets_stricter_terms_shown_with_its_registration_rules(client, world, market, ops):
    (_, headers), _ = ops
    response = client.put(f"{ADMIN}/projects/{market.project}/penalty-terms", headers=headers,
                          json={"penalty_fixed_cents": 1_000_000, "penalty_multiple_bps": 10_000})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    # Term by term the stricter: the project's ¥10,000 fixed, the agreement's 2×.
    assert (body["effective_penalty_fixed_cents"], body["effective_penalty_multiple_bps"]) == (1_000_000, 20_000)
    assert body["text"] == "违约金为以下两者中较高者：每宗 ¥10,000.00；所涉佣金的 2 倍" and len(body["history"]) == 1
    rules = client.get(f"{MP}/projects/{market.project}", headers=market.yi.auth).get_json()["rules"]
    assert rules["penalty_terms"]["penalty_fixed_cents"] == 1_000_000
    assert rules["penalty_terms"]["stricter_than_agreement"] is True
    assert rules["daily_consultant_registration_cap_low_credit"] == 5
    assert any("信用分低于 60 分的顾问每天最多在本楼盘报备 5 位客户" in line for line in rules["explanation"])
    refused = client.put(f"{ADMIN}/projects/{market.project}/penalty-terms", headers=world.staff_auth("finance"),
                         json={"penalty_fixed_cents": 0, "penalty_multiple_bps": 0})
    assert refused.status_code == 403


def test_the_agreement_renders_its_penalty_terms_into_the_signed_text(client, world, market):
    agreement = client.get(f"{MP}/agreement", headers=market.yi.auth).get_json()
    assert "【违约金条款】" in agreement["text"] and "每宗 ¥5,000.00；所涉佣金的 2 倍" in agreement["text"]
    import hashlib
    assert agreement["sha256"] == hashlib.sha256(agreement["text"].encode()).hexdigest()
    # The same text with other terms is a new version; the same text and terms are refused.
    published = client.post(f"{ADMIN}/agreements", headers=world.staff_auth("admin"), json={
        "title": "顾问合作协议", "text": agreement["text"], "penalty_multiple_bps": 30_000})
    assert published.status_code == 201 and published.get_json()["penalty_fixed_cents"] == 500_000
    assert published.get_json()["text"].count("【违约金条款】") == 1 and "3 倍" in published.get_json()["text"]
    same = client.post(f"{ADMIN}/agreements", headers=world.staff_auth("admin"), json={
        "title": "新标题", "text": published.get_json()["text"]})
    assert same.status_code == 409 and error(same) == "agreement_unchanged"


# --- the evidence pack --------------------------------------------------------------------------------------

def test_the_evidence_pack_shows_the_verified_timeline_the_signed_agreement_and_masked_phones(
        client, app, market, ops, world):
    (_, headers), _ = ops
    dispute = create_manual(client, headers, market).get_json()
    pack = client.get(f"{ADMIN}/disputes/{dispute['id']}/evidence-pack", headers=world.staff_auth("finance"))
    assert pack.status_code == 200, pack.get_json()
    body = pack.get_json()
    assert body["evidence_verified"] is True
    assert {(c["subject_type"], c["subject_id"]) for c in body["chains"]} == {
        ("registration", market.zhou_registration), ("deal", market.deal)}
    events = [(r["subject_type"], r["event"]) for r in body["timeline"]]
    assert events[0] == ("registration", "registered") and ("deal", "stage_changed") in events
    assert all(len(r["hash"]) == 64 for r in body["timeline"])
    assert market.zhou_phone not in json.dumps(body, ensure_ascii=False)  # masked, payloads included
    respondent = next(a for a in body["agreements"] if a["role"] == "respondent")
    assert respondent["version"] == 1 and respondent["signature_matches"] is True
    assert body["penalty_cents"] == 2 * COMMISSION
    assert [(s["key"], s["rows"]) for s in body["sections"]] == [("revisits", []), ("sales_list", [])]  # 暂无
    # Finance may not see the full number even if it asks; operations may, and the read is logged.
    asked = client.get(f"{ADMIN}/disputes/{dispute['id']}/evidence-pack?reveal_phone=true",
                       headers=world.staff_auth("finance")).get_json()
    assert asked["buyer"]["phone_revealed"] is False
    revealed = client.get(f"{ADMIN}/disputes/{dispute['id']}/evidence-pack?reveal_phone=true",
                          headers=headers).get_json()
    assert revealed["buyer"]["phone"] == market.zhou_phone and revealed["buyer"]["phone_revealed"] is True
    from estate_platform.registrations.models import PhoneReveal
    assert count(app, PhoneReveal, PhoneReveal.purpose.like("争议 #%")) == 1


def test_a_tampered_record_makes_the_pack_say_so(client, app, market, ops):
    (_, headers), _ = ops
    dispute = create_manual(client, headers, market).get_json()
    from estate_platform.evidence.models import EvidenceRecord

    def forge(session):  # behind the triggers' back: a test-only rewrite of history
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("ALTER TABLE evidence_records DISABLE TRIGGER USER"))
        else:
            session.execute(text("DROP TRIGGER evidence_records_no_update"))
        record = session.scalar(select(EvidenceRecord).where(EvidenceRecord.subject_type == "deal").limit(1))
        record.payload = record.payload.replace("3-1201", "9-9999")
        session.flush()
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("ALTER TABLE evidence_records ENABLE TRIGGER USER"))
    run(app, forge)
    body = client.get(f"{ADMIN}/disputes/{dispute['id']}/evidence-pack", headers=headers).get_json()
    assert body["evidence_verified"] is False
    assert {c["subject_type"]: c["verified"] for c in body["chains"]} == {"registration": True, "deal": False}


# --- the mini-program -------------------------------------------------------------------------------------

def test_a_consultant_sees_only_the_disputes_he_is_party_to(client, market, ops, app):
    (_, headers), _ = ops
    dispute = create_manual(client, headers, market).get_json()
    mine = client.get(f"{MP}/disputes", headers=market.jia.auth).get_json()
    assert [d["id"] for d in mine["items"]] == [dispute["id"]] and mine["items"][0]["my_role"] == "respondent"
    assert mine["items"][0]["other_side"] == "其他顾问" and "乙" not in json.dumps(mine, ensure_ascii=False)
    detail = client.get(f"{MP}/disputes/{dispute['id']}", headers=market.jia.auth)
    assert detail.status_code == 200 and detail.get_json()["can_answer"] is True
    assert client.get(f"{MP}/disputes/{dispute['id']}", headers=market.yi.auth).get_json()["my_role"] == "claimant"
    # 丙 is no party: the dispute does not exist for him, nor can he answer or withdraw it.
    for response in (client.get(f"{MP}/disputes/{dispute['id']}", headers=market.bing.auth),
                     client.post(f"{MP}/disputes/{dispute['id']}/statement", headers=market.bing.auth,
                                 data={"text": "与我无关"}, content_type="multipart/form-data"),
                     client.post(f"{MP}/disputes/{dispute['id']}/withdraw", headers=market.bing.auth,
                                 json={"reason": "撤回"})):
        assert response.status_code == 404 and error(response) == "dispute_not_found"
    assert client.get(f"{MP}/disputes", headers=market.bing.auth).get_json()["total"] == 0


def test_the_respondent_answers_within_the_deadline_with_a_statement_and_attachments(client, market, ops, app):
    (_, headers), _ = ops
    dispute = create_manual(client, headers, market).get_json()
    from io import BytesIO
    answered = client.post(f"{MP}/disputes/{dispute['id']}/statement", headers=market.jia.auth,
                           content_type="multipart/form-data", data={
                               "text": "客户由我首次接待。\n附带看记录。",
                               "file": [(BytesIO(PNG), "带看照片.png", "image/png"),
                                        (BytesIO(PDF), "确认单.pdf", "application/pdf")]})
    assert answered.status_code == 201, answered.get_json()
    statement = answered.get_json()
    assert statement["text"] == "客户由我首次接待。\n附带看记录。"
    assert [(a["filename"], a["content_type"]) for a in statement["attachments"]] == [
        ("带看照片.png", "image/png"), ("确认单.pdf", "application/pdf")]
    staff_view = client.get(f"{ADMIN}/disputes/{dispute['id']}", headers=headers).get_json()
    assert staff_view["statements"][0]["consultant"]["name"] == "甲"
    assert len(staff_view["statements"][0]["attachments"]) == 2

    fake = client.post(f"{MP}/disputes/{dispute['id']}/statement", headers=market.jia.auth,
                       content_type="multipart/form-data",
                       data={"text": "假图片", "file": [(BytesIO(b"GIF89a" + bytes(20)), "x.png", "image/png")]})
    assert fake.status_code == 422 and error(fake) == "attachment_type_not_allowed"
    too_many = client.post(f"{MP}/disputes/{dispute['id']}/statement", headers=market.jia.auth,
                           content_type="multipart/form-data",
                           data={"text": "很多附件", "file": [(BytesIO(PNG), f"{i}.png", "image/png") for i in range(6)]})
    assert too_many.status_code == 422
    empty = client.post(f"{MP}/disputes/{dispute['id']}/statement", headers=market.jia.auth,
                        content_type="multipart/form-data", data={"text": "  "})
    assert empty.status_code == 422 and "text" in empty.get_json()["error"]["details"]["fields"]

    def expire(session):
        session.get(Dispute, dispute["id"]).deadline_at = now() - timedelta(minutes=1)
    run(app, expire)
    late = client.post(f"{MP}/disputes/{dispute['id']}/statement", headers=market.jia.auth,
                       content_type="multipart/form-data", data={"text": "迟到的陈述"})
    assert late.status_code == 409 and error(late) == "statement_deadline_passed"


def test_a_consultant_complains_about_the_developer_and_then_withdraws(client, market, ops, app):
    complaint = client.post(f"{MP}/disputes", headers=market.yi.auth, json={
        "registration_id": market.wang_registration, "against": "developer", "subject": "开发商跑单",
        "summary": "王女士已在案场直接认购"})
    assert complaint.status_code == 201, complaint.get_json()
    body = complaint.get_json()
    assert body["my_role"] == "claimant" and body["other_side"] == "开发商" and body["can_withdraw"] is True
    again = client.post(f"{MP}/disputes", headers=market.yi.auth, json={
        "registration_id": market.wang_registration, "against": "developer", "subject": "再次投诉", "summary": "同上"})
    assert again.status_code == 200 and again.get_json()["id"] == body["id"]
    staff_view = client.get(f"{ADMIN}/disputes/{body['id']}", headers=ops[0][1]).get_json()
    assert staff_view["source"] == "complaint" and staff_view["protected"]["id"] == market.yi.id
    # 甲's registration is not 乙's to complain about.
    foreign = client.post(f"{MP}/disputes", headers=market.yi.auth, json={
        "registration_id": market.zhou_registration, "against": "developer", "subject": "x", "summary": "y"})
    assert foreign.status_code == 404
    withdrawn = client.post(f"{MP}/disputes/{body['id']}/withdraw", headers=market.yi.auth, json={"reason": "已和解"})
    assert withdrawn.status_code == 200 and withdrawn.get_json()["status"] == "withdrawn"
    closed = client.post(f"{MP}/disputes/{body['id']}/withdraw", headers=market.yi.auth, json={"reason": "再撤"})
    assert closed.status_code == 409 and error(closed) == "dispute_closed"


def test_a_complaint_against_a_consultant_finds_who_took_the_buyer_without_naming_him(client, app, world, market):
    # 乙 registered 周先生 too, but 甲 holds him and signed the deal: 乙 complains.
    def second_registration(session):
        from estate_platform.registrations.models import Registration as R
        first = session.get(R, market.zhou_registration)
        mine = R(project_id=first.project_id, buyer_id=first.buyer_id, consultant_id=market.yi.id,
                 buyer_name="周先生", status="expired", binding=False, protection_mode=first.protection_mode,
                 protected_until=now(), created_at=now() - timedelta(days=1), updated_at=now())
        session.add(mine)
        session.flush()
        return mine.id
    registration_id = run(app, second_registration)
    complaint = client.post(f"{MP}/disputes", headers=market.yi.auth, json={
        "registration_id": registration_id, "against": "consultant", "subject": "撬单", "summary": "客户是我先带看的"})
    assert complaint.status_code == 201, complaint.get_json()
    assert complaint.get_json()["other_side"] == "其他顾问" and "甲" not in complaint.get_data(as_text=True)
    staff_view = client.get(f"{ADMIN}/disputes/{complaint.get_json()['id']}",
                            headers=world.staff_auth("operations")).get_json()
    assert staff_view["respondent"]["id"] == market.jia.id and staff_view["deal_id"] == market.deal


def test_the_parties_are_told_when_a_dispute_opens_and_when_it_is_decided(client, app, market, ops):
    (_, maker), (_, checker) = ops
    dispute = create_manual(client, maker, market).get_json()
    decision = client.post(f"{ADMIN}/disputes/{dispute['id']}/decision", headers=maker, json={
        "outcome": "upheld", "reason": "证据充分"}).get_json()
    client.post(f"{ADMIN}/disputes/{dispute['id']}/decision/approve", headers=checker,
                json={"decision_id": decision["id"]})
    told = run(app, lambda s: s.execute(select(Notification.consultant_id, Notification.kind)
                                        .where(Notification.kind.in_(("dispute_opened", "dispute_decided",
                                                                      "credit_changed")))
                                        .order_by(Notification.id)).all())
    assert sorted(told) == sorted([(market.jia.id, "dispute_opened"), (market.yi.id, "dispute_opened"),
                                   (market.jia.id, "dispute_decided"), (market.yi.id, "dispute_decided"),
                                   (market.jia.id, "credit_changed")])


# --- concurrency on PostgreSQL --------------------------------------------------------------------------------

@pytest.mark.postgres
def test_two_concurrent_approvals_post_the_penalty_exactly_once(app, world, market, ops):
    from tests.parallel import parallel
    (_, maker), (_, checker) = ops
    _, another = staff_member(world, "admin", "管理员老张")
    client = world.client
    dispute = create_manual(client, maker, market).get_json()
    decision = client.post(f"{ADMIN}/disputes/{dispute['id']}/decision", headers=maker, json={
        "outcome": "upheld", "reason": "证据充分", "rightful_consultant_id": market.yi.id}).get_json()
    url = f"{ADMIN}/disputes/{dispute['id']}/decision/approve"
    outcome = parallel(app, [lambda c, h=h: c.post(url, headers=h, json={"decision_id": decision["id"]})
                             for h in (checker, another)])
    assert sorted(outcome.elements()) == [(200, None), (409, "dispute_closed")]
    assert count(app, LedgerTransaction, LedgerTransaction.idempotency_key == f"dispute:{dispute['id']}:penalty") == 1
    assert count(app, LedgerTransaction, LedgerTransaction.kind == "commission_reversed") == 1
    assert count(app, CreditEvent, CreditEvent.consultant_id == market.jia.id) == 1
    assert balances(app, "consultant", market.jia.id)["owes"] == 2 * COMMISSION
    assert ledger_is_balanced(app)
    lines = run(app, lambda s: current_lines(s, s.get(Deal, market.deal)))
    assert sum(line.amount_cents for line in lines) == COMMISSION


@pytest.mark.postgres
def test_the_same_finding_reported_concurrently_opens_one_dispute(app, world, market):
    import threading
    from estate_platform.db import commit, db
    barrier, results = threading.Barrier(4), []

    def report():
        with app.app_context():
            barrier.wait()
            dispute, created = disputes.open_dispute(
                db.session, source="risk_flag", source_key="risk_flag:77", project_id=market.project,
                buyer_id=market.zhou_buyer, registration_id=market.zhou_registration, respondent_kind="consultant",
                respondent_consultant_id=market.jia.id, subject="防截客", summary="报备后 2 分钟到访", now=now())
            commit(db.session)
            results.append((dispute.id, created))
    threads = [threading.Thread(target=report) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 4 and len({d for d, _ in results}) == 1 and sum(c for _, c in results) == 1
    assert count(app, Dispute) == 1


def test_the_pack_shows_the_buyers_revisits_from_their_registered_section(client, app, market, ops):
    from estate_platform.revisits import rules as revisit_rules
    from estate_platform.revisits import services as revisits
    (_, headers), _ = ops
    dispute = create_manual(client, headers, market).get_json()
    run(app, lambda s: revisits.schedule(s, now=now(), settings=revisit_rules.Settings(deal_sample_bps=10_000),
                                         sample_key=b"pack"))
    sections = {s["key"]: s["rows"] for s in client.get(f"{ADMIN}/disputes/{dispute['id']}/evidence-pack",
                                                        headers=headers).get_json()["sections"]}
    assert [row["kind"] for row in sections["revisits"]] == [revisit_rules.KIND_LABELS["deal_sample"]]
    assert sections["sales_list"] == []
