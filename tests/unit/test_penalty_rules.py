"""Penalty arithmetic, dispute states and credit months (DESIGN §4, §5a), pure.

The reference is exact: the multiple of the stake is a Fraction rounded half up once;
the penalty is the higher of that and the fixed amount; a project's terms make the
agreement's stricter term by term and never softer.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from fractions import Fraction
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from estate_platform.clock import SHANGHAI
from estate_platform.credit.rules import clamp, full_months
from estate_platform.disputes.rules import (MAX_MULTIPLE_BPS, MAX_PENALTY_CENTS, TRANSITIONS, PenaltyTerms,
                                            TransitionRefused, multiple_of, multiple_text, next_status,
                                            penalty_cents, statement_deadline)

stakes = st.integers(min_value=0, max_value=10 ** 12)
terms = st.builds(PenaltyTerms, st.integers(min_value=0, max_value=MAX_PENALTY_CENTS),
                  st.integers(min_value=0, max_value=MAX_MULTIPLE_BPS))


def half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


@given(stakes, st.integers(min_value=0, max_value=MAX_MULTIPLE_BPS))
def test_the_multiple_of_the_stake_is_the_exact_fraction_rounded_half_up_to_the_cent(stake, bps):
    assert multiple_of(stake, bps) == half_up(Fraction(stake * bps, 10_000))


@given(terms, stakes)
def test_the_penalty_is_the_higher_of_the_fixed_amount_and_the_multiple(t, stake):
    penalty = penalty_cents(t, stake)
    assert penalty == max(t.fixed_cents, half_up(Fraction(stake * t.multiple_bps, 10_000)))
    assert penalty >= t.fixed_cents and isinstance(penalty, int)


@given(terms, stakes, stakes)
def test_a_larger_stake_never_means_a_smaller_penalty(t, a, b):
    low, high = sorted((a, b))
    assert penalty_cents(t, low) <= penalty_cents(t, high)


@given(terms)
def test_with_no_commission_at_stake_the_fixed_amount_applies(t):
    assert penalty_cents(t, 0) == t.fixed_cents


@given(terms, terms, stakes)
def test_a_project_makes_the_terms_stricter_term_by_term_and_never_softer(agreement, project, stake):
    applied = agreement.stricter(project)
    assert applied == project.stricter(agreement)
    assert applied.fixed_cents == max(agreement.fixed_cents, project.fixed_cents)
    assert applied.multiple_bps == max(agreement.multiple_bps, project.multiple_bps)
    assert penalty_cents(applied, stake) >= max(penalty_cents(agreement, stake), penalty_cents(project, stake))
    assert agreement.stricter(None) == agreement


def test_two_times_a_commission_of_60000_yuan_against_a_fixed_5000_yuan_is_120000_yuan():
    assert penalty_cents(PenaltyTerms(fixed_cents=500_000, multiple_bps=20_000), 6_000_000) == 12_000_000
    assert penalty_cents(PenaltyTerms(fixed_cents=500_000, multiple_bps=20_000), 100_000) == 500_000
    assert multiple_of(3, 5_000) == 2 and multiple_of(1, 5_000) == 1 and multiple_of(1, 4_999) == 0


@pytest.mark.parametrize("fixed, bps", [(-1, 0), (0, -1), (MAX_PENALTY_CENTS + 1, 0), (0, MAX_MULTIPLE_BPS + 1),
                                        (1.5, 0), (True, 0)])
def test_terms_out_of_range_or_not_integers_are_refused(fixed, bps):
    with pytest.raises(ValueError):
        PenaltyTerms(fixed, bps)


def test_terms_read_in_chinese():
    assert PenaltyTerms(500_000, 20_000).text() == "违约金为以下两者中较高者：每宗 ¥5,000.00；所涉佣金的 2 倍"
    assert PenaltyTerms(0, 15_000).text() == "违约金为所涉佣金的 1.5 倍"
    assert PenaltyTerms().text() == "未约定违约金"
    assert multiple_text(12_345) == "1.2345"


@pytest.mark.parametrize("status, action, to", [(s, a, t) for a, moves in TRANSITIONS.items()
                                                for s, t in moves.items()])
def test_each_allowed_transition(status, action, to):
    assert next_status(status, action) == to


@pytest.mark.parametrize("status", ["upheld", "dismissed", "withdrawn"])
@pytest.mark.parametrize("action", list(TRANSITIONS))
def test_a_decided_or_withdrawn_dispute_never_moves_again(status, action):
    with pytest.raises(TransitionRefused):
        next_status(status, action)


def test_investigating_cannot_go_back_to_investigating():
    with pytest.raises(TransitionRefused):
        next_status("investigating", "investigate")


def test_parties_answer_until_the_end_of_the_seventh_shanghai_day():
    opened = datetime(2026, 3, 1, 17, 30, tzinfo=timezone.utc)  # 3-02 01:30 in Shanghai
    deadline = statement_deadline(opened).astimezone(SHANGHAI)
    assert (deadline.date(), deadline.hour, deadline.minute) == (date(2026, 3, 9), 23, 59)


@pytest.mark.parametrize("start, end, months", [
    (date(2026, 1, 15), date(2026, 2, 14), 0), (date(2026, 1, 15), date(2026, 2, 15), 1),
    (date(2026, 1, 31), date(2026, 2, 27), 0), (date(2026, 1, 31), date(2026, 2, 28), 1),
    (date(2026, 1, 31), date(2026, 3, 30), 1), (date(2026, 1, 31), date(2026, 3, 31), 2),
    (date(2025, 12, 10), date(2027, 1, 10), 13), (date(2026, 5, 1), date(2026, 4, 1), 0)])
def test_full_months_of_tenure(start, end, months):
    assert full_months(start, end) == months


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)), st.integers(min_value=0, max_value=3000))
def test_full_months_grow_by_at_most_one_a_day_and_never_go_back(start, days):
    end = start + timedelta(days=days)
    before, after = full_months(start, end), full_months(start, end + timedelta(days=1))
    assert 0 <= before <= after <= before + 1
    assert before <= days // 28


@given(st.integers(min_value=-1000, max_value=1000))
def test_a_score_stays_between_0_and_100(score):
    assert 0 <= clamp(score) <= 100 and (clamp(score) == score or not 0 <= score <= 100)
