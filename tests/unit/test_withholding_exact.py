"""Withholding in integer arithmetic (issue 12 §4: the batch computes 50,000 of these) gives to the
cent what the law's arithmetic on exact fractions gives: taxable = income × 4/5 rounded half up,
tax = taxable × rate − quick deduction rounded half up, never negative (DESIGN §5a)."""
from fractions import Fraction

from hypothesis import given, strategies as st

from estate_platform.settlement import withholding as w


def _half_up(value: Fraction) -> int:
    return int((2 * value.numerator + value.denominator) // (2 * value.denominator))


def reference_tax(income: int, table: w.Table = w.TABLES[-1]) -> tuple[int, int]:
    if income <= 0:
        taxable = 0
    elif income <= table.deduction_threshold_cents:
        taxable = max(0, income - table.fixed_deduction_cents)
    else:
        taxable = _half_up(Fraction(income * (10_000 - table.percent_deduction_bps), 10_000))
    for bracket in table.brackets:
        if bracket.up_to_cents is None or taxable <= bracket.up_to_cents:
            exact = Fraction(taxable * bracket.rate_bps, 10_000) - bracket.quick_deduction_cents
            return taxable, (_half_up(exact) if exact > 0 else 0)
    raise AssertionError


@given(st.integers(min_value=0, max_value=100_000_000_00))
def test_integer_arithmetic_equals_the_exact_fractions(income):
    assert (w.taxable_cents(income), w.tax_cents(income)) == reference_tax(income)


def test_every_cent_around_the_thresholds_and_bracket_edges():
    edges = [80_000, 400_000, 2_500_000, 6_250_000]
    for edge in edges:
        for income in range(edge - 300, edge + 300):
            assert (w.taxable_cents(income), w.tax_cents(income)) == reference_tax(income), income
