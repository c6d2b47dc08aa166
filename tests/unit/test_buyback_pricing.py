"""Buy-back pricing (应收账款回购, DESIGN §5, issue 13 §1): worked examples and properties over integers."""
from datetime import date, timedelta

import pytest
from hypothesis import given, settings, strategies as st

from estate_platform.buyback import pricing as p

FACE = st.integers(min_value=1, max_value=10 ** 11)
DAYS = st.integers(min_value=0, max_value=1000)
BPS = st.integers(min_value=0, max_value=10_000)
FEE = st.integers(min_value=0, max_value=10 ** 7)


def terms(rate=1200, premium=50, min_fee=5000, cap=9000):
    return p.Terms(annual_rate_bps=rate, risk_premium_bps=premium, min_fee_cents=min_fee, advance_cap_bps=cap)


# face, days, (rate, premium, min fee, cap) → time discount, premium, discount, advance, remainder, annual bps
WORKED = [
    # ¥54,000, 30 days at 12% + 0.5%: 53,260.27 → 53,260 half up; advance capped at 90%
    (5_400_000, 30, (1200, 50, 5000, 9000), (53_260, 27_000, 80_260, 4_860_000, 459_740, 2_009)),
    # ¥1,000 for 10 days: 328.77 → 329, below the ¥50 minimum fee
    (100_000, 10, (1200, 0, 5000, 9000), (329, 0, 5_000, 90_000, 5_000, 20_278)),
    # ¥10: the minimum fee would exceed the face, the discount stops at the face, nothing is advanced
    (1_000, 30, (1200, 0, 5000, 9000), (10, 0, 1_000, 0, 0, 0)),
    # paid today: only the premium; the annual rate counts one day
    (1_000_000, 0, (1200, 100, 0, 10_000), (0, 10_000, 10_000, 990_000, 0, 36_869)),
    # exactly half a cent rounds up
    (365, 1, (5000, 0, 0, 9000), (1, 0, 1, 328, 36, 11_128)),
]


@pytest.mark.parametrize("face, days, t, expected", WORKED)
def test_worked_examples_match_to_the_cent(face, days, t, expected):
    price = p.price(face, days, terms(*t))
    assert (price.time_discount_cents, price.premium_cents, price.discount_cents, price.advance_cents,
            price.remainder_cents, price.equivalent_annual_bps) == expected


def test_days_count_from_the_due_date_plus_the_developers_lateness_never_before_today():
    today = date(2026, 12, 2)
    assert p.days_to_payment(today, today + timedelta(days=30), 0) == 30
    assert p.days_to_payment(today, today + timedelta(days=30), 12) == 42
    assert p.days_to_payment(today, today - timedelta(days=40), 10) == 0       # overdue: expected now
    assert p.days_to_payment(today, None, 5, fallback_days=90) == 95          # no due date yet


def test_bad_inputs_are_programming_errors():
    with pytest.raises(ValueError):
        p.price(0, 1, terms())
    with pytest.raises(ValueError):
        p.price(100, -1, terms())
    with pytest.raises(ValueError):
        terms(rate=10_001)


@settings(max_examples=400)
@given(FACE, DAYS, BPS, BPS, FEE, BPS)
def test_parts_sum_to_the_face_exactly_and_none_is_negative(face, days, rate, premium, fee, cap):
    price = p.price(face, days, terms(rate, premium, fee, cap))
    assert price.advance_cents + price.discount_cents + price.remainder_cents == face
    assert min(price.advance_cents, price.discount_cents, price.remainder_cents, price.equivalent_annual_bps) >= 0


@settings(max_examples=400)
@given(FACE, DAYS, BPS, BPS, FEE, BPS)
def test_the_advance_never_exceeds_the_cap_and_the_discount_meets_the_minimum_fee(face, days, rate, premium, fee,
                                                                                  cap):
    price = p.price(face, days, terms(rate, premium, fee, cap))
    assert price.advance_cents * 10_000 <= face * cap
    assert price.discount_cents >= min(fee, face)


@settings(max_examples=300)
@given(FACE, DAYS, DAYS, BPS, BPS, FEE, BPS)
def test_more_days_never_cost_less_nor_advance_more(face, d1, d2, rate, premium, fee, cap):
    short, long_ = sorted((d1, d2))
    a, b = p.price(face, short, terms(rate, premium, fee, cap)), p.price(face, long_, terms(rate, premium, fee, cap))
    assert a.discount_cents <= b.discount_cents
    assert a.advance_cents >= b.advance_cents and a.remainder_cents >= b.remainder_cents


@settings(max_examples=300)
@given(FACE, DAYS, BPS, BPS, BPS, BPS, FEE, BPS)
def test_higher_rates_never_cost_less(face, days, r1, r2, p1, p2, fee, cap):
    low_rate, high_rate = sorted((r1, r2))
    low_premium, high_premium = sorted((p1, p2))
    a = p.price(face, days, terms(low_rate, low_premium, fee, cap))
    b = p.price(face, days, terms(high_rate, high_premium, fee, cap))
    assert a.discount_cents <= b.discount_cents and a.advance_cents >= b.advance_cents


@settings(max_examples=400)
@given(FACE, st.integers(min_value=1, max_value=1000), BPS, BPS, FEE, BPS)
def test_the_displayed_annual_rate_gives_back_the_discount(face, days, rate, premium, fee, cap):
    """advance × annual × days / 365 reproduces the discount within the rate's half-bps rounding."""
    price = p.price(face, days, terms(rate, premium, fee, cap))
    if price.advance_cents == 0:
        assert price.equivalent_annual_bps == 0
        return
    implied = price.advance_cents * price.equivalent_annual_bps * days  # × 1/(365 × 10⁴) = discount
    exact = price.discount_cents * 365 * 10_000
    assert abs(implied - exact) * 2 <= price.advance_cents * days


@settings(max_examples=200)
@given(st.lists(st.tuples(FACE, DAYS), min_size=1, max_size=8), BPS, BPS, FEE, BPS)
def test_a_quotes_totals_are_the_sums_of_its_lines(lines, rate, premium, fee, cap):
    prices = [p.price(face, days, terms(rate, premium, fee, cap)) for face, days in lines]
    total = p.totals(prices)
    assert total["face_cents"] == sum(face for face, _ in lines)
    assert total["advance_cents"] + total["discount_cents"] + total["remainder_cents"] == total["face_cents"]


@given(FACE, st.integers(min_value=0, max_value=10 ** 11), st.integers(min_value=0, max_value=10 ** 11))
def test_collected_shares_grow_with_payments_and_end_at_the_whole(amount, paid_a, paid_b):
    face = max(paid_a, paid_b, 1)
    low, high = sorted((paid_a, paid_b))
    assert p.collected_share(amount, low, face) <= p.collected_share(amount, high, face) <= amount
    assert p.collected_share(amount, face, face) == amount
