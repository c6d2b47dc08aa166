"""Exact allocation of cents (STYLE §7): largest remainder, ties to the earlier part."""
from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from estate_platform.money import BPS, allocate, bps_of_floor, check_bps, yuan

totals = st.integers(min_value=0, max_value=10**12)


@st.composite
def shares(draw, max_parts: int = 8):
    """Non-negative numerators and their sum as the denominator (at least one non-zero)."""
    numerators = draw(st.lists(st.integers(min_value=0, max_value=10**8), min_size=1, max_size=max_parts))
    assume(sum(numerators) > 0)
    return numerators, sum(numerators)


def exact_shares(total: int, numerators, denominator) -> list[Fraction]:
    return [Fraction(total * n, denominator) for n in numerators]


@given(totals, shares())
def test_parts_sum_to_the_total_for_any_shares(total, share):
    numerators, denominator = share
    assert sum(allocate(total, numerators, denominator)) == total


@given(totals, shares())
def test_each_part_is_its_exact_share_rounded_down_or_up(total, share):
    numerators, denominator = share
    parts = allocate(total, numerators, denominator)
    for part, exact in zip(parts, exact_shares(total, numerators, denominator)):
        assert abs(part - exact) < 1
        assert part in (exact.numerator // exact.denominator, -(-exact.numerator // exact.denominator))
        if exact.denominator == 1:  # a whole-cent share is never rounded
            assert part == exact


@given(totals, shares())
def test_the_cents_left_over_go_to_the_largest_remainders_ties_to_the_earlier_part(total, share):
    """Characterisation of largest remainder: whoever was rounded up has a larger fractional
    part than whoever was rounded down, or an equal one and comes first."""
    numerators, denominator = share
    parts = allocate(total, numerators, denominator)
    exact = exact_shares(total, numerators, denominator)
    fractions = [e - (e.numerator // e.denominator) for e in exact]
    up = [i for i, (p, e) in enumerate(zip(parts, exact)) if p > e]
    down = [i for i, (p, e) in enumerate(zip(parts, exact)) if p < e]
    for i in up:
        for j in down:
            assert fractions[i] > fractions[j] or (fractions[i] == fractions[j] and i < j)


@given(totals, shares())
def test_allocation_is_deterministic(total, share):
    numerators, denominator = share
    assert allocate(total, list(numerators), denominator) == allocate(total, tuple(numerators), denominator)


def test_a_tie_goes_to_the_earlier_part():
    # 1 cent in halves: both remainders are 1/2, the first part wins.
    assert allocate(1, [1, 1], 2) == [1, 0]
    # 2 cents in thirds: each exact share is 2/3, all remainders tie; the first two win.
    assert allocate(2, [1, 1, 1], 3) == [1, 1, 0]
    # 1 cent: 1/4, 1/4 and 1/2 — the largest remainder (the last part) wins over earlier ones.
    assert allocate(1, [1, 1, 2], 4) == [0, 0, 1]
    # 3 cents as 1/4, 1/2, 1/4: exact 0.75, 1.5, 0.75; floors 0, 1, 0; two cents left for the
    # remainders .75, .5, .75 — both .75s win, the .5 does not.
    assert allocate(3, [1, 2, 1], 4) == [1, 1, 1]
    # 1 cent as 1/4, 1/2, 1/4: remainders .25, .5, .25 — the middle part wins.
    assert allocate(1, [1, 2, 1], 4) == [0, 1, 0]


@given(st.integers(min_value=1, max_value=10**6), st.integers(min_value=2, max_value=12))
def test_equal_shares_give_the_extra_cents_to_the_first_parts(total, count):
    parts = allocate(total, [1] * count, count)
    base, extra = divmod(total, count)
    assert parts == [base + 1] * extra + [base] * (count - extra)


@given(totals, shares(), st.integers(min_value=1, max_value=10**8))
def test_numerators_not_summing_to_the_denominator_are_refused(total, share, off):
    numerators, denominator = share
    for wrong in (denominator + off, denominator - off):
        if wrong > 0:
            with pytest.raises(ValueError):
                allocate(total, numerators, wrong)


def test_negative_totals_numerators_and_empty_denominators_are_refused():
    with pytest.raises(ValueError):
        allocate(-1, [1], 1)
    with pytest.raises(ValueError):
        allocate(10, [2, -1], 1)
    with pytest.raises(ValueError):
        allocate(10, [], 0)
    with pytest.raises(ValueError):
        allocate(10, [0, 0], 0)


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=BPS))
def test_bps_of_floor_is_the_exact_share_rounded_down(amount, bps):
    exact = Fraction(amount * bps, BPS)
    assert bps_of_floor(amount, bps) <= exact < bps_of_floor(amount, bps) + 1


@pytest.mark.parametrize("value", [-1, BPS + 1, 1.5, True, "100"])
def test_basis_points_outside_0_to_10000_or_not_integers_are_refused(value):
    with pytest.raises(ValueError):
        check_bps(value)


def test_yuan_formats_cents_for_people():
    assert yuan(0) == "¥0.00"
    assert yuan(5) == "¥0.05"
    assert yuan(123_456_789) == "¥1,234,567.89"
    assert yuan(-1050) == "-¥10.50"
