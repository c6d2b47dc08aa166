"""Recording referral edges: handoffs (转介) and buyers referring buyers (老带新)."""
from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db import advisory_lock
from ..errors import Conflict, NotFound
from ..identity.models import Buyer
from ..invites.models import Attribution
from ..registrations.models import Registration
from .graph import buyer_referral_would_create_cycle
from .models import BuyerReferralCode, ReferralEdge

LOCK_BUYER_REFERRALS = 1_002  # "老带新 edges stay acyclic" is checked under this lock
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


class ReferralCodeNotFound(NotFound):
    code, message = "referral_code_not_found", "推荐码不存在"


class AlreadyReferred(Conflict):
    code, message = "already_referred", "您已有推荐人，不能重复填写"


class ReferralNotAllowed(Conflict):
    code, message = "referral_not_allowed", "不能填写自己或您推荐过的人的推荐码"


class FriendAlreadyRegistered(Conflict):
    code, message = "friend_already_registered", "您已由置业顾问登记或经顾问的分享链接到访，不能再接受老业主推荐"


def record_handoff(session: Session, *, sender_id: int, receiver_id: int, buyer_id: int, project_id: int,
                   handoff_id: int, now: datetime) -> ReferralEdge:
    edge = ReferralEdge(kind="handoff", source_type="consultant", source_id=sender_id, target_type="consultant",
                        target_id=receiver_id, buyer_id=buyer_id, project_id=project_id, handoff_id=handoff_id,
                        valid_from=now)
    session.add(edge)
    session.flush()
    return edge


def referral_code_of(session: Session, buyer_id: int, *, now: datetime) -> BuyerReferralCode:
    """The buyer's own 老带新 code, made on first request."""
    existing = session.scalar(select(BuyerReferralCode).where(BuyerReferralCode.buyer_id == buyer_id))
    if existing is not None:
        return existing
    while True:
        code = BuyerReferralCode(buyer_id=buyer_id, code="".join(secrets.choice(CODE_ALPHABET) for _ in range(8)),
                                 created_at=now)
        try:
            with session.begin_nested():
                session.add(code)
            return code
        except IntegrityError:  # a concurrent first request, or (rarely) a code collision
            existing = session.scalar(select(BuyerReferralCode).where(BuyerReferralCode.buyer_id == buyer_id))
            if existing is not None:
                return existing


def code_owner(session: Session, code: str) -> Buyer:
    """The buyer whose 老带新 code this is (the share page greets his friends with it)."""
    owner = session.scalar(select(Buyer).join(BuyerReferralCode, BuyerReferralCode.buyer_id == Buyer.id)
                           .where(BuyerReferralCode.code == (code or "").strip().upper()))
    if owner is None:
        raise ReferralCodeNotFound()
    return owner


def _already_brought(session: Session, buyer_id: int) -> bool:
    """A consultant registered him (any project, whatever became of it) or his invite link
    brought him: the platform already knows this buyer through a consultant."""
    return (session.scalar(select(Registration.id).where(Registration.buyer_id == buyer_id).limit(1)) is not None
            or session.scalar(select(Attribution.id).where(Attribution.buyer_id == buyer_id).limit(1)) is not None)


def claim_referral(session: Session, friend_id: int, code: str, *, now: datetime) -> ReferralEdge:
    """A buyer names the buyer who referred him (once). On his deal the referrer earns the
    project's 老带新 reward (DESIGN §2).

    The window closes at the friend's first registration (issue 15 §2): a friend a
    consultant already registered or brought by his link is not the referrer's to claim
    (409 ``friend_already_registered``). The 老带新 edge is a buyer's, not a project's, so
    any registration closes it."""
    owner = session.scalar(select(BuyerReferralCode).where(BuyerReferralCode.code == code.strip().upper()))
    if owner is None:
        raise ReferralCodeNotFound()
    advisory_lock(session, LOCK_BUYER_REFERRALS)
    if session.scalar(select(ReferralEdge.id).where(ReferralEdge.kind == "buyer_referral",
                                                    ReferralEdge.target_id == friend_id)) is not None:
        raise AlreadyReferred()
    if _already_brought(session, friend_id):
        raise FriendAlreadyRegistered()
    if buyer_referral_would_create_cycle(session, owner.buyer_id, friend_id):
        raise ReferralNotAllowed()
    edge = ReferralEdge(kind="buyer_referral", source_type="buyer", source_id=owner.buyer_id, target_type="buyer",
                        target_id=friend_id, valid_from=now)
    try:
        with session.begin_nested():
            session.add(edge)
    except IntegrityError:
        raise AlreadyReferred() from None
    return edge


def referrer_of(session: Session, buyer_id: int) -> ReferralEdge | None:
    return session.scalar(select(ReferralEdge).where(ReferralEdge.kind == "buyer_referral",
                                                     ReferralEdge.target_id == buyer_id))
