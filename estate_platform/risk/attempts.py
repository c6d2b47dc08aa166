"""Recording a refused registration attempt (DESIGN §4; issue 11 §3).

The registration service calls :func:`recording_refusals` around its business rules.
A refusal raised inside it writes one ``registration_attempts`` row — one INSERT, the
last statement before the refusal leaves — and asks the unit of work to keep it
(``keep_changes`` on that refusal only), so the refused request commits that row and
nothing else: the rules before it only read. Schema errors (422) and unknown projects
never get here. The row names the buyer by id when the refusal already knew him, and
otherwise by a keyed hash and the masked phone; never by the number in clear.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Iterator

from sqlalchemy import insert
from sqlalchemy.orm import Session

from ..errors import DomainError
from ..phones import mask_phone
from . import rules
from .models import RegistrationAttempt


@dataclass
class Attempt:
    """What the registration service learns as it goes (the buyer, once looked up)."""
    buyer_id: int | None = None


@contextmanager
def recording_refusals(session: Session, *, consultant_id: int, project_id: int, phone: str,
                       phone_key: str | None, now: datetime) -> Iterator[Attempt]:
    attempt = Attempt()
    try:
        yield attempt
    except DomainError as refusal:
        session.execute(insert(RegistrationAttempt).values(
            consultant_id=consultant_id, project_id=project_id, buyer_id=attempt.buyer_id,
            buyer_phone_hash=rules.phone_hash(phone, phone_key) if phone_key else None,
            buyer_phone_masked=mask_phone(phone), code=refusal.code, created_at=now))
        refusal.keep_changes = True  # this refusal's unit of work commits the row
        raise
