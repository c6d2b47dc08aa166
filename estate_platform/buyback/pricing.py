"""Pricing a buy-back (应收账款回购/佣金垫付) quote: pure integer rules (DESIGN §5, issue 13 §1).

For one commission line of face value F (cents), D days to the developer's expected payment:

| part | rule |
|---|---|
| time discount | F × annual_rate_bps × D / (365 × 10000), half up to the cent |
| risk premium | F × risk_premium_bps / 10000, half up to the cent |
| discount 折价 | max(time discount + risk premium, minimum fee), never above F |
| advance 垫付 | min(F − discount, ⌊F × advance_cap_bps / 10000⌋) |
| remainder 尾款 | F − discount − advance: paid to the consultant when the developer pays |

So advance + discount + remainder = F exactly and none is negative. The platform never
keeps the remainder. The equivalent annual rate (年化成本) is the cost of the money paid
early: discount / advance × 365 / D, in bps, half up (D counts as at least one day; zero
when nothing is advanced).

Days to payment: the developer's due date plus its average lateness (days, from its own
collection history, read by the service), counted from today, never negative. A line
with no due date yet counts ``fallback_days`` from today.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from ..money import BPS, div_half_up

DAYS_PER_YEAR = 365


@dataclass(frozen=True)
class Terms:
    """The platform's prices for one developer (bps and cents)."""
    annual_rate_bps: int
    risk_premium_bps: int
    min_fee_cents: int
    advance_cap_bps: int

    def __post_init__(self):
        for name in ("annual_rate_bps", "risk_premium_bps", "advance_cap_bps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= BPS:
                raise ValueError(f"{name} must be an integer between 0 and {BPS}")
        if not isinstance(self.min_fee_cents, int) or self.min_fee_cents < 0:
            raise ValueError("min_fee_cents must be a non-negative integer")


@dataclass(frozen=True)
class Price:
    face_cents: int
    days: int
    time_discount_cents: int
    premium_cents: int
    discount_cents: int
    advance_cents: int
    remainder_cents: int
    equivalent_annual_bps: int


def expected_payment_on(today: date, due_on: date | None, average_late_days: int, *, fallback_days: int = 90) -> date:
    """When the developer is expected to pay: its due date plus its usual lateness, not before today."""
    base = due_on if due_on is not None else today + timedelta(days=fallback_days)
    expected = base + timedelta(days=max(0, average_late_days))
    return max(today, expected)


def days_to_payment(today: date, due_on: date | None, average_late_days: int, *, fallback_days: int = 90) -> int:
    return (expected_payment_on(today, due_on, average_late_days, fallback_days=fallback_days) - today).days


def equivalent_annual_bps(discount_cents: int, advance_cents: int, days: int) -> int:
    """The discount as a yearly rate on the money paid early (bps, half up)."""
    if advance_cents <= 0:
        return 0
    return div_half_up(discount_cents * DAYS_PER_YEAR * BPS, advance_cents * max(days, 1))


def price(face_cents: int, days: int, terms: Terms) -> Price:
    if not isinstance(face_cents, int) or face_cents <= 0:
        raise ValueError("face_cents must be a positive integer")
    if not isinstance(days, int) or days < 0:
        raise ValueError("days must be a non-negative integer")
    time_discount = div_half_up(face_cents * terms.annual_rate_bps * days, DAYS_PER_YEAR * BPS)
    premium = div_half_up(face_cents * terms.risk_premium_bps, BPS)
    discount = min(face_cents, max(time_discount + premium, terms.min_fee_cents))
    advance = min(face_cents - discount, face_cents * terms.advance_cap_bps // BPS)
    remainder = face_cents - discount - advance
    return Price(face_cents=face_cents, days=days, time_discount_cents=time_discount, premium_cents=premium,
                 discount_cents=discount, advance_cents=advance, remainder_cents=remainder,
                 equivalent_annual_bps=equivalent_annual_bps(discount, advance, days))


def totals(prices: list[Price]) -> dict[str, int]:
    """A quote's sums; its annual rate weighs each line's advance by its days."""
    face = sum(p.face_cents for p in prices)
    discount = sum(p.discount_cents for p in prices)
    advance = sum(p.advance_cents for p in prices)
    advance_days = sum(p.advance_cents * max(p.days, 1) for p in prices)
    annual = div_half_up(discount * DAYS_PER_YEAR * BPS, advance_days) if advance_days else 0
    return {"face_cents": face, "discount_cents": discount, "advance_cents": advance,
            "remainder_cents": face - discount - advance, "equivalent_annual_bps": annual}


def collected_share(amount_cents: int, collected_cents: int, face_cents: int) -> int:
    """The part of ``amount_cents`` due once ``collected_cents`` of a ``face_cents`` receivable
    is paid (proportional, floored, so the last payment releases the rest exactly)."""
    if face_cents <= 0:
        return 0
    collected = max(0, min(collected_cents, face_cents))
    return amount_cents * collected // face_cents
