"""Erasing a buyer (匿名化, issue 15 §1): his name and phone leave every table; ids stay.

Money records (deals, commission lines, ledger postings, collections) name the buyer only
by ``buyer_id``, a pseudonymous id once the buyer row holds no phone or name, so they are
kept as accounting law requires. The evidence chain is not touched: its payloads hold
keyed hashes under the buyer's own key, and destroying the key (``evidence_key`` NULL)
makes them unlinkable while every chain hash still verifies (evidence.pseudonyms).

Kept on purpose: a developer's own list of existing customers (已有客户) is the developer's
data, processed on its behalf; the buyer asks the developer to delete it there.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from ..crm.models import ClientCard, ClientTag, FollowUpNote
from ..handoffs.models import Handoff
from ..identity.models import Buyer, SmsCode
from ..notifications.models import Notification
from ..phones import mask_phone
from ..reconciliation.models import SalesListRow
from ..registrations.models import Registration
from ..revisits.models import RevisitCall, Revisit
from ..risk.models import RegistrationAttempt
from .models import RegistrationObjection

ERASED_NAME = "已删除"


def placeholder_phone(buyer_id: int) -> str:
    """What stands in the unique, non-null phone column of an erased buyer (no digits run
    long enough to be a phone, never a number anybody has)."""
    return f"erased-{buyer_id}"


def is_erased(buyer: Buyer) -> bool:
    return buyer.erased_at is not None


def anonymise(session: Session, buyer: Buyer, *, now: datetime) -> None:
    """Remove the buyer's name and phone everywhere; a second call changes nothing."""
    if buyer.erased_at is not None:
        return
    phone = buyer.phone
    names = {n for n in session.scalars(select(Registration.buyer_name).where(Registration.buyer_id == buyer.id))}
    names |= set(session.scalars(select(Handoff.buyer_name).where(Handoff.buyer_id == buyer.id)))
    names |= set(session.scalars(select(ClientCard.display_name).where(ClientCard.buyer_id == buyer.id)))
    if buyer.name:
        names.add(buyer.name)
    consultants = set(session.scalars(select(Registration.consultant_id).where(Registration.buyer_id == buyer.id)))
    consultants |= set(session.scalars(select(Handoff.from_consultant_id).where(Handoff.buyer_id == buyer.id)))
    consultants |= set(session.scalars(select(ClientCard.consultant_id).where(ClientCard.buyer_id == buyer.id)))

    session.execute(update(Registration).where(Registration.buyer_id == buyer.id)
                    .values(buyer_name=ERASED_NAME, note=None))
    session.execute(update(Handoff).where(Handoff.buyer_id == buyer.id).values(buyer_name=ERASED_NAME, note=None))
    cards = select(ClientCard.id).where(ClientCard.buyer_id == buyer.id)
    session.execute(update(ClientCard).where(ClientCard.buyer_id == buyer.id).values(display_name=ERASED_NAME))
    session.execute(delete(FollowUpNote).where(FollowUpNote.card_id.in_(cards)))
    session.execute(delete(ClientTag).where(ClientTag.card_id.in_(cards)))
    session.execute(update(SalesListRow).where(SalesListRow.buyer_id == buyer.id)
                    .values(buyer_name=None, phone_masked=None))
    session.execute(update(RegistrationAttempt).where(RegistrationAttempt.buyer_id == buyer.id)
                    .values(buyer_phone_hash=None, buyer_phone_masked=None))
    # His own words on an objection may name him; the objection itself (and its flag) stays.
    session.execute(update(RegistrationObjection).where(RegistrationObjection.buyer_id == buyer.id)
                    .values(reason=None))
    revisits = select(Revisit.id).where(Revisit.buyer_id == buyer.id)
    session.execute(update(RevisitCall).where(RevisitCall.revisit_id.in_(revisits)).values(note=None))
    session.execute(delete(SmsCode).where(SmsCode.phone == phone))
    _scrub_notifications(session, consultants, names, phone)

    buyer.phone = placeholder_phone(buyer.id)
    buyer.name = None
    buyer.evidence_key = None  # the chain's hashes of his phone and name become unlinkable
    buyer.erased_at = now
    buyer.token_version = (buyer.token_version or 0) + 1  # his H5 sessions end
    session.flush()


def _scrub_notifications(session: Session, consultants: set[int], names: set[str], phone: str) -> None:
    """Consultants' notifications quote the buyer's name and masked phone: replace them."""
    if not consultants:
        return
    masked = mask_phone(phone)
    for text in sorted({n for n in names if n and n != ERASED_NAME} | {masked}, key=len, reverse=True):
        session.execute(update(Notification)
                        .where(Notification.consultant_id.in_(consultants),
                               or_(Notification.body.contains(text, autoescape=True),
                                   Notification.title.contains(text, autoescape=True)))
                        .values(body=func.replace(Notification.body, text, "***"),
                                title=func.replace(Notification.title, text, "***"))
                        .execution_options(synchronize_session=False))
