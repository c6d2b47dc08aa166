"""Registering buyers (报备) and the life of a registration (DESIGN §2).

First valid registration wins: the partial unique index on binding
registrations is the guarantee under concurrency; the checks here give the
clear refusal. Every state change appends to the evidence chain. The statements of
``register`` (the request path, issue 16 §1) are built once in ``path``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..clock import SHANGHAI, start_of_local_day
from ..consultants.guard import TokenCaller
from ..consultants.models import Consultant
from ..crm.models import ClientCard, ClientTag
from ..db import paginate
from ..deals.models import Deal
from ..credit import rules as credit_rules
from ..errors import Conflict, NotFound, TooManyRequests, ValidationFailed
from ..evidence import services as evidence
from ..evidence.services import SYSTEM, Actor
from ..evidence.pseudonyms import buyer_facts
from ..identity.models import Buyer, new_buyer_key
from ..notifications.services import deliver_after_commit, notification_values, notify
from ..privacy.notices import queue_registration_notice
from ..phones import InvalidPhone, mask_phone, normalise_phone
from ..projects.models import Project
from ..projects.services import require_accepting
from ..risk.attempts import recording_refusals
from . import path, rules
from .models import OPEN_STATUSES, Registration
from .path import BuyerBrief, Registered


class AlreadyRegistered(Conflict):
    code, message = "already_registered", "该客户已在此楼盘被报备，保护期内不能重复报备"


class BuyerIsSelf(Conflict):
    code, message = "buyer_is_self", "不能报备自己的手机号"


class BuyerIsStaff(Conflict):
    code, message = "buyer_is_staff", "不能报备平台或案场工作人员"


class BuyerKnownToDeveloper(Conflict):
    code, message = "buyer_known_to_developer", "该客户已是案场老客户，不能报备"


class DailyLimitReached(Conflict):
    code, message = "daily_limit_reached", "该客户今日报备的楼盘数已达上限"


class ReregisterCooldown(Conflict):
    code, message = "reregister_cooldown", "该客户的报备刚过期，冷却期内不能重新报备"


class LowCreditDailyCap(TooManyRequests):
    """A rate limit on the caller, like the others: 429 with Retry-After (the next Shanghai day)."""
    code, message = "low_credit_daily_cap", "您的信用分偏低，今日在该楼盘的报备数量已达上限，请明天再试"


class RegistrationNotFound(NotFound):
    code, message = "registration_not_found", "报备不存在"


class RegistrationClosed(Conflict):
    code, message = "registration_closed", "该报备已结束"


class BuyerAlreadyBound(Conflict):
    code, message = "buyer_already_bound", "该客户已由其他顾问带看确认"


@dataclass
class NewRegistration:
    project_id: int
    buyer_name: str
    buyer_phone: str
    note: str | None = None
    expected_visit_at: datetime | None = None


def _validate(data: NewRegistration, now: datetime) -> str:
    errors: dict[str, list[str]] = {}
    phone = ""
    if not data.buyer_name.strip():
        errors["buyer_name"] = ["请填写客户姓名"]
    try:
        phone = normalise_phone(data.buyer_phone)
    except InvalidPhone:
        errors["buyer_phone"] = ["请输入有效的中国大陆手机号"]
    if data.expected_visit_at is not None and data.expected_visit_at < now - timedelta(hours=1):
        errors["expected_visit_at"] = ["预计到访时间不能早于现在"]
    if errors:
        raise ValidationFailed(errors)
    return phone


def binding_registration(session: Session, project_id: int, buyer_id: int) -> Registration | None:
    return session.scalar(select(Registration).where(Registration.project_id == project_id,
                                                     Registration.buyer_id == buyer_id,
                                                     Registration.binding.is_(True)))


def _refuse(situation: path.Situation, consultant: Consultant, phone: str, now: datetime, attempt) -> None:
    """The business rules, in their order (the first that fails is the refusal), on values
    already read: credit cap, own phone, staff, existing customer, already registered,
    the buyer's daily project limit, the re-registration cooldown."""
    project = situation.project
    require_accepting(project, now)
    if situation.consultant_today is not None:  # credit is low
        cap = project.daily_consultant_registration_cap_low_credit
        if situation.consultant_today >= cap:
            day_start = start_of_local_day(now)
            retry_after = max(1, int((day_start + timedelta(days=1) - now).total_seconds()))
            raise LowCreditDailyCap(details={"limit": cap, "score": consultant.rating,
                                             "threshold": credit_rules.LOW_CREDIT_THRESHOLD},
                                    retry_after=retry_after)
    if phone == consultant.phone:
        raise BuyerIsSelf()
    if situation.is_staff:
        raise BuyerIsStaff()
    if situation.known_to_developer:
        raise BuyerKnownToDeveloper()
    if situation.buyer_id is None:
        return  # a buyer never seen has no registration anywhere
    attempt.buyer_id = situation.buyer_id
    # Never say who holds the buyer: only until when.
    until = situation.bound_until or situation.own_open_until
    if until is not None:
        raise AlreadyRegistered(details={"protected_until": until.isoformat()})
    if situation.projects_today >= project.daily_buyer_project_limit:
        raise DailyLimitReached(details={"limit": project.daily_buyer_project_limit})
    hours = project.reregister_cooldown_hours
    if hours and situation.last_expired is not None and situation.last_expired > now - timedelta(hours=hours):
        available = situation.last_expired + timedelta(hours=hours)
        raise ReregisterCooldown(details={"available_at": available.isoformat()})


def _insert_or_nothing(session: Session, entity):
    """``INSERT … ON CONFLICT DO NOTHING``: the unique index decides a race without a savepoint."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(entity)


def buyer_for_phone(session: Session, phone: str, name: str, now: datetime) -> Buyer:
    """The buyer of this (normalised) phone, created on first sight; a concurrent request may create him first."""
    buyer = session.scalar(select(Buyer).where(Buyer.phone == phone))
    if buyer is None:
        buyer = _create_buyer(session, phone, name, now)
    return buyer


def _create_buyer(session: Session, phone: str, name: str, now: datetime) -> Buyer:
    buyer = session.scalar(_insert_or_nothing(session, Buyer).values(phone=phone, name=name, created_at=now)
                           .on_conflict_do_nothing(index_elements=["phone"]).returning(Buyer))
    if buyer is None:  # created by a concurrent request
        buyer = session.scalar(select(Buyer).where(Buyer.phone == phone))
    return buyer


def register(session: Session, consultant: Consultant | TokenCaller, data: NewRegistration, *, now: datetime,
             source_link_id: int | None = None, referrer_consultant_id: int | None = None,
             handoff_id: int | None = None, actor: Actor | None = None,
             phone_key: str | None = None) -> Registered:
    """Register a buyer for a project. ``consultant``: one already checked to operate
    (consultants.guard.require_operating; of him only ``id``, ``phone`` and ``rating`` are read),
    or on the request path the token's caller (``guard.TokenCaller``), whom the situation SELECT
    reads and ``guard.operating_brief`` checks before any rule (401/404/403 as ever).

    A refusal by a business rule is recorded in the attempt log (risk.attempts: one
    INSERT, kept although the request is refused); ``phone_key`` (the app secret) lets
    the log match attempts of one buyer it had not looked up yet.

    Statements (issue 16 §1): one SELECT reads the caller, the project and every check
    (``path.situation_of_caller``; on PostgreSQL it also takes the registration's id, and a new
    buyer's, from their sequences); on PostgreSQL one INSERT statement then writes the buyer (when
    new), the registration, the evidence record, the client card and the notification
    (``path._Statements._together``); then the commit: 3 statements, and on the wire only the
    two (``path.request_connection``: both run in autocommit, so no BEGIN and no COMMIT is sent).
    When that statement inserts nothing (a concurrent request created the buyer or registered him
    first: the unique indexes decided, no savepoint), and on SQLite, the step-by-step way: the buyer's INSERT (or the
    concurrent one read), the registration's ``INSERT … ON CONFLICT DO NOTHING RETURNING`` (nothing:
    refused with the winner's protection end), then the evidence record, the client card and
    the notification (one statement on PostgreSQL).
    The buyer's SMS notice and the consultant's message are outbox rows: the commit wakes the
    worker's drain (at most one broker message per process per window, ``db.after_commit_deliver``)."""
    phone = _validate(data, now)
    if isinstance(consultant, TokenCaller):
        situation = path.situation_of_caller(session, data.project_id, phone, consultant, now)
        consultant = situation.consultant
    else:
        situation = path.situation(session, data.project_id, phone, consultant, now)
    project = situation.project
    name = data.buyer_name.strip()
    connection = session.connection()
    statements = path.statements(connection)
    with recording_refusals(session, consultant_id=consultant.id, project_id=project.id, phone=phone,
                            phone_key=phone_key, now=now) as attempt:
        _refuse(situation, consultant, phone, now, attempt)
        protection = rules.on_registration(project.protection_mode, now,
                                           visit_window_hours=project.visit_window_hours,
                                           deal_window_hours=project.deal_window_hours)
        registration = Registered(
            id=0, project=project, buyer=BuyerBrief(0, phone), consultant_id=consultant.id, buyer_name=name,
            note=(data.note or "").strip() or None, expected_visit_at=data.expected_visit_at,
            binding=protection.binding, protection_mode=project.protection_mode,
            protected_until=protection.protected_until, source_link_id=source_link_id,
            referrer_consultant_id=referrer_consultant_id, handoff_id=handoff_id,
            buyer_notice="pending" if project.notify_buyer_on_registration else None,  # privacy.notices outbox
            created_at=now)
        values = {"project_id": project.id, "consultant_id": consultant.id, "buyer_name": name,
                  "note": registration.note, "expected_visit_at": registration.expected_visit_at,
                  "status": "reported", "binding": registration.binding,
                  "protection_mode": registration.protection_mode, "protected_until": registration.protected_until,
                  "source_link_id": source_link_id, "referrer_consultant_id": referrer_consultant_id,
                  "handoff_id": handoff_id, "buyer_notice": registration.buyer_notice, "created_at": now,
                  "updated_at": now}
        actor = actor or Actor("consultant", consultant.id)

        def trailing(registration_id: int, buyer_id: int, buyer_key: str) -> dict:
            """The evidence record's, the client card's and the notification's parameters."""
            record = evidence.record_values(
                "registration", registration_id, "registered", actor, now=now, project_id=project.id,
                buyer_id=buyer_id, consultant_id=consultant.id, **buyer_facts(buyer_key, phone, name),
                mode=project.protection_mode, binding=protection.binding,
                protected_until=protection.protected_until.isoformat(), source_link_id=source_link_id,
                referrer_consultant_id=referrer_consultant_id, handoff_id=handoff_id)
            until_text = protection.protected_until.astimezone(SHANGHAI).strftime("%Y-%m-%d")
            notification = notification_values(
                consultant.id, "registration_accepted",
                f"{name}（{mask_phone(phone)}）已报备至{project.name}，保护至 {until_text}", now=now,
                registration_id=registration_id)
            card = {"consultant_id": consultant.id, "buyer_id": buyer_id, "display_name": name, "created_at": now,
                    "updated_at": now}
            return {**path.prefixed("e", record), **path.prefixed("c", card), **path.prefixed("n", notification)}

        buyer_id, buyer_key = situation.buyer_id, situation.buyer_key
        new_buyer = buyer_id is None
        registration_id = notification_id = None
        if statements.together is not None and situation.registration_id is not None:
            # PostgreSQL, ids taken by the situation SELECT: everything in one statement.
            registration_id = situation.registration_id
            if new_buyer:
                buyer_id, buyer_key = situation.new_buyer_id, new_buyer_key()
            params = {**path.prefixed("r", {"id": registration_id, "buyer_id": buyer_id, **values}),
                      **trailing(registration_id, buyer_id, buyer_key)}
            if new_buyer:
                params.update(path.prefixed("b", {"id": buyer_id, "phone": phone, "name": name, "created_at": now,
                                                  "evidence_key": buyer_key}))
            notification_id = statements.together[new_buyer].scalar(connection, params)
            if notification_id is None:  # a race lost on the buyer's or the registration's index
                buyer_id, buyer_key, registration_id = situation.buyer_id, situation.buyer_key, None
        if notification_id is None:
            path.begin_steps(connection)
            if buyer_id is None:
                created = statements.buyer.first(connection, {
                    "phone": phone, "name": name, "created_at": now, "evidence_key": new_buyer_key()})
                if created is None:  # created by a concurrent request
                    created = connection.execute(select(Buyer.id, Buyer.evidence_key)
                                                 .where(Buyer.phone == phone)).first()
                buyer_id, buyer_key = created
            attempt.buyer_id = buyer_id
            registration_id = statements.registration.scalar(connection, {"buyer_id": buyer_id, **values})
            if registration_id is None:
                # Another request registered the same buyer in the same instant: the index decided.
                holder = binding_registration(session, project.id, buyer_id) or session.scalar(
                    select(Registration).where(Registration.project_id == project.id,
                                               Registration.buyer_id == buyer_id,
                                               Registration.consultant_id == consultant.id,
                                               Registration.status.in_(OPEN_STATUSES)))
                until = holder.protected_until.isoformat() if holder else None
                raise AlreadyRegistered(details={"protected_until": until})
    if notification_id is None:
        notification_id = statements.write_trailing(connection, trailing(registration_id, buyer_id, buyer_key))
    registration = replace(registration, id=registration_id, buyer=BuyerBrief(buyer_id, phone))
    deliver_after_commit(session, notification_id)
    if registration.buyer_notice == "pending":
        queue_registration_notice(session, registration_id)
    return registration


def _end(session: Session, registration: Registration, status: str, reason: str, actor: Actor, now: datetime) -> None:
    previous = registration.status
    registration.status = status
    registration.binding = False
    registration.ended_at = now
    registration.end_reason = reason
    registration.updated_at = now
    session.flush()
    evidence.append(session, "registration", registration.id, status, actor, now=now, from_status=previous,
                    reason=reason)


def confirm_visit(session: Session, registration: Registration, *, confirmed_at: datetime, actor: Actor,
                  now: datetime) -> Registration:
    """A confirmed visit binds the buyer and starts the deal window. In the visit → deal
    mode it decides between competing registrations: the others end as ``lost``."""
    if registration.status not in OPEN_STATUSES:
        raise RegistrationClosed()
    project = registration.project
    protection = rules.on_visit_confirmed(registration.protection_mode, registration.protected_until, confirmed_at,
                                          deal_window_hours=project.deal_window_hours)
    if not registration.binding:
        holder = binding_registration(session, registration.project_id, registration.buyer_id)
        if holder is not None and holder.id != registration.id:
            raise BuyerAlreadyBound()
    previous = registration.status
    registration.status = "visited"
    registration.binding = protection.binding
    registration.protected_until = protection.protected_until
    registration.updated_at = now
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise BuyerAlreadyBound() from None
    evidence.append(session, "registration", registration.id, "visit_confirmed", actor, now=now,
                    from_status=previous, confirmed_at=confirmed_at.isoformat(),
                    protected_until=protection.protected_until.isoformat())
    competitors = session.scalars(select(Registration).where(
        Registration.project_id == registration.project_id, Registration.buyer_id == registration.buyer_id,
        Registration.id != registration.id, Registration.status.in_(OPEN_STATUSES))).all()
    for other in competitors:
        _end(session, other, "lost", "other_consultant_visit_confirmed", SYSTEM, now)
        notify(session, other.consultant_id, "registration_lost",
               f"{other.buyer_name} 已由其他顾问带看确认（{project.name}），您的报备已结束", now=now,
               registration_id=other.id)
    return registration


def _has_live_deal():
    """A registration whose buyer has subscribed keeps him: protection no longer runs out."""
    return select(Deal.id).where(Deal.registration_id == Registration.id, Deal.stage != "cancelled").exists()


def expire_due(session: Session, *, now: datetime, limit: int = 500) -> int:
    """End registrations whose protection has passed; free their buyers. Safe to run twice."""
    due = session.scalars(select(Registration).where(Registration.status.in_(OPEN_STATUSES),
                                                     Registration.protected_until <= now, ~_has_live_deal())
                          .order_by(Registration.protected_until).limit(limit)).all()
    for registration in due:
        _end(session, registration, "expired", "protection_expired", SYSTEM, now)
        notify(session, registration.consultant_id, "registration_expired",
               f"{registration.buyer_name} 在{registration.project.name}的报备保护已到期，客户已释放", now=now,
               registration_id=registration.id)
    return len(due)


def remind_expiring(session: Session, *, now: datetime, limit: int = 500) -> int:
    """Remind consultants a set time before protection ends (per project). Reminds once."""
    candidates = session.scalars(
        select(Registration).join(Project, Project.id == Registration.project_id)
        .where(Registration.status.in_(OPEN_STATUSES), Registration.reminded_at.is_(None), ~_has_live_deal(),
               Registration.protected_until > now, Project.remind_before_hours > 0)
        .order_by(Registration.protected_until).limit(limit * 4)).all()
    sent = 0
    for registration in candidates:
        if registration.protected_until - timedelta(hours=registration.project.remind_before_hours) > now:
            continue
        registration.reminded_at = now
        notify(session, registration.consultant_id, "registration_expiring",
               f"{registration.buyer_name} 在{registration.project.name}的报备保护将于 "
               f"{registration.protected_until.astimezone(SHANGHAI):%Y-%m-%d %H:%M} 到期", now=now,
               registration_id=registration.id)
        sent += 1
        if sent >= limit:
            break
    return sent


# --- reading ---------------------------------------------------------------------

def own_registration(session: Session, consultant_id: int, registration_id: int) -> Registration:
    """A consultant sees only his own registrations; others look like they don't exist."""
    registration = session.get(Registration, registration_id)
    if registration is None or registration.consultant_id != consultant_id:
        raise RegistrationNotFound()
    return registration


def list_own(session: Session, consultant_id: int, *, status: str | None = None, project_id: int | None = None,
             tier: str | None = None, tag: str | None = None, page: int = 1,
             per_page: int = 20) -> tuple[list[Registration], int]:
    query = select(Registration).where(Registration.consultant_id == consultant_id)
    if status:
        query = query.where(Registration.status == status)
    if project_id:
        query = query.where(Registration.project_id == project_id)
    if tier or tag:
        card = select(ClientCard.buyer_id).where(ClientCard.consultant_id == consultant_id)
        if tier:
            card = card.where(ClientCard.tier == tier)
        if tag:
            card = card.where(ClientCard.id.in_(select(ClientTag.card_id).where(ClientTag.value == tag)))
        query = query.where(Registration.buyer_id.in_(card))
    return paginate(session, query, Registration.created_at.desc(), Registration.id.desc(), page=page,
                    per_page=per_page)


def phone_for_site_staff(registration: Registration) -> str:
    """What the developer's site staff see: the project's disclosure rule (前三后四 …)."""
    return mask_phone(registration.buyer.phone, registration.project.phone_disclosure)


def list_all(session: Session, *, status: str | None = None, project_id: int | None = None,
             consultant_id: int | None = None, page: int = 1, per_page: int = 30) -> tuple[list[Registration], int]:
    """Every registration, for operations (phones are masked by the caller's view)."""
    query = select(Registration)
    if status:
        query = query.where(Registration.status == status)
    if project_id:
        query = query.where(Registration.project_id == project_id)
    if consultant_id:
        query = query.where(Registration.consultant_id == consultant_id)
    return paginate(session, query, Registration.created_at.desc(), Registration.id.desc(), page=page,
                    per_page=per_page)


def get_registration(session: Session, registration_id: int) -> Registration:
    registration = session.get(Registration, registration_id)
    if registration is None:
        raise RegistrationNotFound()
    return registration
