"""Pricing a deal's commission from a rule's terms: pure (STYLE §5).

A rule pays a rate (bps of the price) or a fixed amount per unit. It may be
tiered by what the platform sold in the project in the deal's month: by units
(the n-th unit of the month) or by amount (the month's total including this
deal). Tiers apply forward only: a deal is priced once, by its own position in
the month, and reaching a higher tier later never re-prices it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..money import BPS

BASES = ("rate", "fixed")
TIER_METRICS = ("units", "amount")
TRIGGERS = ("signed", "loan_disbursed", "paid_in_full")
# loan_disbursed and paid_in_full are the two ways a deal's money arrives: either
# reaches a rule whose trigger is the other one.
STAGE_RANK = {"subscribed": 0, "signed": 1, "loan_disbursed": 2, "paid_in_full": 2}


@dataclass(frozen=True)
class Tier:
    threshold: int  # units: from the threshold-th unit of the month; amount: from this month total (cents)
    rate_bps: int | None = None
    fixed_cents: int | None = None


@dataclass(frozen=True)
class RuleTerms:
    basis: str  # rate | fixed
    rate_bps: int | None = None
    fixed_cents: int | None = None
    tier_metric: str | None = None  # None | units | amount
    tiers: tuple[Tier, ...] = field(default_factory=tuple)
    trigger: str = "signed"
    payment_terms_days: int = 30

    def as_dict(self) -> dict:
        return {"basis": self.basis, "rate_bps": self.rate_bps, "fixed_cents": self.fixed_cents,
                "tier_metric": self.tier_metric,
                "tiers": [{"threshold": t.threshold, "rate_bps": t.rate_bps, "fixed_cents": t.fixed_cents}
                          for t in self.tiers],
                "trigger": self.trigger, "payment_terms_days": self.payment_terms_days}

    @classmethod
    def from_dict(cls, data: dict) -> "RuleTerms":
        return cls(basis=data["basis"], rate_bps=data.get("rate_bps"), fixed_cents=data.get("fixed_cents"),
                   tier_metric=data.get("tier_metric"),
                   tiers=tuple(Tier(t["threshold"], t.get("rate_bps"), t.get("fixed_cents"))
                               for t in data.get("tiers", [])),
                   trigger=data.get("trigger", "signed"), payment_terms_days=data.get("payment_terms_days", 30))


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def rule_problems(terms: RuleTerms) -> dict[str, list[str]]:
    """Every problem with a rule's terms at once, keyed by field (empty when valid)."""
    problems: dict[str, list[str]] = {}

    def bad(name: str, message: str) -> None:
        problems.setdefault(name, []).append(message)

    def check_amounts(rate, fixed, where: str) -> None:
        if terms.basis == "rate":
            if not _is_int(rate) or not 1 <= rate <= BPS:
                bad(where + "rate_bps", "费率须为 1–10000 个基点（0.01%–100%）")
        elif terms.basis == "fixed":
            if not _is_int(fixed) or fixed <= 0:
                bad(where + "fixed_cents", "每套固定佣金须大于 0 分")

    if terms.basis not in BASES:
        bad("basis", "计佣方式须为 rate（按成交价比例）或 fixed（每套固定金额）")
    else:
        check_amounts(terms.rate_bps, terms.fixed_cents, "")
    if terms.trigger not in TRIGGERS:
        bad("trigger", "结佣节点须为 signed（网签）、loan_disbursed（放款）或 paid_in_full（全款到账）")
    if not _is_int(terms.payment_terms_days) or not 0 <= terms.payment_terms_days <= 730:
        bad("payment_terms_days", "回款账期须为 0–730 天")
    if terms.tier_metric is None:
        if terms.tiers:
            bad("tier_metric", "设置了阶梯时须指定阶梯依据（units 套数或 amount 金额）")
    elif terms.tier_metric not in TIER_METRICS:
        bad("tier_metric", "阶梯依据须为 units（当月套数）或 amount（当月成交额）")
    elif not terms.tiers:
        bad("tiers", "请至少设置一档阶梯")
    thresholds = [t.threshold for t in terms.tiers]
    if any(not _is_int(t) or t < 1 for t in thresholds):
        bad("tiers", "阶梯起点须为正整数")
    elif len(set(thresholds)) != len(thresholds):
        bad("tiers", "阶梯起点不能重复")
    for index, tier in enumerate(terms.tiers):
        if terms.basis in BASES:
            check_amounts(tier.rate_bps, tier.fixed_cents, f"tiers.{index}.")
    return problems


def tier_for(terms: RuleTerms, *, position: int) -> int | None:
    """Index of the tier that applies at ``position`` (highest threshold reached), or None for the base."""
    chosen = None
    for index, tier in enumerate(terms.tiers):
        if tier.threshold <= position and (chosen is None or tier.threshold > terms.tiers[chosen].threshold):
            chosen = index
    return chosen


def rate_amount(price_cents: int, rate_bps: int) -> int:
    """``rate_bps`` of the price, rounded half up to the cent (四舍五入), in integers."""
    return (price_cents * rate_bps + BPS // 2) // BPS


@dataclass(frozen=True)
class Priced:
    commission_cents: int
    tier_index: int | None
    position: int | None  # the deal's place in the month (units or cents), when tiered


def price(terms: RuleTerms, price_cents: int, *, units_before: int = 0, amount_before_cents: int = 0) -> Priced:
    """The commission of one deal. ``*_before`` are the platform's other live deals of the
    project in the same month, subscribed earlier."""
    if price_cents <= 0:
        raise ValueError("price must be positive")
    position = None
    tier_index = None
    if terms.tier_metric:
        position = units_before + 1 if terms.tier_metric == "units" else amount_before_cents + price_cents
        tier_index = tier_for(terms, position=position)
    return Priced(commission_cents=amount_at(terms, price_cents, tier_index), tier_index=tier_index,
                  position=position)


def amount_at(terms: RuleTerms, price_cents: int, tier_index: int | None) -> int:
    """The commission at a known tier (a corrected price keeps the deal's tier: forward only)."""
    rate, fixed = terms.rate_bps, terms.fixed_cents
    if tier_index is not None:
        rate, fixed = terms.tiers[tier_index].rate_bps, terms.tiers[tier_index].fixed_cents
    return rate_amount(price_cents, rate) if terms.basis == "rate" else fixed


def trigger_reached(stage: str, trigger: str) -> bool:
    return stage in STAGE_RANK and STAGE_RANK[stage] >= STAGE_RANK[trigger]
