"""Proof that the buyer is at the sales office (到访为王 and every other mode, issue 15 §2).

A buyer who confirms his own visit must type the sales office's current code: six
digits shown only on the site staff's page (/admin/visits/), derived by HMAC from the
project and a ten-minute slot, so it rotates by itself and is never stored. The code of
the slot before is accepted too, so a code read just before it turns still works.
Without it, a consultant and a friendly buyer could "confirm" a visit from anywhere,
and in the visit → deal mode the first confirmed visit wins the buyer.

Pure functions of (secret, project, time); the services pass ``now`` in.
"""
from __future__ import annotations

import hashlib
import hmac
import unicodedata
from datetime import datetime, timezone

SLOT_SECONDS = 600
DIGITS = 6
#: Wrong codes a buyer may type for one visit before only site staff can confirm it.
MAX_FAILURES = 5


def slot_of(at: datetime) -> int:
    return int(at.timestamp()) // SLOT_SECONDS


def code_for(secret: str, project_id: int, slot: int) -> str:
    digest = hmac.new(secret.encode(), f"presence:{project_id}:{slot}".encode(), hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10 ** DIGITS:0{DIGITS}d}"


def current_code(secret: str, project_id: int, now: datetime) -> tuple[str, datetime]:
    """The code to show now, and when it turns (the previous one is still accepted one slot longer)."""
    slot = slot_of(now)
    return code_for(secret, project_id, slot), datetime.fromtimestamp((slot + 1) * SLOT_SECONDS, tz=timezone.utc)


def normalise(raw: str | None) -> str:
    """What the buyer typed: full-width digits and spaces as he types them."""
    return "".join(unicodedata.normalize("NFKC", raw or "").split())


def is_valid(secret: str, project_id: int, raw: str | None, now: datetime) -> bool:
    typed = normalise(raw)
    if len(typed) != DIGITS or not typed.isdigit():
        return False
    slot = slot_of(now)
    return any(hmac.compare_digest(typed.encode(), code_for(secret, project_id, s).encode()) for s in (slot, slot - 1))
