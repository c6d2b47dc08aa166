"""Disputes, penalties and their money (DESIGN §4, §5a, §7.4, §7.5, §7.10).

Service level first (opening once per finding, the maker-checker decision and what it
posts), then the admin and mini-program APIs, then concurrency on PostgreSQL.
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

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
        run(app, lambda s: disputes.withdraw(s, dispute_id, reason="不服", actor=disputes.Actor("consultant", market.jia.id),
                                             now=now()))
    with pytest.raises(disputes.DisputeNotFound):
        run(app, lambda s: disputes.withdraw(s, dispute_id, reason="路过", actor=disputes.Actor("consultant", market.bing.id),
                                             now=now()))


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
