"""The credit score's rules (信用分, DESIGN §4): pure values and arithmetic.

``Consultant.rating`` (0–100, 80 for a new consultant) is the score the handoff pool
routes by. It moves only through ``credit.services.adjust``, one event per cause.
Below ``LOW_CREDIT_THRESHOLD`` a consultant may register at most the project's
``daily_consultant_registration_cap_low_credit`` buyers per Shanghai day in a project.
"""
from __future__ import annotations

from datetime import date

INITIAL_SCORE = 80
MIN_SCORE, MAX_SCORE = 0, 100
LOW_CREDIT_THRESHOLD = 60

DISPUTE_UPHELD = -20      # a dispute upheld against him
REVISIT_CONFIRMED = +1    # a revisit confirmed his account of a visit
RISK_FLAG = -5            # a risk job flagged him (防截客, velocity …)
TENURE_MONTH = +1         # each full month active

REASON_LABELS = {"dispute_upheld": "争议成立", "revisit_confirmed": "回访确认", "risk_flag": "风控预警",
                 "tenure": "合作时长"}


def clamp(score: int) -> int:
    return max(MIN_SCORE, min(MAX_SCORE, score))


def full_months(start: date, end: date) -> int:
    """Whole months from ``start`` to ``end`` (Shanghai dates): 1-15 → 2-14 is 0, → 2-15 is 1; a
    month ends on the same day of a later month, or on its last day when shorter (1-31 → 2-28 is 1)."""
    if end < start:
        return 0
    months = (end.year - start.year) * 12 + (end.month - start.month)
    # Has the month ``months`` after ``start`` been completed by ``end``?
    year, month = divmod(start.month - 1 + months, 12)
    anniversary_day = min(start.day, _days_in_month(start.year + year, month + 1))
    if end.day < anniversary_day:
        months -= 1
    return months


def _days_in_month(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (date(year, month + 1, 1) - date(year, month, 1)).days


def is_low(score: int) -> bool:
    return score < LOW_CREDIT_THRESHOLD
