"""Pricing a deal's commission from a rule (rate or fixed, optionally tiered), checked with
Decimal rounding and brute-force tier choice."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from estate_platform.commissions.pricing import (RuleTerms, Tier, amount_at, price, rate_amount, rule_problems,
                                                 tier_for, trigger_reached)

BPS = 10_000
prices = st.integers(min_value=1, max_value=10**11)
rates = st.integers(min_value=1, max_value=BPS)
fixed = st.integers(min_value=1, max_value=10**8)
EXACT = Context(prec=60)


def half_up(price_cents: int, bps: int) -> int:
    """price × bps / 10000 rounded half up, by Decimal (independent of the integer formula)."""
    value = EXACT.divide(Decimal(price_cents) * Decimal(bps), Decimal(BPS))
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP, context=EXACT))


@st.composite
def tiered_terms(draw, basis=None, metric=None):
    basis = basis or draw(st.sampled_from(["rate", "fixed"]))
    metric = metric or draw(st.sampled_from(["units", "amount"]))
    top = 30 if metric == "units" else 10**12
    thresholds = draw(st.lists(st.integers(min_value=1, max_value=top), min_size=1, max_size=5, unique=True))
    tiers = tuple(Tier(t, rate_bps=draw(rates) if basis == "rate" else None,
                       fixed_cents=draw(fixed) if basis == "fixed" else None) for t in thresholds)
    return RuleTerms(basis=basis, rate_bps=draw(rates) if basis == "rate" else None,
                     fixed_cents=draw(fixed) if basis == "fixed" else None, tier_metric=metric, tiers=tiers)


def brute_force_tier(terms: RuleTerms, position: int) -> int | None:
    reached = [(tier.threshold, index) for index, tier in enumerate(terms.tiers) if tier.threshold <= position]
    return max(reached)[1] if reached else None


@given(prices, rates)
def test_a_rate_commission_is_the_price_times_the_rate_rounded_half_up(price_cents, bps):
    terms = RuleTerms(basis="rate", rate_bps=bps)
    priced = price(terms, price_cents)
    assert priced.commission_cents == half_up(price_cents, bps)
    assert (priced.tier_index, priced.position) == (None, None)


def test_rate_rounding_examples_by_hand():
    # 1.5% of ¥1,234,567.89 = 123,456,789 × 150 / 10000 = 1,851,851.835 cents → 1,851,852
    assert price(RuleTerms(basis="rate", rate_bps=150), 123_456_789).commission_cents == 1_851_852
    # Exactly half a cent rounds up: 1 bps of 5,000 cents = 0.5 → 1; of 4,999 = 0.4999 → 0
    assert rate_amount(5_000, 1) == 1
    assert rate_amount(4_999, 1) == 0
    assert rate_amount(15_000, 1) == 2  # 1.5 → 2 (half up, not to even)
    assert rate_amount(25_000, 1) == 3  # 2.5 → 3


@given(prices, fixed, st.integers(min_value=0, max_value=1000))
def test_a_fixed_commission_is_the_same_for_any_price(price_cents, fixed_cents, units_before):
    terms = RuleTerms(basis="fixed", fixed_cents=fixed_cents)
    assert price(terms, price_cents, units_before=units_before).commission_cents == fixed_cents


@given(tiered_terms(metric="units"), prices, st.integers(min_value=0, max_value=40))
def test_tiers_by_units_pick_the_highest_threshold_reached_by_this_unit(terms, price_cents, units_before):
    priced = price(terms, price_cents, units_before=units_before, amount_before_cents=10**15)
    position = units_before + 1  # this deal is the (units_before + 1)-th unit of the month
    assert priced.position == position
    assert priced.tier_index == brute_force_tier(terms, position)
    tier = terms.tiers[priced.tier_index] if priced.tier_index is not None else terms
    expected = half_up(price_cents, tier.rate_bps) if terms.basis == "rate" else tier.fixed_cents
    assert priced.commission_cents == expected


@given(tiered_terms(metric="amount"), prices, st.integers(min_value=0, max_value=10**12))
def test_tiers_by_amount_count_this_deal_in_the_month_total(terms, price_cents, amount_before):
    priced = price(terms, price_cents, units_before=10**6, amount_before_cents=amount_before)
    position = amount_before + price_cents
    assert priced.position == position
    assert priced.tier_index == brute_force_tier(terms, position)
    tier = terms.tiers[priced.tier_index] if priced.tier_index is not None else terms
    expected = half_up(price_cents, tier.rate_bps) if terms.basis == "rate" else tier.fixed_cents
    assert priced.commission_cents == expected


def test_a_tier_applies_from_its_threshold_unit_on():
    terms = RuleTerms(basis="fixed", fixed_cents=100, tier_metric="units",
                      tiers=(Tier(10, fixed_cents=300), Tier(5, fixed_cents=200)))  # out of order on purpose
    by_unit = [price(terms, 1, units_before=n).commission_cents for n in range(12)]  # units 1..12
    assert by_unit == [100] * 4 + [200] * 5 + [300] * 3


@st.composite
def increasing_rate_terms(draw, metric):
    top = 30 if metric == "units" else 10**12
    thresholds = sorted(draw(st.lists(st.integers(min_value=1, max_value=top), min_size=1, max_size=5, unique=True)))
    all_rates = sorted(draw(st.lists(rates, min_size=len(thresholds) + 1, max_size=len(thresholds) + 1)))
    tiers = tuple(Tier(t, rate_bps=r) for t, r in zip(thresholds, all_rates[1:]))
    order = draw(st.permutations(range(len(tiers))))  # the stored order must not matter
    return RuleTerms(basis="rate", rate_bps=all_rates[0], tier_metric=metric, tiers=tuple(tiers[i] for i in order))


@given(increasing_rate_terms("units"), prices, st.integers(min_value=0, max_value=40),
       st.integers(min_value=0, max_value=40))
def test_with_rates_rising_by_tier_a_later_unit_never_earns_less(terms, price_cents, a, b):
    low, high = sorted((a, b))
    assert (price(terms, price_cents, units_before=low).commission_cents
            <= price(terms, price_cents, units_before=high).commission_cents)


@given(increasing_rate_terms("amount"), prices, st.integers(min_value=0, max_value=10**12),
       st.integers(min_value=0, max_value=10**12))
def test_with_rates_rising_by_tier_a_bigger_month_never_earns_less(terms, price_cents, a, b):
    low, high = sorted((a, b))
    assert (price(terms, price_cents, amount_before_cents=low).commission_cents
            <= price(terms, price_cents, amount_before_cents=high).commission_cents)


@given(tiered_terms(), prices, prices, st.integers(min_value=0, max_value=40),
       st.integers(min_value=0, max_value=10**12))
def test_amount_at_the_deal_tier_equals_the_price_and_keeps_the_tier_for_a_new_price(terms, price_cents, corrected,
                                                                                        units, amount_before):
    priced = price(terms, price_cents, units_before=units, amount_before_cents=amount_before)
    assert amount_at(terms, price_cents, priced.tier_index) == priced.commission_cents
    # A corrected price is priced at the same tier (forward only), whatever position it would reach now.
    tier = terms.tiers[priced.tier_index] if priced.tier_index is not None else terms
    expected = half_up(corrected, tier.rate_bps) if terms.basis == "rate" else tier.fixed_cents
    assert amount_at(terms, corrected, priced.tier_index) == expected


@given(tiered_terms(), st.integers(min_value=0, max_value=10**12))
def test_tier_for_is_the_highest_threshold_reached(terms, position):
    assert tier_for(terms, position=position) == brute_force_tier(terms, position)


@pytest.mark.parametrize("price_cents", [0, -1])
def test_a_price_that_is_not_positive_is_refused(price_cents):
    with pytest.raises(ValueError):
        price(RuleTerms(basis="rate", rate_bps=100), price_cents)


# --- triggers --------------------------------------------------------------------------------

# Written out by hand from DESIGN §2: signing reaches a "signed" rule; the money arriving —
# by loan or in full — reaches either money trigger; a subscription reaches nothing.
TRIGGER_TABLE = {
    ("subscribed", "signed"): False, ("subscribed", "loan_disbursed"): False, ("subscribed", "paid_in_full"): False,
    ("signed", "signed"): True, ("signed", "loan_disbursed"): False, ("signed", "paid_in_full"): False,
    ("loan_disbursed", "signed"): True, ("loan_disbursed", "loan_disbursed"): True,
    ("loan_disbursed", "paid_in_full"): True,
    ("paid_in_full", "signed"): True, ("paid_in_full", "loan_disbursed"): True, ("paid_in_full", "paid_in_full"): True,
    ("cancelled", "signed"): False, ("cancelled", "loan_disbursed"): False, ("cancelled", "paid_in_full"): False,
}


@pytest.mark.parametrize("stage,trigger", sorted(TRIGGER_TABLE))
def test_which_stage_reaches_which_trigger(stage, trigger):
    assert trigger_reached(stage, trigger) is TRIGGER_TABLE[(stage, trigger)]


# --- rule problems ------------------------------------------------------------------------

@given(tiered_terms())
def test_well_formed_tiered_rules_have_no_problems(terms):
    assert rule_problems(terms) == {}


@given(st.sampled_from(["rate", "fixed"]), rates, fixed)
def test_well_formed_flat_rules_have_no_problems_and_survive_a_round_trip(basis, rate, fixed_cents):
    terms = RuleTerms(basis=basis, rate_bps=rate if basis == "rate" else None,
                      fixed_cents=fixed_cents if basis == "fixed" else None, trigger="loan_disbursed",
                      payment_terms_days=45)
    assert rule_problems(terms) == {}
    assert RuleTerms.from_dict(terms.as_dict()) == terms


@given(tiered_terms(), st.data())
def test_duplicate_thresholds_are_flagged(terms, data):
    duplicate = data.draw(st.sampled_from(terms.tiers))
    bad = RuleTerms(basis=terms.basis, rate_bps=terms.rate_bps, fixed_cents=terms.fixed_cents,
                    tier_metric=terms.tier_metric, tiers=terms.tiers + (duplicate,))
    assert "tiers" in rule_problems(bad)


@pytest.mark.parametrize("terms,field", [
    (RuleTerms(basis="percent", rate_bps=100), "basis"),
    (RuleTerms(basis="rate", rate_bps=0), "rate_bps"),
    (RuleTerms(basis="rate", rate_bps=10_001), "rate_bps"),
    (RuleTerms(basis="rate", rate_bps=None), "rate_bps"),
    (RuleTerms(basis="rate", rate_bps=1.5), "rate_bps"),
    (RuleTerms(basis="fixed", fixed_cents=0), "fixed_cents"),
    (RuleTerms(basis="fixed", fixed_cents=-100), "fixed_cents"),
    (RuleTerms(basis="rate", rate_bps=100, trigger="subscribed"), "trigger"),
    (RuleTerms(basis="rate", rate_bps=100, payment_terms_days=-1), "payment_terms_days"),
    (RuleTerms(basis="rate", rate_bps=100, payment_terms_days=731), "payment_terms_days"),
    (RuleTerms(basis="rate", rate_bps=100, tiers=(Tier(5, rate_bps=200),)), "tier_metric"),
    (RuleTerms(basis="rate", rate_bps=100, tier_metric="weeks", tiers=(Tier(5, rate_bps=200),)), "tier_metric"),
    (RuleTerms(basis="rate", rate_bps=100, tier_metric="units"), "tiers"),
    (RuleTerms(basis="rate", rate_bps=100, tier_metric="units", tiers=(Tier(0, rate_bps=200),)), "tiers"),
    (RuleTerms(basis="rate", rate_bps=100, tier_metric="units", tiers=(Tier(3, rate_bps=200), Tier(3, rate_bps=300))),
     "tiers"),
    (RuleTerms(basis="rate", rate_bps=100, tier_metric="units", tiers=(Tier(3, rate_bps=0),)), "tiers.0.rate_bps"),
    (RuleTerms(basis="fixed", fixed_cents=100, tier_metric="units", tiers=(Tier(2, fixed_cents=5), Tier(3))),
     "tiers.1.fixed_cents"),
])
def test_rule_problems_name_the_bad_field(terms, field):
    assert field in rule_problems(terms)


def test_every_problem_is_reported_at_once():
    terms = RuleTerms(basis="rate", rate_bps=0, trigger="never", payment_terms_days=1000, tier_metric="units",
                      tiers=(Tier(2, rate_bps=100), Tier(2, rate_bps=100)))
    assert set(rule_problems(terms)) >= {"rate_bps", "trigger", "payment_terms_days", "tiers"}


@given(st.integers(min_value=1, max_value=BPS // 2 - 1))
def test_a_zero_commission_is_possible_for_a_tiny_price(bps):
    """Valid terms can price a deal at 0 cents: price × bps < 5,000 rounds to 0 (the ledger
    test shows what recognising such a deal does)."""
    tiny = (BPS // 2 - 1) // bps
    assert rule_problems(RuleTerms(basis="rate", rate_bps=bps)) == {}
    assert price(RuleTerms(basis="rate", rate_bps=bps), tiny).commission_cents == 0
