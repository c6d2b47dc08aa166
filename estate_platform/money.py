"""Money helpers (STYLE §7): integer cents (分), integer basis points, exact allocation.

Nobody multiplies money by a float: every share is an exact fraction of integers,
rounded once, by largest remainder, so the parts always add up to the whole.
"""
from __future__ import annotations

from typing import Sequence

BPS = 10_000  # 100% in basis points


def check_bps(value: int, *, name: str = "bps") -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= BPS:
        raise ValueError(f"{name} must be an integer between 0 and {BPS}")
    return value


def bps_of_floor(amount_cents: int, bps: int) -> int:
    """``bps`` of ``amount_cents``, rounded down (for thresholds and caps, not for splits)."""
    return amount_cents * bps // BPS


def div_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up to a whole cent (or bp): the one rounding rule of
    pricing and withholding. Both are non-negative; the denominator is positive."""
    if numerator < 0 or denominator <= 0:
        raise ValueError("half-up division takes a non-negative numerator and a positive denominator")
    return (2 * numerator + denominator) // (2 * denominator)


def allocate(total_cents: int, numerators: Sequence[int], denominator: int) -> list[int]:
    """Split ``total_cents`` into parts proportional to ``numerators / denominator``.

    The numerators must sum to ``denominator`` (so the exact shares sum to the
    total). Each part is the floor of its exact share; the cents left over go one
    each to the parts with the largest remainders, ties to the earlier part. The
    result is deterministic and sums to ``total_cents`` exactly.
    """
    if total_cents < 0:
        raise ValueError("total must not be negative")
    if denominator <= 0 or any(n < 0 for n in numerators) or sum(numerators) != denominator:
        raise ValueError("numerators must be non-negative and sum to the denominator")
    exact = [total_cents * n for n in numerators]
    parts = [e // denominator for e in exact]
    remainders = [e % denominator for e in exact]
    left = total_cents - sum(parts)
    # Largest remainder first; on a tie the earlier part (fixed order) wins.
    order = sorted(range(len(parts)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        parts[i] += 1
    return parts


def yuan(cents: int) -> str:
    """For people: ¥1,234.56 (negative amounts keep their sign)."""
    sign = "-" if cents < 0 else ""
    whole, fraction = divmod(abs(cents), 100)
    return f"{sign}¥{whole:,}.{fraction:02d}"
