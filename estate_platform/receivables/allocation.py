"""Pure rules for collections (回款) and pay-when-paid (DESIGN §5a), over integer cents.

* :func:`allocate_payment`: a developer's payment applied receivable by receivable (a deal's, or
  a dispute's stake), oldest due first (then source), or only to those finance chose; never more
  than a receivable's outstanding amount; the rest stays unapplied.
* :func:`release_step`: moving a deal's lines from pending to available in proportion to what
  was applied to its receivable (largest remainder, ``money.allocate``). Each step divides the
  change over what each line still has to go, so no line ever passes its amount and the last
  cent of the receivable releases exactly the lines (no Alabama paradox across steps).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Sequence

from ..money import allocate


@dataclass(frozen=True, order=True)
class Source:
    """A receivable's source: a deal's commission (``deal``) or the stake of a dispute upheld
    against the developer (``dispute``, no deal)."""
    kind: str
    id: int


@dataclass(frozen=True)
class Open:
    """One receivable still owed: its source (a :class:`Source`; any orderable key to this
    module), its due date and what is left of it."""
    source: Any
    due_on: date
    outstanding_cents: int

    @property
    def deal_id(self) -> int | None:
        if isinstance(self.source, Source):
            return self.source.id if self.source.kind == "deal" else None
        return self.source

    @property
    def dispute_id(self) -> int | None:
        return self.source.id if isinstance(self.source, Source) and self.source.kind == "dispute" else None


def allocate_payment(amount_cents: int, receivables: Sequence[Open],
                     chosen: Sequence | None = None) -> tuple[list[tuple[Any, int]], int]:
    """``([(source, cents), …], unapplied_cents)``: the payment applied oldest due first.

    ``chosen`` limits it to those sources (still oldest due first among them). Parts are
    positive and never exceed a deal's outstanding amount; parts plus the unapplied rest
    equal the payment exactly.
    """
    if amount_cents < 0:
        raise ValueError("a payment is not negative")
    wanted = None if chosen is None else set(chosen)
    left = amount_cents
    parts: list[tuple[int, int]] = []
    for item in sorted(receivables, key=lambda r: (r.due_on, r.source)):
        if left == 0:
            break
        if item.outstanding_cents <= 0 or (wanted is not None and item.source not in wanted):
            continue
        part = min(left, item.outstanding_cents)
        parts.append((item.source, part))
        left -= part
    return parts, left


def release_step(delta_cents: int, remaining: Sequence[int], total_remaining: int) -> list[int]:
    """Parts of ``delta_cents`` for each line in proportion to ``remaining`` (what each line still
    has to go; the platform's fee is one of them) out of ``total_remaining`` (what is left of
    the receivable, equal to their sum). ``0 <= delta <= total_remaining``; each part is at most
    its line's remaining amount and the parts sum to ``delta`` exactly."""
    if not 0 <= delta_cents <= total_remaining:
        raise ValueError("the step lies between nothing and what is left")
    if total_remaining == 0:
        return [0 for _ in remaining]
    return allocate(delta_cents, list(remaining), total_remaining)


def aging_bucket(due_on: date, today: date) -> str:
    """current, 1-30, 31-60, 61-90 or 90+ days overdue (by the Shanghai date ``today``)."""
    days = (today - due_on).days
    if days <= 0:
        return "current"
    if days <= 30:
        return "d1_30"
    if days <= 60:
        return "d31_60"
    if days <= 90:
        return "d61_90"
    return "d90_plus"


AGING_BUCKETS = ("current", "d1_30", "d31_60", "d61_90", "d90_plus")
AGING_LABELS = {"current": "未逾期", "d1_30": "逾期 1–30 天", "d31_60": "逾期 31–60 天",
                "d61_90": "逾期 61–90 天", "d90_plus": "逾期 90 天以上"}
