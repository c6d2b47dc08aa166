"""Conversion rates of the consultant's funnel: integer basis points, never floats."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from estate_platform.crm.services import FunnelStage, funnel_stages, rate_bps


@pytest.mark.parametrize("numerator, denominator, expected", [
    (0, 0, 0),
    (5, 0, 0),
    (0, 10, 0),
    (1, 3, 3333),
    (2, 3, 6666),
    (1, 8, 1250),
    (10, 10, 10000),
    (1, 10001, 0),
])
def test_rate_is_basis_points_rounded_down_and_zero_without_a_denominator(numerator, denominator, expected):
    assert rate_bps(numerator, denominator) == expected


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=1, max_value=10**9))
def test_rate_is_an_integer_floor_of_the_exact_ratio(numerator, denominator):
    rate = rate_bps(numerator, denominator)
    assert type(rate) is int
    assert rate * denominator <= numerator * 10000 < (rate + 1) * denominator


@given(st.integers(min_value=1, max_value=10**6), st.data())
def test_a_stage_never_converts_more_than_all_of_the_one_before(registrations, data):
    visits = data.draw(st.integers(min_value=0, max_value=registrations))
    assert 0 <= rate_bps(visits, registrations) <= 10000


def test_stages_carry_the_rate_from_the_stage_before_and_none_for_the_first():
    assert funnel_stages([("registrations", 8), ("visits", 3)]) == [
        FunnelStage("registrations", "报备", 8, None),
        FunnelStage("visits", "到访", 3, 3750),
    ]


def test_an_empty_funnel_has_zero_rates_not_an_error():
    assert funnel_stages([("registrations", 0), ("visits", 0)])[1].rate_bps == 0
