"""The consultant's client book."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import ClientCard


def ensure_card(session: Session, consultant_id: int, buyer_id: int, display_name: str, *,
                now: datetime) -> ClientCard:
    """The consultant's card for this buyer, created on first contact."""
    card = session.scalar(select(ClientCard).where(ClientCard.consultant_id == consultant_id,
                                                   ClientCard.buyer_id == buyer_id))
    if card is None:
        card = ClientCard(consultant_id=consultant_id, buyer_id=buyer_id, display_name=display_name,
                          created_at=now, updated_at=now)
        session.add(card)
        session.flush()
    return card
