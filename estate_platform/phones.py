"""Phone numbers: normalisation and masking (DESIGN §2).

A buyer's or consultant's identity is his mainland mobile number in E.164
(``+8613812345678``). This module is the one place a typed phone number becomes
that form: registration, SMS sign-in, H5 forms, handoffs, deals, existing
customers and phone searches all call it, and schemas only bound the length of
the raw text (``PHONE_INPUT_MAX_LENGTH``) so that the rule here decides.
Pure functions; property-tested.
"""
from __future__ import annotations

import re
import unicodedata

_MAINLAND_MOBILE = re.compile(r"1[3-9][0-9]{9}")  # ASCII digits only: "\d" would accept ٣ or ３
_COUNTRY_PREFIXES = ("+86", "0086", "86")
# What people put between digits besides spaces and dashes (whitespace, Unicode dashes
# and invisible format characters are recognised by category): dots, middle dots,
# the minus sign, parentheses and brackets. Full-width forms arrive here already
# folded to these by NFKC.
_PUNCTUATION = frozenset(".·・‧−()[]")

PHONE_INPUT_MAX_LENGTH = 32
"""Longest text accepted where a phone is typed (``+86 (139) 1234-7772`` with room for
spaces); schemas bound the raw text by it and leave the rest to :func:`normalise_phone`."""


class InvalidPhone(ValueError):
    pass


def _is_separator(char: str) -> bool:
    # Zs/whitespace: spaces incl. U+3000 and NBSP; Pd: every dash (‐ – — ﹣ 〜 …);
    # Cf: zero-width spaces and the bidi marks phones copied from iOS contacts carry.
    return char.isspace() or char in _PUNCTUATION or unicodedata.category(char) in ("Pd", "Cf")


def _compact(raw: str) -> str:
    """NFKC (full-width ０-９ ＋ － （ ） become ASCII), then drop the separators people type."""
    folded = unicodedata.normalize("NFKC", raw)
    return "".join(char for char in folded if not _is_separator(char))


def normalise_phone(raw: str) -> str:
    """Return the E.164 form of a mainland mobile number or raise InvalidPhone.

    Accepts the number however it is typed: ``13812345678``, ``138 1234 5678``,
    ``+86 138-1234-5678``, ``(138)1234.5678``, ``8613812345678``,
    ``008613812345678``, full-width ``１３８１２３４５６７８`` or ``＋８６ １３８…``.
    A country code (``+86``, ``0086``, ``86``) is dropped only when an 11-digit mobile
    follows it.
    """
    if not isinstance(raw, str):
        raise InvalidPhone("phone must be a string")
    if len(raw) > PHONE_INPUT_MAX_LENGTH:
        raise InvalidPhone(f"longer than {PHONE_INPUT_MAX_LENGTH} characters")
    digits = _compact(raw)
    for prefix in _COUNTRY_PREFIXES:
        if digits.startswith(prefix) and _MAINLAND_MOBILE.fullmatch(digits[len(prefix):]):
            digits = digits[len(prefix):]
            break
    if not _MAINLAND_MOBILE.fullmatch(digits):
        raise InvalidPhone(f"not a mainland mobile number: {raw!r}")
    return "+86" + digits


def normalise_contact_phone(raw: str) -> str:
    """A developer's contact number: a mobile in E.164, else a landline as typed
    (``025-12345678``, ``０２５－１２３４５６７８``) in ASCII with spaces dropped and every
    dash written ``-``; raise InvalidPhone when it is neither."""
    try:
        return normalise_phone(raw)
    except InvalidPhone:
        if not isinstance(raw, str) or len(raw) > PHONE_INPUT_MAX_LENGTH:
            raise
    folded = unicodedata.normalize("NFKC", raw)
    landline = "".join("-" if char == "−" or unicodedata.category(char) == "Pd" else char
                       for char in folded if not (char.isspace() or unicodedata.category(char) == "Cf"))
    if len(landline) <= 16 and sum(char.isdigit() for char in landline) >= 7 and set(landline) <= set("0123456789+-"):
        return landline
    raise InvalidPhone(f"neither a mobile nor a landline: {raw!r}")


def search_digits(text: str | None) -> str | None:
    """The ASCII digits to look for in stored numbers when a search box holds a phone
    number or a part of one, however typed (``１３９ １２３４`` → ``1391234``, a whole
    ``+86 139-1234-7772`` → ``13912347772``); None when the text is not one."""
    if not isinstance(text, str) or len(text) > PHONE_INPUT_MAX_LENGTH:
        return None
    try:
        return national(normalise_phone(text))
    except InvalidPhone:
        pass
    digits = _compact(text).removeprefix("+")
    return digits if digits.isascii() and digits.isdigit() else None


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
