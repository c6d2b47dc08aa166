"""Form input in the staff's units: prices in 元 and rates in %, converted exactly to
integer cents and basis points through ``Decimal`` (never a float); finer than a cent
or than 0.01% is refused. Shared by the admin pages that take money."""
from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from estate_platform.errors import DomainError

_DECIMAL = re.compile(r"^\d{1,13}(?:\.(\d+))?$")


# --- units -----------------------------------------------------------------------------------------

class Unreadable(ValueError):
    """An input that is not a number in the form's unit; ``str(exc)`` is the message for people."""


def _hundredths(text: str, *, what: str) -> int:
    """"3000000.05" → 300 000 005, exactly (cents of 元, or bps of %); at most two decimals."""
    cleaned = text.strip().replace(",", "").replace("，", "")
    match = _DECIMAL.fullmatch(cleaned)
    if not match:
        raise Unreadable(f"请输入{what}（数字，最多两位小数）")
    if len(match.group(1) or "") > 2:
        raise Unreadable(f"{what}最多保留两位小数")
    return int(Decimal(cleaned) * 100)


def yuan_to_cents(text: str) -> int:
    return _hundredths(text, what="以元为单位的金额")


def percent_to_bps(text: str) -> int:
    return _hundredths(text, what="百分比")


def whole_number(text: str, message: str = "请填写整数") -> int:
    text = text.strip()
    if not (text.isdigit() and len(text) <= 12):
        raise Unreadable(message)
    return int(text)


def day(text: str, message: str = "请填写有效的日期（YYYY-MM-DD）") -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise Unreadable(message) from None


def cents_text(cents: int | None) -> str:
    """Cents as 元 typed in a form: 300000005 → "3000000.05"."""
    if cents is None:
        return ""
    whole, rest = divmod(cents, 100)
    return f"{whole}.{rest:02d}" if rest else str(whole)


def bps_text(bps: int | None) -> str:
    """Basis points as a percentage: 250 → "2.5"."""
    if bps is None:
        return ""
    whole, rest = divmod(bps, 100)
    return f"{whole}.{rest:02d}".rstrip("0") if rest else str(whole)


def field_errors(exc: DomainError) -> dict[str, list[str]]:
    return dict((exc.details or {}).get("fields") or {})


def refusal_message(exc: DomainError) -> str:
    fields = field_errors(exc)
    if fields:
        return "；".join(m for ms in fields.values() for m in ms)
    if exc.details.get("registered_on"):
        return f"{exc.message}（报备日期 {exc.details['registered_on']}）"
    return exc.message
