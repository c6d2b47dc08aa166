"""Recording deals and moving them through their stages (DESIGN §2).

A deal is recorded against the buyer's binding registration of the project, by
site staff of the project's developer or by finance. Stages: subscribed (认购) →
signed (网签) → loan_disbursed (放款) or paid_in_full (全款); cancelled (退房) from
any stage, with a reason. When a stage reaches the commission rule's trigger the
commission is recognised; a cancellation reverses it. Changes are events in the
evidence chain with actor and reason, never silent edits.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ..clock import local_date, start_of_local_month
from ..commissions import pricing
from ..commissions import services as commissions
from ..db import advisory_lock, paginate
from ..errors import Conflict, NotFound, ValidationFailed
from ..evidence import services as evidence
from ..evidence.services import Actor
from ..identity.models import Buyer, StaffUser
from ..money import yuan
from ..notifications.services import notify
from ..phones import InvalidPhone, mask_phone, normalise_phone
from ..projects.models import Project
from ..projects.services import visible_project
from ..registrations.services import binding_registration
from . import recognition
from .models import Deal

LOCK_DEALS_OF_PROJECT = 2_000_000_000  # + project id: tier positions are counted under this lock
NEXT_STAGES = {"subscribed": ("signed",), "signed": ("loan_disbursed", "paid_in_full"),
               "loan_disbursed": (), "paid_in_full": (), "cancelled": ()}
STAGE_LABELS = {"subscribed": "认购", "signed": "网签", "loan_disbursed": "放款", "paid_in_full": "全款到账",
                "cancelled": "退房"}


class DealNotFound(NotFound):
    code, message = "deal_not_found", "成交记录不存在"


class NoBindingRegistration(Conflict):
    code, message = "no_binding_registration", "该客户在此楼盘没有有效报备（或到访为王模式下尚未确认到访），不能录入成交"


class SubscribedBeforeRegistration(Conflict):
    code, message = "subscribed_before_registration", "认购日期早于报备日期，该成交不属于平台顾问带来的客户"


class UnitAlreadySold(Conflict):
    code, message = "unit_already_sold", "该房号已有未退房的成交记录"


class InvalidStageChange(Conflict):
    code, message = "invalid_stage_change", "成交当前阶段不能变更为所选阶段"


class DealCancelled(Conflict):
    code, message = "deal_cancelled", "该成交已退房，不能再修改"


@dataclass
class NewDeal:
    project_id: int
    buyer_phone: str
    unit: str
    price_cents: int
    subscribed_on: date
    note: str | None = None


def _actor(staff: StaffUser) -> Actor:
    return Actor("staff", staff.id)


def _validate_new(data: NewDeal, today: date) -> str:
    errors: dict[str, list[str]] = {}
    phone = ""
    try:
        phone = normalise_phone(data.buyer_phone)
    except InvalidPhone:
        errors["buyer_phone"] = ["请输入有效的中国大陆手机号"]
    if not data.unit.strip():
        errors["unit"] = ["请填写房号"]
    if not isinstance(data.price_cents, int) or data.price_cents <= 0:
        errors["price_cents"] = ["成交价须为正整数（分）"]
    if data.subscribed_on > today:
        errors["subscribed_on"] = ["认购日期不能晚于今天"]
    if errors:
        raise ValidationFailed(errors)
    return phone


def _month_before(session: Session, project_id: int, on: date) -> tuple[int, int]:
    """Units and amount of the project's live deals this month, subscribed up to ``on``."""
    units, amount = session.execute(
        select(func.count(), func.coalesce(func.sum(Deal.price_cents), 0))
        .where(Deal.project_id == project_id, Deal.stage != "cancelled",
               Deal.subscribed_on >= start_of_local_month(on), Deal.subscribed_on <= on)).one()
    return int(units), int(amount)


@dataclass
class DealPlan:
    """What a new deal would be recorded against, every refusal already checked."""
    project: Project
    buyer_id: int
    registration: object  # the binding Registration
    rule: object
    policy: object
    unit: str


def plan_deal(session: Session, staff: StaffUser, data: NewDeal, *, now: datetime,
              check_unit: bool = True) -> DealPlan:
    """Check a new deal as ``record_deal`` will (a back-dated request is checked the same way
    when it is made, and again when it is approved)."""
    phone = _validate_new(data, local_date(now))
    project = visible_project(session, data.project_id, staff)
    buyer_id = session.scalar(select(Buyer.id).where(Buyer.phone == phone))
    registration = binding_registration(session, project.id, buyer_id) if buyer_id else None
    if registration is None:
        raise NoBindingRegistration()
    if data.subscribed_on < local_date(registration.created_at):
        raise SubscribedBeforeRegistration(details={"registered_on": local_date(registration.created_at).isoformat()})
    rule = commissions.rule_in_force(session, project.id, data.subscribed_on)
    policy = commissions.policy_in_force(session, project.id, data.subscribed_on)
    unit = data.unit.strip()
    if check_unit:
        _refuse_if_sold(session, project.id, unit)
    return DealPlan(project, buyer_id, registration, rule, policy, unit)


def _refuse_if_sold(session: Session, project_id: int, unit: str) -> None:
    if session.scalar(select(Deal.id).where(Deal.project_id == project_id, Deal.unit == unit,
                                            Deal.stage != "cancelled")) is not None:
        raise UnitAlreadySold(details={"unit": unit})


def record_deal(session: Session, staff: StaffUser, data: NewDeal, *, now: datetime,
                approved_by: StaffUser | None = None) -> Deal:
    """Record a subscription (认购) for a buyer with a binding registration, priced by the
    rule in force on the subscription date, with the split policy snapshotted.

    ``approved_by``: the platform staff member who approved a back-dated recording
    (deals.requests); ``staff`` is then the site staff member who asked for it."""
    plan = plan_deal(session, staff, data, now=now, check_unit=False)
    project, buyer_id, registration, rule, policy, unit = (plan.project, plan.buyer_id, plan.registration, plan.rule,
                                                           plan.policy, plan.unit)
    advisory_lock(session, LOCK_DEALS_OF_PROJECT + project.id)
    _refuse_if_sold(session, project.id, unit)  # under the project's lock
    terms = commissions.terms_of(rule)
    units_before, amount_before = _month_before(session, project.id, data.subscribed_on)
    priced = pricing.price(terms, data.price_cents, units_before=units_before, amount_before_cents=amount_before)
    deal = Deal(project_id=project.id, registration_id=registration.id, buyer_id=buyer_id,
                consultant_id=registration.consultant_id, unit=unit, price_cents=data.price_cents,
                subscribed_on=data.subscribed_on, stage="subscribed", rule_id=rule.id,
                rule_snapshot=commissions.canonical({**terms.as_dict(), "rule_id": rule.id,
                                                     "effective_from": rule.effective_from.isoformat(),
                                                     "text": rule.text}),
                policy_id=policy.id, policy_snapshot=commissions.canonical(commissions.policy_snapshot(policy)),
                tier_index=priced.tier_index, tier_position=priced.position, commission_cents=priced.commission_cents,
                lines_version=0, recognised=False, recorded_by_id=staff.id, created_at=now, updated_at=now)
    try:
        with session.begin_nested():
            session.add(deal)
    except IntegrityError:
        raise UnitAlreadySold(details={"unit": unit}) from None
    evidence.append(session, "deal", deal.id, "recorded", _actor(staff), now=now, project_id=project.id,
                    registration_id=registration.id, buyer_id=buyer_id, consultant_id=deal.consultant_id, unit=unit,
                    price_cents=deal.price_cents, subscribed_on=data.subscribed_on.isoformat(),
                    commission_cents=deal.commission_cents, rule_id=rule.id, policy_id=policy.id,
                    note=(data.note or "").strip() or None,
                    **({"approved_by_staff_id": approved_by.id} if approved_by is not None else {}))
    notify(session, deal.consultant_id, "deal_recorded",
           f"{registration.buyer_name} 已在{project.name}认购 {unit}，佣金 {yuan(deal.commission_cents)}，"
           f"{STAGE_LABELS[terms.trigger]}后确认", now=now, deal_id=deal.id)
    return deal


def terms_of_deal(deal: Deal) -> pricing.RuleTerms:
    return pricing.RuleTerms.from_dict(json.loads(deal.rule_snapshot))


def staff_deal(session: Session, staff: StaffUser, deal_id: int, *, lock: bool = False) -> Deal:
    """A deal the staff member may see: site staff only their developer's projects."""
    query = select(Deal).where(Deal.id == deal_id)
    if lock:
        query = query.with_for_update()
    deal = session.scalar(query)
    if deal is None:
        raise DealNotFound()
    if staff.role == "site_staff" and deal.project.developer_id != staff.developer_id:
        raise DealNotFound()
    return deal


def change_stage(session: Session, staff: StaffUser, deal_id: int, stage: str, *, on: date | None = None,
                 now: datetime) -> Deal:
    """Move a deal forward; reaching the rule's trigger recognises its commission."""
    deal = staff_deal(session, staff, deal_id, lock=True)
    if deal.stage == "cancelled":
        raise DealCancelled()
    on = on or local_date(now)
    if stage not in NEXT_STAGES[deal.stage]:
        raise InvalidStageChange(details={"stage": deal.stage, "allowed": list(NEXT_STAGES[deal.stage])})
    if on > local_date(now) or on < deal.subscribed_on:
        raise ValidationFailed({"on": ["日期须在认购日与今天之间"]})
    previous = deal.stage
    deal.stage = stage
    deal.updated_at = now
    if stage == "signed":
        deal.signed_on = on
    else:
        deal.completed_on = on
    terms = terms_of_deal(deal)
    if deal.trigger_reached_on is None and pricing.trigger_reached(stage, terms.trigger):
        deal.trigger_reached_on = on
        deal.due_on = on + timedelta(days=terms.payment_terms_days)
    session.flush()
    evidence.append(session, "deal", deal.id, "stage_changed", _actor(staff), now=now, from_stage=previous,
                    to_stage=stage, on=on.isoformat())
    notify(session, deal.consultant_id, "deal_stage_changed",
           f"成交 {deal.unit} 已{STAGE_LABELS[stage]}（{on.isoformat()}）", now=now, deal_id=deal.id)
    if deal.trigger_reached_on is not None and not deal.recognised:
        recognition.recognise(session, [deal], now=now, actor_type="staff", actor_id=staff.id)
        session.refresh(deal)
    return deal


def cancel_deal(session: Session, staff: StaffUser, deal_id: int, *, reason: str | None, now: datetime,
                requested_by_id: int | None = None) -> Deal:
    """退房: from any stage, with a reason; recognised commission is reversed (clawback).

    Platform staff cancel directly; site staff only ask (deals.requests), and the approver
    cancels here with ``requested_by_id`` naming the site staff member who asked."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": ["请填写退房原因"]})
    deal = staff_deal(session, staff, deal_id, lock=True)
    if deal.stage == "cancelled":
        raise DealCancelled()
    previous = deal.stage
    recognition.reverse(session, deal, reason=f"退房：{reason}", now=now, actor_id=staff.id)
    deal.stage = "cancelled"
    deal.cancelled_at = now
    deal.cancel_reason = reason
    deal.updated_at = now
    session.flush()
    from ..receivables.returns import return_overapplied  # receivables reads deals: import at call time
    return_overapplied(session, [deal.id], now=now, reason=f"成交 #{deal.id} 退房", actor_type="staff",
                       actor_id=staff.id)
    evidence.append(session, "deal", deal.id, "cancelled", _actor(staff), now=now, from_stage=previous, reason=reason,
                    **({"requested_by_staff_id": requested_by_id} if requested_by_id is not None else {}))
    notify(session, deal.consultant_id, "deal_cancelled", f"成交 {deal.unit} 已退房：{reason}", now=now,
           deal_id=deal.id)
    return deal


def correct_price(session: Session, staff: StaffUser, deal_id: int, *, price_cents: int, reason: str | None,
                  now: datetime) -> Deal:
    """A corrected price re-prices the commission at the deal's own tier (forward only). A
    recognised commission is reversed and recognised again at the new amount."""
    reason = (reason or "").strip()
    errors = {}
    if not isinstance(price_cents, int) or price_cents <= 0:
        errors["price_cents"] = ["成交价须为正整数（分）"]
    if not reason:
        errors["reason"] = ["请填写修改原因"]
    if errors:
        raise ValidationFailed(errors)
    deal = staff_deal(session, staff, deal_id, lock=True)
    if deal.stage == "cancelled":
        raise DealCancelled()
    old_price, old_commission = deal.price_cents, deal.commission_cents
    if price_cents == old_price:
        return deal
    was_recognised = deal.recognised
    recognition.reverse(session, deal, reason=f"成交价更正：{reason}", now=now, actor_id=staff.id)
    deal.price_cents = price_cents
    deal.commission_cents = pricing.amount_at(terms_of_deal(deal), price_cents, deal.tier_index)
    deal.updated_at = now
    session.flush()
    evidence.append(session, "deal", deal.id, "price_corrected", _actor(staff), now=now, from_price_cents=old_price,
                    to_price_cents=price_cents, from_commission_cents=old_commission,
                    to_commission_cents=deal.commission_cents, reason=reason)
    notify(session, deal.consultant_id, "deal_repriced",
           f"成交 {deal.unit} 成交价更正为 {yuan(price_cents)}，佣金 {yuan(deal.commission_cents)}：{reason}",
           now=now, deal_id=deal.id)
    if was_recognised:
        recognition.recognise(session, [deal], now=now, actor_type="staff", actor_id=staff.id)
        session.refresh(deal)
    from ..receivables.returns import return_overapplied  # a lower commission than was paid: the rest → unapplied
    return_overapplied(session, [deal.id], now=now, reason=f"成交 #{deal.id} 佣金更正", actor_type="staff",
                       actor_id=staff.id)
    return deal


def reassign_serving_consultant(session: Session, deal_id: int, consultant_id: int, *, reason: str, actor: Actor,
                                now: datetime) -> Deal:
    """Who served the buyer was decided otherwise (an upheld dispute, DESIGN §4): the serving
    consultant changes as an evidence-chain event with reason and actor, never silently. A
    recognised commission is reversed and recognised again along the rightful consultant's
    chain (the deal's own reversal and recognition paths, so the new lines sum to the
    commission and a retry posts nothing new)."""
    deal = session.scalar(select(Deal).where(Deal.id == deal_id).with_for_update()
                          .execution_options(populate_existing=True))
    if deal is None:
        raise DealNotFound()
    if deal.stage == "cancelled":
        raise DealCancelled()
    if deal.consultant_id == consultant_id:
        return deal
    previous, was_recognised = deal.consultant_id, deal.recognised
    recognition.reverse(session, deal, reason=f"成交顾问变更：{reason}", now=now, actor_type=actor.type,
                        actor_id=actor.id)
    deal.consultant_id = consultant_id
    deal.updated_at = now
    session.flush()
    session.expire(deal, ["consultant"])
    evidence.append(session, "deal", deal.id, "consultant_reassigned", actor, now=now,
                    from_consultant_id=previous, to_consultant_id=consultant_id, reason=reason)
    if was_recognised:
        recognition.recognise(session, [deal], now=now, actor_type=actor.type, actor_id=actor.id)
        session.refresh(deal)
    return deal


# --- reading ------------------------------------------------------------------------------

def buyer_phone_for(staff: StaffUser, deal: Deal) -> str:
    """Site staff see the project's mask (前四后三 where it says so); everyone sees 前三后四
    otherwise, also where the rule is ``full``: a full number is only read through a logged
    reveal with a purpose (DESIGN §7.6, issue 15 §1, privacy.reveals)."""
    rule = deal.project.phone_disclosure if staff.role == "site_staff" else "first3_last4"
    return mask_phone(deal.buyer.phone, "first3_last4" if rule == "full" else rule)


def list_for_staff(session: Session, staff: StaffUser, *, project_id: int | None = None, stage: str | None = None,
                   consultant_id: int | None = None, page: int = 1, per_page: int = 30) -> tuple[list[Deal], int]:
    query = select(Deal).options(selectinload(Deal.project), selectinload(Deal.registration),
                                 selectinload(Deal.buyer), selectinload(Deal.consultant))
    if staff.role == "site_staff":
        query = query.join(Project, Project.id == Deal.project_id).where(Project.developer_id == staff.developer_id)
    if project_id:
        query = query.where(Deal.project_id == project_id)
    if stage:
        query = query.where(Deal.stage == stage)
    if consultant_id:
        query = query.where(Deal.consultant_id == consultant_id)
    return paginate(session, query, Deal.subscribed_on.desc(), Deal.id.desc(), page=page, per_page=per_page)


def own_deals(session: Session, consultant_id: int, *, stage: str | None = None, page: int = 1,
              per_page: int = 20) -> tuple[list[Deal], int]:
    query = select(Deal).where(Deal.consultant_id == consultant_id)
    if stage:
        query = query.where(Deal.stage == stage)
    return paginate(session, query, Deal.subscribed_on.desc(), Deal.id.desc(), page=page, per_page=per_page)


def own_deal(session: Session, consultant_id: int, deal_id: int) -> Deal:
    deal = session.get(Deal, deal_id)
    if deal is None or deal.consultant_id != consultant_id:
        raise DealNotFound()
    return deal

