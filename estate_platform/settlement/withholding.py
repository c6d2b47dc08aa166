"""Withholding on remuneration for labour services (劳务报酬预扣预缴), DESIGN §5a.

Pure functions over integer cents. An independent consultant's payouts are 劳务报酬;
continuing income counts as one payment per calendar month (Asia/Shanghai), so the tax
for one payout is the tax on everything paid to him that month (this payout included,
buy-back advances included) less the tax already withheld that month: splitting payouts
never lowers the tax. Penalties and clawbacks netted from a payout do not lower the base.

Arithmetic (DESIGN §5a):
* taxable = income − 800 元 when income ≤ 4,000 元, else income × 4/5 (rounded half up);
* tax = taxable × rate − quick deduction (rounded half up), never negative;
  20% up to 20,000 元 taxable, 30% − 2,000 元 up to 50,000 元, 40% − 7,000 元 above.

The table is versioned by effective date so a change in the law is a new row, not an
edit: a payout uses the table in force on its (Shanghai) pay date.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..money import div_half_up


@dataclass(frozen=True)
class Bracket:
    up_to_cents: int | None   # taxable income up to (inclusive); None: no upper bound
    rate_bps: int
    quick_deduction_cents: int


@dataclass(frozen=True)
class Table:
    effective_from: date
    deduction_threshold_cents: int   # income at or below this: fixed deduction
    fixed_deduction_cents: int
    percent_deduction_bps: int       # above it: this share is deducted (20% → taxable is 80%)
    brackets: tuple[Bracket, ...]


TABLES: tuple[Table, ...] = (
    # 个人所得税预扣率表二（居民个人劳务报酬所得预扣预缴适用），2019-01-01 起
    Table(effective_from=date(2019, 1, 1), deduction_threshold_cents=400_000, fixed_deduction_cents=80_000,
          percent_deduction_bps=2_000,
          brackets=(Bracket(2_000_000, 2_000, 0), Bracket(5_000_000, 3_000, 200_000), Bracket(None, 4_000, 700_000))),
)


def table_for(on: date, tables: tuple[Table, ...] = TABLES) -> Table:
    """The table in force on ``on`` (the latest whose effective date is not after it)."""
    candidates = [t for t in tables if t.effective_from <= on]
    if not candidates:
        raise ValueError(f"no withholding table in force on {on}")
    return max(candidates, key=lambda t: t.effective_from)


def taxable_cents(income_cents: int, table: Table = TABLES[-1]) -> int:
    if income_cents <= 0:
        return 0
    if income_cents <= table.deduction_threshold_cents:
        return max(0, income_cents - table.fixed_deduction_cents)
    return div_half_up(income_cents * (10_000 - table.percent_deduction_bps), 10_000)


def tax_cents(income_cents: int, table: Table = TABLES[-1]) -> int:
    """The tax on one month's income of labour services; never negative. Exact integer
    arithmetic: taxable × rate − quick deduction is counted in 1/10,000 of a cent."""
    taxable = taxable_cents(income_cents, table)
    for bracket in table.brackets:
        if bracket.up_to_cents is None or taxable <= bracket.up_to_cents:
            exact = taxable * bracket.rate_bps - bracket.quick_deduction_cents * 10_000
            return div_half_up(exact, 10_000) if exact > 0 else 0
    raise AssertionError("the last bracket has no upper bound")


@dataclass(frozen=True)
class Withholding:
    income_cents: int           # this payout's gross (the base it adds to the month)
    month_income_cents: int     # gross paid this month, this payout included
    month_tax_cents: int        # tax on the month's gross
    already_withheld_cents: int
    tax_cents: int              # to withhold from this payout

    @property
    def net_cents(self) -> int:
        return self.income_cents - self.tax_cents


def for_payout(income_cents: int, *, earlier_income_cents: int, earlier_withheld_cents: int,
               table: Table = TABLES[-1]) -> Withholding:
    """Tax for one payout under monthly aggregation: tax(month's gross) − tax already withheld.

    ``earlier_*`` are this month's payouts before this one (the same Shanghai calendar month).
    Never negative: should the table change mid-month so the month's tax falls, nothing is refunded here.
    """
    if income_cents < 0 or earlier_income_cents < 0 or earlier_withheld_cents < 0:
        raise ValueError("amounts are non-negative cents")
    month_income = earlier_income_cents + income_cents
    month_tax = tax_cents(month_income, table)
    tax = max(0, month_tax - earlier_withheld_cents)
    return Withholding(income_cents=income_cents, month_income_cents=month_income, month_tax_cents=month_tax,
                       already_withheld_cents=earlier_withheld_cents, tax_cents=tax)


# Worked examples (income → taxable → tax), cents; the README's table and the unit test read these.
WORKED_EXAMPLES: tuple[tuple[int, int, int], ...] = (
    (50_000, 0, 0),                    # 500 元: below the 800 元 deduction
    (80_000, 0, 0),                    # 800 元
    (100_000, 20_000, 4_000),          # 1,000 元 → 200 → 40
    (400_000, 320_000, 64_000),        # 4,000 元 → 3,200 → 640
    (400_001, 320_001, 64_000),        # 4,000.01 元 → 3,200.008 → 3,200.01 → 640.002 → 640.00
    (500_000, 400_000, 80_000),        # 5,000 元 → 4,000 → 800
    (2_500_000, 2_000_000, 400_000),   # 25,000 元 → 20,000 (top of 20%) → 4,000
    (2_500_125, 2_000_100, 400_030),   # 25,001.25 元 → 20,001 → 6,000.30 − 2,000 = 4,000.30
    (6_250_000, 5_000_000, 1_300_000), # 62,500 元 → 50,000 (top of 30%) → 13,000
    (10_000_000, 8_000_000, 2_500_000),  # 100,000 元 → 80,000 → 32,000 − 7,000 = 25,000
    (123_457, 43_457, 8_691),          # 1,234.57 元 → 434.57 → 86.914 → 86.91
    (1_234_567, 987_654, 197_531),     # 12,345.67 元 → 9,876.536 → 9,876.54 → 1,975.308 → 1,975.31
)
