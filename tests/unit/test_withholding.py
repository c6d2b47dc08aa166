"""劳务报酬预扣预缴 (DESIGN §5a): the worked examples and the properties of monthly aggregation."""
from datetime import date

import pytest
from hypothesis import given, settings, strategies as st

from estate_platform.settlement import withholding as w

INCOME = st.integers(min_value=0, max_value=100_000_000_00)


@pytest.mark.parametrize("income, taxable, tax", w.WORKED_EXAMPLES)
def test_worked_examples_match_to_the_cent(income, taxable, tax):
    assert w.taxable_cents(income) == taxable
    assert w.tax_cents(income) == tax


def test_bracket_edges_follow_the_quick_deductions():
    assert w.tax_cents(2_500_000) == 400_000            # taxable 20,000 元 at 20%
    assert w.tax_cents(2_500_001) == 400_000            # 20,000.01 × 30% − 2,000 = 4,000.003
    assert w.tax_cents(6_250_001) == 1_300_000          # 50,000.01 × 40% − 7,000 = 13,000.004
    assert w.tax_cents(80_001) == 0                     # taxable 0.01 元 → 0.002 → 0.00


@given(INCOME)
def test_tax_is_never_negative_and_never_above_the_income(income):
    assert 0 <= w.tax_cents(income) <= income


@given(INCOME, INCOME)
def test_tax_is_monotone_in_income(a, b):
    low, high = sorted((a, b))
    assert w.tax_cents(low) <= w.tax_cents(high)
    assert w.taxable_cents(low) <= w.taxable_cents(high)


@settings(max_examples=300)
@given(st.lists(st.integers(min_value=1, max_value=3_000_000_00), min_size=1, max_size=6))
def test_payouts_in_one_month_are_taxed_as_one(payouts):
    earlier_income = earlier_tax = 0
    for amount in payouts:
        result = w.for_payout(amount, earlier_income_cents=earlier_income, earlier_withheld_cents=earlier_tax)
        assert result.tax_cents >= 0
        earlier_income += amount
        earlier_tax += result.tax_cents
    assert earlier_tax == w.tax_cents(sum(payouts))


def test_two_payouts_of_3000_are_taxed_as_one_of_6000():
    first = w.for_payout(300_000, earlier_income_cents=0, earlier_withheld_cents=0)
    second = w.for_payout(300_000, earlier_income_cents=300_000, earlier_withheld_cents=first.tax_cents)
    assert first.tax_cents == 44_000                   # (3,000 − 800) × 20% = 440 元
    assert second.tax_cents == 96_000 - 44_000          # 6,000 × 80% × 20% = 960 元 for the month
    assert first.tax_cents + second.tax_cents == w.tax_cents(600_000)


def test_table_is_chosen_by_effective_date():
    newer = w.Table(effective_from=date(2030, 1, 1), deduction_threshold_cents=400_000, fixed_deduction_cents=100_000,
                    percent_deduction_bps=2_000, brackets=w.TABLES[0].brackets)
    tables = w.TABLES + (newer,)
    assert w.table_for(date(2029, 12, 31), tables) is w.TABLES[0]
    assert w.table_for(date(2030, 1, 1), tables) is newer
    assert w.tax_cents(200_000, newer) == 20_000        # (2,000 − 1,000) × 20%
    with pytest.raises(ValueError):
        w.table_for(date(2018, 12, 31))
