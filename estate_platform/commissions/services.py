"""Managing commission rules and split policies, and finding the ones in force on a day."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import Conflict, NotFound, ValidationFailed
from ..projects.services import get_project
from . import pricing
from .models import CommissionRule, CommissionTier, SplitPolicyVersion
from .split import Policy, policy_problems


class NoCommissionRule(Conflict):
    code, message = "no_commission_rule", "该楼盘在认购日没有生效的佣金规则，请财务先设置佣金规则"


class NoSplitPolicy(Conflict):
    code, message = "no_split_policy", "尚未设置生效的分佣方案，请财务先设置平台分佣方案"


class RuleVersionExists(Conflict):
    code, message = "rule_version_exists", "该生效日期已有一个版本，请选择其他生效日期"


class PolicyNotFound(NotFound):
    code, message = "split_policy_not_found", "分佣方案不存在"


def canonical(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


# --- commission rules ------------------------------------------------------------------

@dataclass
class RuleInput:
    effective_from: date
    basis: str
    trigger: str
    payment_terms_days: int
    rate_bps: int | None = None
    fixed_cents: int | None = None
    tier_metric: str | None = None
    tiers: list[dict] | None = None  # [{threshold, rate_bps | fixed_cents}]
    text: str | None = None


def terms_of(rule: CommissionRule) -> pricing.RuleTerms:
    return pricing.RuleTerms(basis=rule.basis, rate_bps=rule.rate_bps, fixed_cents=rule.fixed_cents,
                             tier_metric=rule.tier_metric,
                             tiers=tuple(pricing.Tier(t.threshold, t.rate_bps, t.fixed_cents) for t in rule.tiers),
                             trigger=rule.trigger, payment_terms_days=rule.payment_terms_days)


def create_rule(session: Session, project_id: int, data: RuleInput, *, staff_id: int | None,
                now: datetime) -> CommissionRule:
    """A new version of the project's rule, in force from ``effective_from`` (forward only:
    deals already recorded keep their snapshot)."""
    get_project(session, project_id)
    tiers = data.tiers or []
    terms = pricing.RuleTerms(
        basis=data.basis, rate_bps=data.rate_bps if data.basis == "rate" else None,
        fixed_cents=data.fixed_cents if data.basis == "fixed" else None, tier_metric=data.tier_metric,
        tiers=tuple(pricing.Tier(t.get("threshold"), t.get("rate_bps") if data.basis == "rate" else None,
                                 t.get("fixed_cents") if data.basis == "fixed" else None) for t in tiers),
        trigger=data.trigger, payment_terms_days=data.payment_terms_days)
    problems = pricing.rule_problems(terms)
    if problems:
        raise ValidationFailed(problems)
    rule = CommissionRule(project_id=project_id, effective_from=data.effective_from, basis=terms.basis,
                          rate_bps=terms.rate_bps, fixed_cents=terms.fixed_cents, tier_metric=terms.tier_metric,
                          trigger=terms.trigger, payment_terms_days=terms.payment_terms_days,
                          text=(data.text or "").strip() or None, created_by_id=staff_id, created_at=now)
    rule.tiers = [CommissionTier(threshold=t.threshold, rate_bps=t.rate_bps, fixed_cents=t.fixed_cents)
                  for t in terms.tiers]
    try:
        with session.begin_nested():
            session.add(rule)
    except IntegrityError:
        raise RuleVersionExists() from None
    return rule


def rules_of(session: Session, project_id: int) -> list[CommissionRule]:
    get_project(session, project_id)
    return list(session.scalars(select(CommissionRule).where(CommissionRule.project_id == project_id)
                                .order_by(CommissionRule.effective_from.desc())))


def rule_in_force(session: Session, project_id: int, on: date) -> CommissionRule:
    rule = session.scalar(select(CommissionRule).where(CommissionRule.project_id == project_id,
                                                       CommissionRule.effective_from <= on)
                          .order_by(CommissionRule.effective_from.desc()).limit(1))
    if rule is None:
        raise NoCommissionRule(details={"project_id": project_id, "date": on.isoformat()})
    return rule


def commission_at_stake(session: Session, project_id: int, price_cents: int, on: date) -> int:
    """What the project's rule in force on ``on`` gives for ``price_cents`` (DESIGN §5a: the
    commission at stake when a buyer bought without a platform deal), as the first unit of
    the month would be priced; 0 when no rule applies."""
    try:
        rule = rule_in_force(session, project_id, on)
    except NoCommissionRule:
        return 0
    return pricing.price(terms_of(rule), price_cents).commission_cents


# --- split policies ---------------------------------------------------------------------

@dataclass
class PolicyInput:
    effective_from: date
    platform_fee_bps: int
    referral_bps: int = 0
    upline_bps: list[int] | None = None
    max_upline_levels: int = 2
    buyer_referral_reward_cents: int = 0
    project_id: int | None = None


def policy_of(version: SplitPolicyVersion) -> Policy:
    levels = version.max_upline_levels
    return Policy(platform_fee_bps=version.platform_fee_bps, referral_bps=version.referral_bps,
                  upline_bps=(version.upline_l1_bps, version.upline_l2_bps)[:levels], max_upline_levels=levels)


def create_policy(session: Session, data: PolicyInput, *, staff_id: int | None, now: datetime) -> SplitPolicyVersion:
    """The platform default (no project) or a project's override, from ``effective_from``.
    Three or more upline levels are refused here and by the database."""
    if data.project_id is not None:
        get_project(session, data.project_id)
    upline = list(data.upline_bps or [])
    problems = policy_problems(data.platform_fee_bps, data.referral_bps, upline, data.max_upline_levels)
    if not isinstance(data.buyer_referral_reward_cents, int) or not 0 <= data.buyer_referral_reward_cents <= 10**9:
        problems["buyer_referral_reward_cents"] = ["老带新奖励须为 0–1000 万元之间的整数分"]
    if problems:
        raise ValidationFailed(problems)
    padded = (upline + [0, 0])[:2]
    version = SplitPolicyVersion(project_id=data.project_id, effective_from=data.effective_from,
                                 platform_fee_bps=data.platform_fee_bps, referral_bps=data.referral_bps,
                                 max_upline_levels=data.max_upline_levels, upline_l1_bps=padded[0],
                                 upline_l2_bps=padded[1], buyer_referral_reward_cents=data.buyer_referral_reward_cents,
                                 created_by_id=staff_id, created_at=now)
    try:
        with session.begin_nested():
            session.add(version)
    except IntegrityError:
        raise RuleVersionExists() from None
    return version


def list_policies(session: Session, project_id: int | None = None) -> list[SplitPolicyVersion]:
    query = select(SplitPolicyVersion)
    query = query.where(SplitPolicyVersion.project_id.is_(None) if project_id is None
                        else SplitPolicyVersion.project_id == project_id)
    return list(session.scalars(query.order_by(SplitPolicyVersion.effective_from.desc())))


def policy_in_force(session: Session, project_id: int, on: date) -> SplitPolicyVersion:
    """The project's override in force on ``on``, else the platform default."""
    for clause in (SplitPolicyVersion.project_id == project_id, SplitPolicyVersion.project_id.is_(None)):
        version = session.scalar(select(SplitPolicyVersion).where(clause, SplitPolicyVersion.effective_from <= on)
                                 .order_by(SplitPolicyVersion.effective_from.desc()).limit(1))
        if version is not None:
            return version
    raise NoSplitPolicy(details={"project_id": project_id, "date": on.isoformat()})


def policy_snapshot(version: SplitPolicyVersion) -> dict:
    return {**policy_of(version).as_dict(), "buyer_referral_reward_cents": version.buyer_referral_reward_cents,
            "policy_id": version.id, "project_id": version.project_id,
            "effective_from": version.effective_from.isoformat()}
