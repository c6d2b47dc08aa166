"""Phone numbers: normalisation and masking (DESIGN §2).

A buyer's or consultant's identity is his mainland mobile number in E.164
(``+8613812345678``). Pure functions; property-tested.
"""
from __future__ import annotations

import re

_MAINLAND_MOBILE = re.compile(r"1[3-9]\d{9}")
_SEPARATORS = re.compile(r"[\s\-()（）]")


class InvalidPhone(ValueError):
    pass


def normalise_phone(raw: str) -> str:
    """Return the E.164 form of a mainland mobile number or raise InvalidPhone.

    Accepts ``13812345678``, ``138 1234 5678``, ``+86 138-1234-5678``,
    ``8613812345678`` and ``008613812345678``.
    """
    if not isinstance(raw, str):
        raise InvalidPhone("phone must be a string")
    digits = _SEPARATORS.sub("", raw.strip())
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if not _MAINLAND_MOBILE.fullmatch(digits):
        raise InvalidPhone(f"not a mainland mobile number: {raw!r}")
    return "+86" + digits


def national(phone_e164: str) -> str:
    """The 11-digit national form people read: ``13812345678``."""
    return phone_e164[3:] if phone_e164.startswith("+86") else phone_e164


MASK_RULES = ("full", "first3_last4", "first4_last3")


def mask_phone(phone_e164: str, rule: str = "first3_last4") -> str:
    """Mask a number for people who did not register it: 前三后四 ``138****5678``."""
    number = national(phone_e164)
    if rule == "full":
        return number
    if rule == "first3_last4":
        return number[:3] + "****" + number[-4:]
    if rule == "first4_last3":
        return number[:4] + "****" + number[-3:]
    raise ValueError(f"unknown mask rule {rule!r}")
