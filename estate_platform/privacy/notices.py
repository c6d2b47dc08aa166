"""Buyers are told (告知, issue 15 §1): an SMS when a consultant registers them.

The text names the project and the consultant's public name and carries a link on which
the buyer may object; it deters fake registrations and is what a buyer expects. The outbox
is the registration row itself: ``buyer_notice = 'pending'`` is written by the
registration's own INSERT (no statement added to the registration path); the worker's outbox
drain (``outbox.drain``, woken after the commit and run by the beat every few seconds) sends
it, and a beat sweep retries what an SMS outage left.
Per project (``notify_buyer_on_registration``, on by default).

An objection (异议) is recorded once per registration, told to operations (the objections
page) and raises a ``buyer_objection`` flag in the risk queue (risk.objections) about the
registering consultant; the registration itself is not changed by the buyer's word alone.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..adapters.sms import SmsSender
from ..db import after_commit_deliver
from ..errors import Conflict, NotFound, UpstreamUnavailable
from ..registrations.models import Registration
from ..risk import objections
from .models import PrivacyEvent, RegistrationObjection

TEMPLATE = "SMS_REGISTRATION_NOTICE"
SWEEP_AFTER = timedelta(minutes=2)
OBJECTION_MAX_LENGTH = 500


class ObjectionLinkInvalid(NotFound):
    code, message = "objection_link_invalid", "链接无效或已失效"


class AlreadyObjected(Conflict):
    code, message = "already_objected", "您已对这条报备提出异议，平台会尽快核实"


def queue_registration_notice(session: Session, registration_id: int) -> None:
    """Send the notice once the registration has committed (never for a rolled-back one): the
    commit wakes the outbox drain (``db.after_commit_deliver``)."""
    after_commit_deliver(session, "registration_notice", registration_id)


def objection_token(secret: str, registration_id: int) -> str:
    return URLSafeSerializer(secret, salt="registration-objection").dumps(registration_id)


def registration_for_token(session: Session, secret: str, token: str) -> Registration:
    try:
        registration_id = URLSafeSerializer(secret, salt="registration-objection").loads(token)
    except BadSignature:
        raise ObjectionLinkInvalid() from None
    registration = session.get(Registration, registration_id) if isinstance(registration_id, int) else None
    if registration is None or registration.buyer.erased_at is not None:
        raise ObjectionLinkInvalid()
    return registration


def notice_params(registration: Registration, link: str) -> dict:
    consultant = registration.consultant
    public_name = f"{consultant.name[:1]}顾问" if consultant.name else "平台顾问"
    return {"project": registration.project.name, "consultant": public_name, "link": link}


def send_registration_notice(session: Session, sms: SmsSender, registration_id: int, *, link_for) -> str:
    """Send one pending notice; 'sent', or 'skipped' when nothing is pending (run twice: sent once).
    An SMS outage leaves it pending for the sweep."""
    registration = session.scalar(select(Registration).where(Registration.id == registration_id)
                                  .with_for_update())
    if registration is None or registration.buyer_notice != "pending":
        return "skipped"
    if registration.buyer.erased_at is not None:
        registration.buyer_notice = "failed"
        return "failed"
    try:
        sms.send_notice(registration.buyer.phone, TEMPLATE, notice_params(registration, link_for(registration.id)))
    except UpstreamUnavailable:
        return "pending"
    registration.buyer_notice = "sent"
    return "sent"


def claim_pending(session: Session, *, after: int | None, limit: int, now: datetime) -> list[tuple[int, int]]:
    """The outbox drain's claim (``tasks.drain_outbox``): up to ``limit`` registrations whose notice
    is pending, after the id ``after``, as ``(id, id)``; locked ``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL (another drain's rows are skipped). The partial index
    ``ix_registrations_buyer_notice_pending`` holds only these rows."""
    query = select(Registration.id).where(Registration.buyer_notice == "pending")
    if after is not None:
        query = query.where(Registration.id > after)
    ids = session.scalars(query.order_by(Registration.id).limit(limit).with_for_update(skip_locked=True))
    return [(registration_id, registration_id) for registration_id in ids]


def pending_notices(session: Session, *, now: datetime, limit: int = 200) -> list[int]:
    """Notices a lost task or an outage left behind (older than a couple of minutes)."""
    return list(session.scalars(select(Registration.id).where(Registration.buyer_notice == "pending",
                                                              Registration.created_at <= now - SWEEP_AFTER)
                                .order_by(Registration.id).limit(limit)))


def object_to_registration(session: Session, registration: Registration, *, reason: str | None,
                           now: datetime) -> RegistrationObjection:
    """The buyer says he did not ask to be registered: recorded once, shown to operations,
    flagged in the risk queue (once: a second objection is refused before it gets there)."""
    reason = (reason or "").strip()[:OBJECTION_MAX_LENGTH] or None
    objection = RegistrationObjection(registration_id=registration.id, buyer_id=registration.buyer_id,
                                      consultant_id=registration.consultant_id, reason=reason, created_at=now)
    try:
        with session.begin_nested():
            session.add(objection)
    except IntegrityError:
        raise AlreadyObjected() from None
    session.add(PrivacyEvent(buyer_id=registration.buyer_id, action="objected", actor_type="buyer",
                             actor_id=registration.buyer_id, detail=f"报备 #{registration.id}", created_at=now))
    session.flush()
    objections.flag_objection(session, registration, objection_id=objection.id, gave_reason=reason is not None,
                              now=now)
    return objection


def list_objections(session: Session, *, page: int = 1, per_page: int = 30) -> tuple[list[RegistrationObjection], int]:
    from ..db import paginate
    return paginate(session, select(RegistrationObjection), RegistrationObjection.created_at.desc(),
                    RegistrationObjection.id.desc(), page=page, per_page=per_page)
