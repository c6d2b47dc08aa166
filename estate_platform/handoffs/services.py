"""Handoffs (转介/二次分配, DESIGN §2, §3): a consultant passes a buyer to a colleague
or to the platform pool, for a project he does not cover.

* The receiver accepts or declines within an SLA (default 24 h); a periodic task
  times out offers past it. A pool handoff then goes to the next candidate
  (``routing``); a handoff to a named colleague ends (``unrouted``) and the sender
  is told, so he can choose someone else or the pool: the platform never passes
  a buyer to someone the sender did not ask for.
* Acceptance registers the buyer for the receiver with the sender recorded as the
  referrer, so a deal later pays the referral share (§3). Every registration
  refusal applies to that registration.
* A buyer held by another consultant's binding registration cannot be handed off.
* Only the sender and the consultants it was offered to can see a handoff; the
  buyer's phone is masked for a receiver until he accepts.
* Every state change appends to the handoff's evidence chain (subject ``handoff``).

The handoff row is locked (SELECT … FOR UPDATE) before it changes, so a receiver
accepting while the timeout task re-routes cannot both win.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ..clock import SHANGHAI
from ..consultants.guard import is_operating, require_operating
from ..consultants.models import Consultant
from ..contracts.models import AgreementSignature, AgreementVersion
from ..errors import Conflict, DomainError, NotFound, ValidationFailed
from ..evidence import services as evidence
from ..evidence.pseudonyms import buyer_facts
from ..evidence.services import SYSTEM, Actor
from ..identity.models import Buyer, StaffUser
from ..notifications.services import notify
from ..phones import InvalidPhone, mask_phone, national, normalise_phone
from ..projects.models import Project
from ..projects.services import get_project, is_existing_customer, require_accepting
from ..referrals import services as referrals
from ..registrations import services as registrations
from ..registrations.models import OPEN_STATUSES, Registration
from . import routing
from .models import Handoff, HandoffOffer

DEFAULT_SLA_HOURS = 24
TIMEOUT_BATCH = 100


class HandoffNotFound(NotFound):
    code, message = "handoff_not_found", "转介不存在"


class HandoffClosed(Conflict):
    code, message = "handoff_closed", "该转介已不再等待处理"


class HandoffExpired(Conflict):
    code, message = "handoff_expired", "该转介已超过响应时限，不能再接收"


class HandoffPending(Conflict):
    code, message = "handoff_pending", "您已转介过该客户到此楼盘，请等待对方处理"


class HandoffToSelf(DomainError):
    code, status, message = "handoff_to_self", 422, "不能把客户转介给自己"


class ReceiverUnavailable(Conflict):
    code, message = "receiver_unavailable", "该顾问目前无法接收转介"


class BuyerBoundElsewhere(Conflict):
    code, message = "buyer_bound_elsewhere", "该客户在此楼盘已由其他顾问报备保护，不能转介"


class BuyerAlreadyYours(Conflict):
    code, message = "buyer_already_yours", "该客户在此楼盘已由您报备，无需转介"


# --- the viewer's picture of a handoff ------------------------------------------------------

SENDER_STATUS_LABELS = {"offered": "等待对方接收", "accepted": "已接收", "unrouted": "无人承接",
                        "cancelled": "已撤回"}
RECEIVER_STATUS_LABELS = {"offered": "待处理", "accepted": "已接收", "declined": "已拒绝", "timed_out": "已超时",
                          "withdrawn": "转介人已撤回"}
END_REASON_LABELS = {"declined": "对方已拒绝", "timed_out": "对方未在时限内回复", "no_candidate": "暂无合适顾问承接",
                     "buyer_bound": "客户已被其他顾问报备保护", "cancelled_by_sender": "转介人已撤回"}


@dataclass(frozen=True)
class Person:
    id: int
    name: str


@dataclass(frozen=True)
class HandoffView:
    """A handoff as one consultant may see it: the sender's or a receiver's side."""
    id: int
    role: str  # sent | received
    project: Project
    buyer_name: str
    buyer_phone: str  # full for the sender and for a receiver who accepted; masked otherwise
    phone_masked: bool
    note: str | None
    via_pool: bool
    status: str
    status_label: str
    sender: Person
    receiver: Person | None
    respond_by: datetime | None
    registration_id: int | None
    end_reason: str | None
    end_reason_label: str | None
    decline_reason: str | None
    created_at: datetime
    updated_at: datetime


def _person(consultant: Consultant | None) -> Person | None:
    return Person(consultant.id, consultant.name) if consultant is not None else None


def _sender_view(session: Session, handoff: Handoff) -> HandoffView:
    decline_reason = None
    if handoff.end_reason == "declined":  # a named colleague said no: the sender may read why
        decline_reason = session.scalar(select(HandoffOffer.decline_reason).where(HandoffOffer.handoff_id == handoff.id)
                                        .order_by(HandoffOffer.id.desc()).limit(1))
    return HandoffView(
        id=handoff.id, role="sent", project=handoff.project, buyer_name=handoff.buyer_name,
        buyer_phone=national(handoff.buyer.phone), phone_masked=False, note=handoff.note, via_pool=handoff.via_pool,
        status=handoff.status, status_label=SENDER_STATUS_LABELS[handoff.status], sender=_person(handoff.sender),
        receiver=_person(handoff.receiver), respond_by=handoff.respond_by, registration_id=None,
        end_reason=handoff.end_reason, end_reason_label=END_REASON_LABELS.get(handoff.end_reason or ""),
        decline_reason=decline_reason, created_at=handoff.created_at, updated_at=handoff.updated_at)


def _receiver_view(session: Session, handoff: Handoff, offer: HandoffOffer) -> HandoffView:
    status = offer.outcome or ("offered" if handoff.status == "offered" else "withdrawn")
    accepted = offer.outcome == "accepted"
    phone = national(handoff.buyer.phone) if accepted else mask_phone(handoff.buyer.phone)
    return HandoffView(
        id=handoff.id, role="received", project=handoff.project, buyer_name=handoff.buyer_name, buyer_phone=phone,
        phone_masked=not accepted, note=handoff.note, via_pool=handoff.via_pool, status=status,
        status_label=RECEIVER_STATUS_LABELS[status], sender=_person(handoff.sender),
        receiver=_person(session.get(Consultant, offer.consultant_id)), respond_by=offer.respond_by,
        registration_id=handoff.registration_id if accepted else None, end_reason=None, end_reason_label=None,
        decline_reason=offer.decline_reason, created_at=offer.offered_at,
        updated_at=offer.responded_at or offer.offered_at)


def view_for(session: Session, consultant_id: int, handoff: Handoff) -> HandoffView:
    """The handoff as ``consultant_id`` may see it; anyone else is told it does not exist."""
    if handoff.from_consultant_id == consultant_id:
        return _sender_view(session, handoff)
    offer = _offer_of(session, handoff.id, consultant_id)
    if offer is None:
        raise HandoffNotFound()
    return _receiver_view(session, handoff, offer)


def get_handoff(session: Session, consultant_id: int, handoff_id: int) -> HandoffView:
    handoff = session.get(Handoff, handoff_id)
    if handoff is None:
        raise HandoffNotFound()
    return view_for(session, consultant_id, handoff)


def list_handoffs(session: Session, consultant_id: int, *, role: str, page: int = 1,
                  per_page: int = 20) -> tuple[list[HandoffView], int]:
    """``sent``: the handoffs he made. ``received``: every offer made to him, newest first."""
    if role == "sent":
        query = select(Handoff).where(Handoff.from_consultant_id == consultant_id)
        order = (Handoff.created_at.desc(), Handoff.id.desc())
    else:
        query = (select(HandoffOffer).where(HandoffOffer.consultant_id == consultant_id)
                 .options(selectinload(HandoffOffer.handoff)))
        order = (HandoffOffer.offered_at.desc(), HandoffOffer.id.desc())
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(query.order_by(*order).offset((page - 1) * per_page).limit(per_page)).all()
    if role == "sent":
        return [_sender_view(session, handoff) for handoff in rows], total
    return [_receiver_view(session, offer.handoff, offer) for offer in rows], total


# --- making a handoff ----------------------------------------------------------------------------

def _validate(sender: Consultant, buyer_name: str, buyer_phone: str, to_consultant_id: int | None) -> str:
    errors: dict[str, list[str]] = {}
    phone = ""
    if not buyer_name.strip():
        errors["buyer_name"] = ["请填写客户姓名"]
    try:
        phone = normalise_phone(buyer_phone)
    except InvalidPhone:
        errors["buyer_phone"] = ["请输入有效的中国大陆手机号"]
    if errors:
        raise ValidationFailed(errors)
    if to_consultant_id == sender.id:
        raise HandoffToSelf(details={"fields": {"to_consultant_id": [HandoffToSelf.message]}})
    return phone


def _is_operating(session: Session, consultant: Consultant) -> bool:
    return is_operating(session, consultant)


def _refuse_if_not_handable(session: Session, sender: Consultant, project: Project, buyer: Buyer) -> None:
    holder = registrations.binding_registration(session, project.id, buyer.id)
    if holder is not None and holder.consultant_id != sender.id:
        # Never say who holds the buyer: only until when (as a second registration is told).
        raise BuyerBoundElsewhere(details={"protected_until": holder.protected_until.isoformat()})
    own = session.scalar(select(Registration.id).where(
        Registration.project_id == project.id, Registration.buyer_id == buyer.id,
        Registration.consultant_id == sender.id, Registration.status.in_(OPEN_STATUSES)))
    if own is not None:
        raise BuyerAlreadyYours()
    pending = session.scalar(select(Handoff.id).where(
        Handoff.from_consultant_id == sender.id, Handoff.project_id == project.id, Handoff.buyer_id == buyer.id,
        Handoff.status == "offered"))
    if pending is not None:
        raise HandoffPending(details={"handoff_id": pending})


def create_handoff(session: Session, sender: Consultant, *, project_id: int, buyer_phone: str, buyer_name: str,
                   to_consultant_id: int | None = None, note: str | None = None, now: datetime,
                   sla_hours: int = DEFAULT_SLA_HOURS) -> HandoffView:
    """Hand a buyer to a named colleague (``to_consultant_id``) or to the platform pool."""
    require_operating(session, sender)
    phone = _validate(sender, buyer_name, buyer_phone, to_consultant_id)
    project = get_project(session, project_id)
    require_accepting(project, now)
    # The refusals any registration of this buyer would meet, told to the sender now rather than the receiver later.
    if phone == sender.phone:
        raise registrations.BuyerIsSelf()
    if session.scalar(select(StaffUser.id).where(StaffUser.phone == phone)) is not None:
        raise registrations.BuyerIsStaff()
    if is_existing_customer(session, project.id, phone):
        raise registrations.BuyerKnownToDeveloper()
    receiver = None
    if to_consultant_id is not None:
        receiver = session.get(Consultant, to_consultant_id)
        if receiver is None or not _is_operating(session, receiver):
            raise ReceiverUnavailable()
    buyer = registrations.buyer_for_phone(session, phone, buyer_name.strip(), now)
    _refuse_if_not_handable(session, sender, project, buyer)

    handoff = Handoff(sender=sender, requested_consultant_id=to_consultant_id, via_pool=receiver is None,
                      buyer=buyer, buyer_name=buyer_name.strip(), project=project, note=(note or "").strip() or None,
                      status="offered", created_at=now, updated_at=now)
    if receiver is None:
        receiver = _next_in_pool(session, project, buyer, sender_id=sender.id, previous=())
    if receiver is None:
        handoff.status, handoff.ended_at, handoff.end_reason = "unrouted", now, "no_candidate"
    else:
        handoff.receiver, handoff.respond_by = receiver, now + timedelta(hours=sla_hours)
    try:
        with session.begin_nested():
            session.add(handoff)
    except IntegrityError:  # a concurrent request made the same handoff: the open-handoff index decided
        raise HandoffPending() from None

    actor = Actor("consultant", sender.id)
    facts = dict(from_consultant_id=sender.id, project_id=project.id, buyer_id=buyer.id,
                 **buyer_facts(buyer.evidence_key, phone, buyer_name),
                 via_pool=handoff.via_pool, requested_consultant_id=to_consultant_id)
    if handoff.status == "offered":
        _offer(session, handoff, receiver, "offered", actor, now, sla_hours, **facts)
    else:
        evidence.append(session, "handoff", handoff.id, "unrouted", actor, now=now, reason="no_candidate", **facts)
        _tell_sender_unrouted(session, handoff, now)
    return _sender_view(session, handoff)


# --- routing ------------------------------------------------------------------------------------------

def _pool_candidates(session: Session, project: Project, buyer: Buyer) -> list[routing.Candidate]:
    """Operating consultants of the project's city or who work the project, with their load.
    Consultants already holding the buyer here (an open registration) cannot take him again."""
    current = select(AgreementVersion.id).order_by(AgreementVersion.version.desc()).limit(1).scalar_subquery()
    signed = select(AgreementSignature.consultant_id).where(AgreementSignature.agreement_version_id == current)
    in_project = select(Registration.consultant_id).where(Registration.project_id == project.id)
    holding = select(Registration.consultant_id).where(Registration.project_id == project.id,
                                                       Registration.buyer_id == buyer.id,
                                                       Registration.status.in_(OPEN_STATUSES))
    open_registrations = (select(func.count(Registration.id))
                          .where(Registration.consultant_id == Consultant.id,
                                 Registration.status.in_(OPEN_STATUSES)).scalar_subquery())
    open_offers = (select(func.count(HandoffOffer.id))
                   .where(HandoffOffer.consultant_id == Consultant.id, HandoffOffer.outcome.is_(None))
                   .scalar_subquery())
    covers = exists().where(Registration.consultant_id == Consultant.id, Registration.project_id == project.id)
    rows = session.execute(
        select(Consultant.id, Consultant.city, Consultant.rating, open_registrations, open_offers, covers)
        .where(Consultant.status == "active", Consultant.id.in_(signed), Consultant.id.not_in(holding),
               Consultant.phone != buyer.phone, or_(Consultant.city == project.city, Consultant.id.in_(in_project)))
    ).all()
    return [routing.Candidate(consultant_id=id_, city=city, rating=rating, open_load=regs + offers,
                              covers_project=bool(covered))
            for id_, city, rating, regs, offers, covered in rows]


def _next_in_pool(session: Session, project: Project, buyer: Buyer, *, sender_id: int,
                  previous: tuple[int, ...] | set[int]) -> Consultant | None:
    chosen = routing.choose(_pool_candidates(session, project, buyer), project_city=project.city,
                            sender_id=sender_id, previous_offerees=previous)
    return session.get(Consultant, chosen.consultant_id) if chosen is not None else None


def _offer(session: Session, handoff: Handoff, receiver: Consultant, event: str, actor: Actor, now: datetime,
           sla_hours: int, **facts) -> HandoffOffer:
    respond_by = now + timedelta(hours=sla_hours)
    handoff.status, handoff.receiver, handoff.respond_by, handoff.updated_at = "offered", receiver, respond_by, now
    offer = HandoffOffer(handoff_id=handoff.id, consultant_id=receiver.id, offered_at=now, respond_by=respond_by)
    session.add(offer)
    session.flush()
    evidence.append(session, "handoff", handoff.id, event, actor, now=now, to_consultant_id=receiver.id,
                    respond_by=respond_by.isoformat(), **facts)
    source = "平台客户池" if handoff.via_pool else f"顾问{handoff.sender.name}"
    notify(session, receiver.id, "handoff_offered",
           f"{source}向您转介客户 {handoff.buyer_name}（{mask_phone(handoff.buyer.phone)}），楼盘：{handoff.project.name}，"
           f"请在 {respond_by.astimezone(SHANGHAI):%Y-%m-%d %H:%M} 前接收或拒绝", now=now, handoff_id=handoff.id)
    return offer


def _end(session: Session, handoff: Handoff, status: str, reason: str, actor: Actor, now: datetime) -> None:
    handoff.status, handoff.end_reason, handoff.ended_at, handoff.updated_at = status, reason, now, now
    handoff.receiver, handoff.respond_by = None, None
    session.flush()
    evidence.append(session, "handoff", handoff.id, status, actor, now=now, reason=reason)


def _tell_sender_unrouted(session: Session, handoff: Handoff, now: datetime) -> None:
    notify(session, handoff.from_consultant_id, "handoff_unrouted",
           f"您转介的客户 {handoff.buyer_name}（{handoff.project.name}）{END_REASON_LABELS[handoff.end_reason]}，"
           f"转介已结束，可重新转介给其他顾问或平台客户池", now=now, handoff_id=handoff.id)


def _after_refusal(session: Session, handoff: Handoff, offer: HandoffOffer, now: datetime, sla_hours: int) -> None:
    """The current receiver declined or timed out (``offer.outcome``): the pool tries the
    next candidate; a named colleague's handoff ends and goes back to the sender."""
    reason = offer.outcome
    if not handoff.via_pool:
        _end(session, handoff, "unrouted", reason, SYSTEM, now)
        if reason == "declined":
            why = f"，理由：{offer.decline_reason}" if offer.decline_reason else ""
            notify(session, handoff.from_consultant_id, "handoff_declined",
                   f"您转介的客户 {handoff.buyer_name}（{handoff.project.name}）被对方拒绝{why}，"
                   f"可重新转介给其他顾问或平台客户池", now=now, handoff_id=handoff.id)
        else:
            _tell_sender_unrouted(session, handoff, now)
        return
    if registrations.binding_registration(session, handoff.project_id, handoff.buyer_id) is not None:
        _end(session, handoff, "unrouted", "buyer_bound", SYSTEM, now)
        _tell_sender_unrouted(session, handoff, now)
        return
    previous = set(session.scalars(select(HandoffOffer.consultant_id).where(HandoffOffer.handoff_id == handoff.id)))
    receiver = _next_in_pool(session, handoff.project, handoff.buyer, sender_id=handoff.from_consultant_id,
                             previous=previous)
    if receiver is None:
        _end(session, handoff, "unrouted", "no_candidate", SYSTEM, now)
        _tell_sender_unrouted(session, handoff, now)
        return
    _offer(session, handoff, receiver, "rerouted", SYSTEM, now, sla_hours, after=reason)


# --- answering an offer --------------------------------------------------------------------------------

def _offer_of(session: Session, handoff_id: int, consultant_id: int) -> HandoffOffer | None:
    return session.scalar(select(HandoffOffer).where(HandoffOffer.handoff_id == handoff_id,
                                                     HandoffOffer.consultant_id == consultant_id)
                          .execution_options(populate_existing=True))


def _locked(session: Session, handoff_id: int) -> Handoff | None:
    """The handoff, locked for this transaction (no-op on SQLite, which serialises writers)."""
    return session.get(Handoff, handoff_id, with_for_update=True, populate_existing=True)


def _open_offer_for(session: Session, receiver: Consultant, handoff_id: int) -> tuple[Handoff, HandoffOffer]:
    """The handoff and its open offer to ``receiver``. Someone it was never offered to is told
    it does not exist; a receiver whose offer is over is told it no longer waits for him."""
    handoff = _locked(session, handoff_id)
    offer = _offer_of(session, handoff_id, receiver.id) if handoff is not None else None
    if offer is None:
        raise HandoffNotFound()
    if handoff.status != "offered" or handoff.offered_to_id != receiver.id or offer.outcome is not None:
        raise HandoffClosed(details={"status": offer.outcome or handoff.status})
    return handoff, offer


def accept(session: Session, receiver: Consultant, handoff_id: int, *, now: datetime) -> HandoffView:
    """Take the buyer: he is registered for the receiver, with the sender as referrer."""
    require_operating(session, receiver)
    handoff, offer = _open_offer_for(session, receiver, handoff_id)
    if now > offer.respond_by:
        raise HandoffExpired(details={"respond_by": offer.respond_by.isoformat()})
    registration = registrations.register(
        session, receiver,
        registrations.NewRegistration(project_id=handoff.project_id, buyer_name=handoff.buyer_name,
                                      buyer_phone=handoff.buyer.phone, note=handoff.note),
        now=now, referrer_consultant_id=handoff.from_consultant_id, handoff_id=handoff.id,
        actor=Actor("consultant", receiver.id))
    offer.outcome, offer.responded_at = "accepted", now
    handoff.status, handoff.registration_id, handoff.respond_by, handoff.updated_at = \
        "accepted", registration.id, None, now
    session.flush()
    referrals.record_handoff(session, sender_id=handoff.from_consultant_id, receiver_id=receiver.id,
                             buyer_id=handoff.buyer_id, project_id=handoff.project_id, handoff_id=handoff.id, now=now)
    evidence.append(session, "handoff", handoff.id, "accepted", Actor("consultant", receiver.id), now=now,
                    consultant_id=receiver.id, registration_id=registration.id)
    notify(session, handoff.from_consultant_id, "handoff_accepted",
           f"您转介的客户 {handoff.buyer_name}（{handoff.project.name}）已由顾问{receiver.name}接收，"
           f"成交后您将获得转介分成", now=now, handoff_id=handoff.id, registration_id=registration.id)
    return _receiver_view(session, handoff, offer)


def decline(session: Session, receiver: Consultant, handoff_id: int, *, reason: str | None = None,
            now: datetime, sla_hours: int = DEFAULT_SLA_HOURS) -> HandoffView:
    """Decline an offer (also after its deadline: it only hurries the next step)."""
    handoff, offer = _open_offer_for(session, receiver, handoff_id)
    offer.outcome, offer.responded_at = "declined", now
    offer.decline_reason = (reason or "").strip()[:200] or None
    session.flush()
    evidence.append(session, "handoff", handoff.id, "declined", Actor("consultant", receiver.id), now=now,
                    consultant_id=receiver.id, reason=offer.decline_reason)
    _after_refusal(session, handoff, offer, now, sla_hours)
    return _receiver_view(session, handoff, offer)


def cancel(session: Session, sender: Consultant, handoff_id: int, *, now: datetime) -> HandoffView:
    """The sender takes back a handoff nobody has accepted yet."""
    handoff = _locked(session, handoff_id)
    if handoff is None or handoff.from_consultant_id != sender.id:
        raise HandoffNotFound()
    if handoff.status != "offered":
        raise HandoffClosed(details={"status": handoff.status})
    offer = _offer_of(session, handoff.id, handoff.offered_to_id)
    offer.outcome, offer.responded_at = "withdrawn", now
    _end(session, handoff, "cancelled", "cancelled_by_sender", Actor("consultant", sender.id), now)
    notify(session, offer.consultant_id, "handoff_withdrawn",
           f"顾问{sender.name}已撤回转介给您的客户 {handoff.buyer_name}（{handoff.project.name}），无需再处理",
           now=now, handoff_id=handoff.id)
    return _sender_view(session, handoff)


def reroute_timed_out(session: Session, *, now: datetime, limit: int = TIMEOUT_BATCH,
                      sla_hours: int = DEFAULT_SLA_HOURS) -> int:
    """Time out offers past their deadline and move each handoff on (the pool's next
    candidate, or back to the sender). Handoffs being answered right now are skipped
    (SKIP LOCKED) and seen by the next run; running it twice changes nothing more."""
    due = session.scalars(select(Handoff).where(Handoff.status == "offered", Handoff.respond_by <= now)
                          .order_by(Handoff.respond_by, Handoff.id).limit(limit)
                          .with_for_update(skip_locked=True)).all()
    for handoff in due:
        offer = _offer_of(session, handoff.id, handoff.offered_to_id)
        offer.outcome, offer.responded_at = "timed_out", now
        session.flush()
        evidence.append(session, "handoff", handoff.id, "timed_out", SYSTEM, now=now,
                        consultant_id=offer.consultant_id, respond_by=offer.respond_by.isoformat())
        _after_refusal(session, handoff, offer, now, sla_hours)
    return len(due)
