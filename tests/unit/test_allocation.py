"""Collections (回款) and pay-when-paid, the pure rules: applying a payment oldest due first and
releasing lines in proportion to what was applied (DESIGN §5a)."""
from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from estate_platform.receivables.allocation import Open, aging_bucket, allocate_payment, release_step

DAY0 = date(2026, 1, 1)

receivables = st.lists(st.builds(Open, source=st.integers(1, 10_000),
                                 due_on=st.integers(0, 400).map(lambda d: DAY0 + timedelta(days=d)),
                                 outstanding_cents=st.integers(1, 10**9)),
                       max_size=12, unique_by=lambda r: r.source)


def test_payment_is_applied_oldest_due_first_then_by_deal_id():
    items = [Open(3, date(2026, 3, 1), 500), Open(2, date(2026, 2, 1), 300), Open(1, date(2026, 3, 1), 400)]
    parts, rest = allocate_payment(1000, items)
    assert parts == [(2, 300), (1, 400), (3, 300)]
    assert rest == 0


def test_partial_payment_leaves_the_newest_deal_partly_owed():
    parts, rest = allocate_payment(350, [Open(1, date(2026, 1, 1), 300), Open(2, date(2026, 2, 1), 300)])
    assert parts == [(1, 300), (2, 50)] and rest == 0


def test_overpayment_to_the_cent_stays_unapplied():
    parts, rest = allocate_payment(100_001, [Open(1, date(2026, 1, 1), 60_000), Open(2, date(2026, 2, 1), 40_000)])
    assert parts == [(1, 60_000), (2, 40_000)] and rest == 1


def test_chosen_deals_only_are_paid_and_the_rest_is_unapplied():
    items = [Open(1, date(2026, 1, 1), 300), Open(2, date(2026, 2, 1), 300), Open(3, date(2026, 3, 1), 300)]
    parts, rest = allocate_payment(500, items, chosen=[3])
    assert parts == [(3, 300)] and rest == 200


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**10), receivables, st.one_of(st.none(), st.lists(st.integers(1, 10_000), max_size=5)))
def test_allocation_sums_to_the_payment_never_over_applies_and_is_deterministic(amount, items, chosen):
    parts, rest = allocate_payment(amount, items, chosen)
    assert sum(p for _, p in parts) + rest == amount
    assert rest >= 0 and all(p > 0 for _, p in parts)
    owed = {r.deal_id: r.outstanding_cents for r in items}
    assert all(p <= owed[d] for d, p in parts)
    assert len({d for d, _ in parts}) == len(parts)
    if chosen is not None:
        assert {d for d, _ in parts} <= set(chosen)
    # unapplied money only while something (chosen) is still owed is impossible
    eligible = [r for r in items if chosen is None or r.deal_id in chosen]
    if rest > 0:
        assert sum(p for _, p in parts) == sum(r.outstanding_cents for r in eligible)
    assert allocate_payment(amount, list(reversed(items)), chosen) == (parts, rest)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 10**7), min_size=2, max_size=6), st.lists(st.integers(0, 10**4), min_size=1, max_size=8))
def test_stepwise_release_never_passes_a_line_and_ends_exactly_at_the_lines(lines, weights):
    """Steps in any sizes: each step sums to its size, no line goes past its amount, and once the
    whole receivable is applied every line is released exactly (the platform fee is the last)."""
    total = sum(lines)
    released = [0] * len(lines)
    basis = 0
    cuts = sorted({min(total, total * w // max(1, sum(weights))) for w in weights} | {total})
    for target in cuts:
        if target <= basis:
            continue
        remaining = [a - r for a, r in zip(lines, released)]
        parts = release_step(target - basis, remaining, total - basis)
        assert sum(parts) == target - basis
        released = [r + p for r, p in zip(released, parts)]
        assert all(0 <= r <= a for r, a in zip(released, lines))
        basis = target
    assert released == lines


@given(st.lists(st.integers(1, 10**6), min_size=2, max_size=5), st.data())
def test_taking_back_never_takes_more_than_was_released(lines, data):
    total = sum(lines)
    up = data.draw(st.integers(0, total))
    released = release_step(up, lines, total)
    down = data.draw(st.integers(0, up))
    taken = release_step(down, released, up) if up else [0] * len(lines)
    assert sum(taken) == down
    assert all(0 <= t <= r for t, r in zip(taken, released))


def test_proportion_of_a_half_payment_by_largest_remainder():
    # 佣金 ¥1,000.01: fee 100.01, serving 700.00, upline 200.00; ¥500.00 of it paid.
    # Exact shares 5000.45, 34999.65, 9999.90: floors leave 2 cents, to the two largest remainders.
    assert release_step(50_000, [10_001, 70_000, 20_000], 100_001) == [5_000, 35_000, 10_000]


def test_aging_buckets_by_days_overdue():
    today = date(2026, 6, 30)
    assert [aging_bucket(today - timedelta(days=d), today) for d in (-5, 0, 1, 30, 31, 60, 61, 90, 91)] == [
        "current", "current", "d1_30", "d1_30", "d31_60", "d31_60", "d61_90", "d61_90", "d90_plus"]
