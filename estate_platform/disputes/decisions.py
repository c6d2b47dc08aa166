"""Deciding a dispute: maker-checker, and the money it moves (DESIGN §4, §5a, §7.10).

One staff member (operations or admin) proposes the decision with a reason; a different
one approves it. Only the approval moves money, once:

* upheld against a consultant: the contract penalty is posted as money he owes
  (``consultant owes +P``, ``platform revenue −P``, key ``dispute:{id}:penalty``); where
  the dispute is about who served the buyer, the deal's serving consultant changes and its
  commission is reversed and recognised again along the rightful consultant's chain (the
  deal's own keys ``deal:{id}:reverse:v{n}`` / ``recognise:v{n+1}``); his credit drops;
* upheld against the developer: the commission at stake becomes a receivable from the
  developer, split along the protected consultant's chain as a deal would be (developer
  receivable +S, platform revenue −fee, each consultant's pending −line; key
  ``dispute:{id}:developer-stake``). Finance collects it like a deal's receivable and its
  lines become available under the developer's payable-when rule (``receivables.stakes``). The protected consultant is the victim: never fined,
  his credit untouched;
* dismissed: no money moves.

Two approvals at once: the dispute row is locked (SELECT … FOR UPDATE), so the second one
finds it closed (409 ``dispute_closed``) and changes nothing; the ledger keys and a partial
unique index (one approved decision per dispute) hold even if that lock were bypassed. The
database also refuses an approval by the proposer.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from ..clock import local_date
from ..commissions import services as commissions
from ..consultants.models import Consultant
from ..credit import services as credit
from ..deals import services as deals
from ..deals.recognition import ACCOUNT_OF_LINE, lines_for, load_context
from ..errors import Conflict, ValidationFailed
from ..evidence.services import Actor as EvidenceActor
from ..identity.models import StaffUser
from ..ledger import services as ledger
from ..ledger.services import Entry, Leg
from ..money import yuan
from . import rules
from . import terms as penalty_terms
from .models import CLOSED_STATUSES, OUTCOMES, Dispute, DisputeDecision
from .services import Actor, DisputeClosed, _event, _locked, _supersede_pending, tell_parties

MAX_AMOUNT_CENTS = rules.MAX_PENALTY_CENTS


class SameApprover(Conflict):
    code, message = "same_approver", "提出裁决的人不能审批自己的裁决，须由另一位运营或管理员审批"


class ProposalNotPending(Conflict):
    code, message = "proposal_not_pending", "该裁决建议已被新的建议取代或已处理，请刷新后查看最新建议"


class StakeUnknown(Conflict):
    code, message = "stake_unknown", "无法确定涉及的佣金：请填写开发商成交价与成交日期（该日须有生效的佣金规则），或直接填写涉及佣金"


@dataclass
class _Sale:
    """What recognition needs of a deal, for a sale the platform never recorded as one."""
    id: int
    project_id: int
    buyer_id: int
    consultant_id: int
    subscribed_on: date
    policy_snapshot: str
    commission_cents: int


def _stake_lines(session: Session, dispute: Dispute, stake_cents: int, sold_on: date) -> list[dict]:
    """The stake split along the protected consultant's chain as of the sale date, by the
    split policy in force then (as a deal subscribed that day would be)."""
    policy = commissions.policy_in_force(session, dispute.project_id, sold_on)
    sale = _Sale(id=0, project_id=dispute.project_id, buyer_id=dispute.buyer_id,
                 consultant_id=dispute.protected_consultant_id, subscribed_on=sold_on,
                 policy_snapshot=commissions.canonical(commissions.policy_snapshot(policy)),
                 commission_cents=stake_cents)
    context = load_context(session, [sale])
    return [{"party_type": line.party_type, "party_id": line.party_id, "role": line.role, "level": line.level,
             "amount_cents": line.amount_cents, "reason": line.reason}
            for line in lines_for(context, sale, stake_cents)]


def propose_decision(session: Session, staff: StaffUser, dispute_id: int, *, outcome: str, reason: str | None,
                     penalty_cents: int | None = None, stake_cents: int | None = None,
                     rightful_consultant_id: int | None = None, sale_price_cents: int | None = None,
                     sold_on: date | None = None, now: datetime) -> DisputeDecision:
    """Record a proposed decision (the maker); it supersedes a pending one. Amounts are fixed
    now: the penalty from the terms in force when the buyer was registered (or
    ``penalty_cents`` given by the proposer), the stake from the deal or the sale."""
    dispute = _locked(session, dispute_id)
    if dispute.status in CLOSED_STATUSES:
        raise DisputeClosed(details={"status": dispute.status})
    errors: dict[str, list[str]] = {}
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = ["请填写裁决理由"]
    if outcome not in OUTCOMES:
        errors["outcome"] = ["裁决结果须为 upheld（成立）或 dismissed（不成立）"]
    errors.update(rules.check_sale(sale_price_cents, sold_on, local_date(now)))
    for field, value in (("penalty_cents", penalty_cents), ("stake_cents", stake_cents)):
        if value is not None and not 0 <= value <= MAX_AMOUNT_CENTS:
            errors[field] = ["金额须在 0 到 100 亿元之间（以分为单位的整数）"]
    upheld = outcome == "upheld"
    against_consultant = dispute.respondent_kind == "consultant"
    if not upheld:
        for field, value in (("penalty_cents", penalty_cents), ("stake_cents", stake_cents),
                             ("rightful_consultant_id", rightful_consultant_id)):
            if value is not None:
                errors[field] = ["争议不成立时不涉及资金"]
    elif against_consultant and stake_cents is not None:
        errors["stake_cents"] = ["被投诉方为顾问时请直接填写违约金（penalty_cents）"]
    elif not against_consultant:
        for field, value in (("penalty_cents", penalty_cents), ("rightful_consultant_id", rightful_consultant_id)):
            if value is not None:
                errors[field] = ["被投诉方为开发商时，受保护的顾问是受害方，不处罚、不改判成交顾问"]
    if upheld and rightful_consultant_id is not None and "rightful_consultant_id" not in errors:
        deal = dispute.deal
        if deal is None:
            errors["rightful_consultant_id"] = ["该争议未关联成交，无法改判成交顾问"]
        elif deal.stage == "cancelled":
            errors["rightful_consultant_id"] = ["关联成交已退房，无法改判成交顾问"]
        elif rightful_consultant_id in (dispute.respondent_consultant_id, deal.consultant_id):
            errors["rightful_consultant_id"] = ["应改判为被投诉顾问以外的顾问"]
        elif session.get(Consultant, rightful_consultant_id) is None:
            errors["rightful_consultant_id"] = ["顾问不存在"]
    if errors:
        raise ValidationFailed(errors)

    decision = DisputeDecision(dispute_id=dispute.id, outcome=outcome, reason=reason, status="proposed",
                               stake_cents=0, penalty_cents=0, penalty_overridden=False,
                               sale_price_cents=sale_price_cents, sold_on=sold_on,
                               rightful_consultant_id=rightful_consultant_id if upheld else None,
                               proposed_by_id=staff.id, proposed_at=now)
    if upheld:
        stake = penalty_terms.stake_for(session, dispute, sale_price_cents=sale_price_cents, sold_on=sold_on)
        if against_consultant:
            applied = penalty_terms.terms_for(session, dispute)
            decision.stake_cents = stake.cents
            decision.penalty_fixed_cents = applied.terms.fixed_cents
            decision.penalty_multiple_bps = applied.terms.multiple_bps
            decision.agreement_version_id = applied.agreement.id if applied.agreement else None
            decision.terms_note = f"{applied.note}；涉及佣金 {yuan(stake.cents)}（{stake.basis}）"
            if penalty_cents is None:
                decision.penalty_cents = rules.penalty_cents(applied.terms, stake.cents)
            else:
                decision.penalty_cents, decision.penalty_overridden = penalty_cents, True
        else:
            decision.stake_cents = stake.cents if stake_cents is None else stake_cents
            if decision.stake_cents == 0:
                raise StakeUnknown(details={"basis": stake.basis})
            split_on = sold_on or dispute.sold_on or local_date(now)
            decision.stake_lines = commissions.canonical(
                {"sold_on": split_on.isoformat(),
                 "lines": _stake_lines(session, dispute, decision.stake_cents, split_on)})
            decision.terms_note = (f"开发商应付涉及佣金 {yuan(decision.stake_cents)}（"
                                   f"{'人工填写' if stake_cents is not None else stake.basis}），按受保护顾问的分佣链确认")
    _supersede_pending(session, dispute)
    session.add(decision)
    session.flush()
    _event(session, dispute, "decision_proposed", Actor("staff", staff.id), now,
           note=f"建议裁定{rules.OUTCOME_LABELS[outcome]}：{reason}")
    dispute.updated_at = now
    return decision


def approve_decision(session: Session, staff: StaffUser, dispute_id: int, decision_id: int, *,
                     now: datetime) -> DisputeDecision:
    """The checker approves the pending proposal: the dispute is decided, final, and its money
    moves, exactly once."""
    dispute = _locked(session, dispute_id)
    if dispute.status in CLOSED_STATUSES:
        raise DisputeClosed(details={"status": dispute.status})
    decision = session.get(DisputeDecision, decision_id, populate_existing=True)
    if decision is None or decision.dispute_id != dispute.id or decision.status != "proposed":
        raise ProposalNotPending(details={"decision_id": decision_id})
    if decision.proposed_by_id == staff.id:
        raise SameApprover()
    decision.status, decision.approved_by_id, decision.approved_at = "approved", staff.id, now
    dispute.status = rules.next_status(dispute.status, "uphold" if decision.outcome == "upheld" else "dismiss")
    dispute.closed_at = dispute.updated_at = now
    session.flush()
    if decision.outcome == "upheld":
        if dispute.respondent_kind == "consultant":
            _uphold_against_consultant(session, staff, dispute, decision, now)
        else:
            _uphold_against_developer(session, staff, dispute, decision, now)
    _event(session, dispute, "decided", Actor("staff", staff.id), now,
           note=f"裁定{rules.OUTCOME_LABELS[decision.outcome]}（{decision.proposed_by.display_name} 提出，"
                f"{staff.display_name} 审批）：{decision.reason}")
    money = ""
    if decision.outcome == "upheld" and dispute.respondent_kind == "consultant" and decision.penalty_cents:
        money = f"，违约金 {yuan(decision.penalty_cents)} 计入被投诉顾问欠款"
    elif decision.outcome == "upheld" and dispute.respondent_kind == "developer":
        money = f"，开发商应付涉及佣金 {yuan(decision.stake_cents)} 已按分佣链确认"
    tell_parties(session, dispute, "dispute_decided",
                 f"争议 #{dispute.id} 已裁定{rules.OUTCOME_LABELS[decision.outcome]}{money}：{decision.reason}",
                 now=now, also=(decision.rightful_consultant_id,))
    return decision


def _uphold_against_consultant(session: Session, staff: StaffUser, dispute: Dispute, decision: DisputeDecision,
                               now: datetime) -> None:
    respondent = dispute.respondent_consultant_id
    if decision.penalty_cents > 0:
        entry = Entry(idempotency_key=f"dispute:{dispute.id}:penalty", kind="dispute_penalty",
                      description=f"争议 #{dispute.id} 违约金 {yuan(decision.penalty_cents)}：{dispute.subject}",
                      legs=(Leg("consultant", respondent, "owes", decision.penalty_cents,
                                f"争议 #{dispute.id} 违约金（{decision.terms_note or ''}）"[:500]),
                            Leg("platform", 0, "revenue", -decision.penalty_cents, f"争议 #{dispute.id} 违约金收入")))
        transaction, _ = ledger.post(session, entry, actor_type="staff", actor_id=staff.id, now=now)
        decision.penalty_transaction_id = transaction.id
    if decision.rightful_consultant_id is not None:
        deals.reassign_serving_consultant(session, dispute.deal_id, decision.rightful_consultant_id,
                                          reason=f"争议 #{dispute.id} 裁定：{decision.reason}"[:500],
                                          actor=EvidenceActor("staff", staff.id), now=now)
    credit.dispute_upheld(session, respondent, dispute.id, dispute.subject, now=now)


def _uphold_against_developer(session: Session, staff: StaffUser, dispute: Dispute, decision: DisputeDecision,
                              now: datetime) -> None:
    plan = json.loads(decision.stake_lines)
    legs = [Leg("developer", dispute.developer_id, "receivable", decision.stake_cents,
                f"争议 #{dispute.id} 开发商应付涉及佣金")]
    legs += [Leg(line["party_type"], line["party_id"], ACCOUNT_OF_LINE[line["party_type"]][0], -line["amount_cents"],
                 f"争议 #{dispute.id}：{line['reason']}"[:500]) for line in plan["lines"]]
    entry = Entry(idempotency_key=f"dispute:{dispute.id}:developer-stake", kind="dispute_stake_recognised",
                  description=f"争议 #{dispute.id} 开发商应付涉及佣金 {yuan(decision.stake_cents)}：{dispute.subject}",
                  legs=tuple(legs))
    transaction, _ = ledger.post(session, entry, actor_type="staff", actor_id=staff.id, now=now)
    decision.stake_transaction_id = transaction.id


# --- reading ----------------------------------------------------------------------------------

def stake_lines_of(decision: DisputeDecision) -> list[dict]:
    return json.loads(decision.stake_lines)["lines"] if decision.stake_lines else []


@dataclass
class DeveloperReceivable:
    dispute: Dispute
    decision: DisputeDecision


def developer_receivables(session: Session, developer_id: int) -> list[DeveloperReceivable]:
    """What the developer owes from upheld disputes (跑单/撬单 it was found to have done). Each
    stake is collected like a deal's receivable (``receivables.stakes``: open receivables, aging,
    statements, and its lines released by ``receivables.releases``)."""
    from sqlalchemy import select
    rows = session.execute(select(Dispute, DisputeDecision)
                           .join(DisputeDecision, DisputeDecision.dispute_id == Dispute.id)
                           .where(Dispute.developer_id == developer_id, Dispute.respondent_kind == "developer",
                                  Dispute.status == "upheld", DisputeDecision.status == "approved")
                           .order_by(DisputeDecision.approved_at.desc(), Dispute.id.desc())).all()
    return [DeveloperReceivable(dispute, decision) for dispute, decision in rows]
