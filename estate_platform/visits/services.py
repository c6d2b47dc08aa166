"""Visits (带看/到访): booking with a check-in code, confirmation, invalidation, attachments.

DESIGN §2: the consultant books a visit and gets a short check-in code; the
developer's site staff (案场) confirm it by the code, or the buyer confirms it
himself. Only a confirmed visit extends protection: the registration's own rules
(registrations.services.confirm_visit) move it and, in the visit → deal mode
(到访为王), end the competing registrations as ``lost``.

Choices made here:
* One scheduled visit per registration at a time (a partial unique index holds
  it under concurrency). A second booking is refused with ``visit_already_scheduled``
  and the existing visit's id; to reschedule, the consultant cancels it first.
  Nothing is replaced silently, so a code already given to the buyer never stops
  working behind his back.
* Confirming takes row locks in one order — the open registrations of the
  (project, buyer) by id, then the visit — so two staff confirming competing
  visits at once are serialised without deadlock; the loser sees the buyer bound.
* Attachments (the signed 来访确认单) are in ``attachments``.
* The buyer may confirm only from the visit's day (Asia/Shanghai) on: a visit
  planned for next week cannot be confirmed from home today. Site staff, who
  see the buyer in person, may confirm at any time while protection runs.
* The buyer must also prove he is at the sales office (issue 15 §2): the office's
  current code, shown only on the site staff's page (``presence``), rotating every ten
  minutes. Five wrong codes for one visit, and only site staff can confirm it.
"""
from __future__ import annotations

import io
import secrets
from datetime import date, datetime, time, timedelta, timezone

import segno
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..clock import SHANGHAI, local_date
from ..consultants.models import Consultant
from ..errors import Conflict, NotFound, ValidationFailed, on_constraint
from ..evidence import services as evidence
from ..evidence.services import SYSTEM, Actor
from ..identity.models import Buyer, StaffUser
from ..notifications.services import notify
from ..projects.models import Project
from ..registrations import services as registrations
from ..registrations.models import OPEN_STATUSES, Registration
from . import presence
from .models import Visit

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud and typed by hand
CODE_LENGTH = 6
CODE_ATTEMPTS = 8
CLOCK_SKEW = timedelta(minutes=5)
LIST_LIMIT = 500

STATUS_LABELS = {"scheduled": "待到访", "confirmed": "已到访", "invalid": "无效", "cancelled": "已取消"}
CONFIRMED_BY_LABELS = {"staff": "案场确认", "buyer": "客户确认"}


# --- refusals ---------------------------------------------------------------------

class VisitNotFound(NotFound):
    code, message = "visit_not_found", "带看记录不存在或核销码有误"


@on_constraint("uq_visits_scheduled_per_registration", "visits.registration_id")
class VisitAlreadyScheduled(Conflict):
    code, message = "visit_already_scheduled", "该报备已有待到访的预约，如需改期请先取消原预约"


class VisitClosed(Conflict):
    code, message = "visit_closed", "该带看已确认、已判无效或已取消"


class VisitNotDue(Conflict):
    code, message = "visit_not_due", "尚未到预约的到访日期，暂不能确认"


class PresenceNotProven(ValidationFailed):
    code = "presence_not_proven"
    keep_changes = True  # the wrong code is counted

    def __init__(self, attempts_left: int):
        message = f"售楼处到访确认码不正确，请输入售楼处现场显示的 6 位数字（还可尝试 {attempts_left} 次）"
        super().__init__({"office_code": [message]}, message)
        self.details["attempts_left"] = attempts_left


class PresenceAttemptsExhausted(Conflict):
    code, message = "presence_attempts_exhausted", "售楼处到访确认码错误次数过多，请由售楼处工作人员为您核销到访"


# --- pure helpers ------------------------------------------------------------------

def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(raw: str) -> str | None:
    """What the staff typed (lower case, spaces, dashes) as a code, or None if it cannot be one."""
    code = "".join((raw or "").split()).replace("-", "").upper()
    if len(code) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in code):
        return None
    return code


def qr_svg(code: str) -> bytes:
    """The check-in code as a QR code (SVG) for the site staff's scanner."""
    buffer = io.BytesIO()
    segno.make_qr(code, error="m").save(buffer, kind="svg", scale=8, border=2, xmldecl=True,
                                        title=f"核销码 {code}")
    return buffer.getvalue()


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=SHANGHAI).astimezone(timezone.utc)
    return start, start + timedelta(days=1)


# --- booking ------------------------------------------------------------------------

def _require_open(registration: Registration, now: datetime) -> None:
    """Open and still protected: the expiry task may lag, the clock does not."""
    if registration.status not in OPEN_STATUSES or registration.protected_until <= now:
        raise registrations.RegistrationClosed()


def _scheduled_visit(session: Session, registration_id: int) -> Visit | None:
    return session.scalar(select(Visit).where(Visit.registration_id == registration_id,
                                              Visit.status == "scheduled"))


def book_visit(session: Session, consultant: Consultant, registration_id: int, scheduled_at: datetime, *,
               now: datetime) -> Visit:
    """Book a visit for one of the consultant's open registrations; returns it with its code.
    The caller has already checked the consultant may operate."""
    registration = registrations.own_registration(session, consultant.id, registration_id)
    _require_open(registration, now)
    if scheduled_at < now - CLOCK_SKEW:
        raise ValidationFailed({"scheduled_at": ["预约到访时间不能早于现在"]})
    if scheduled_at > registration.protected_until:
        until = registration.protected_until.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
        raise ValidationFailed({"scheduled_at": [f"预约到访时间不能晚于报备保护截止时间（{until}）"]})
    _refuse_if_scheduled(session, registration.id)

    for _ in range(CODE_ATTEMPTS):
        visit = Visit(registration_id=registration.id, scheduled_at=scheduled_at, check_in_code=new_code(),
                      status="scheduled", created_at=now)
        try:
            with session.begin_nested():
                session.add(visit)
        except IntegrityError:
            # Either a concurrent booking for this registration won, or the code was taken.
            _refuse_if_scheduled(session, registration.id)
            continue
        break
    else:  # pragma: no cover - 31**6 codes; eight collisions in a row means something else is wrong
        raise Conflict("暂时无法生成核销码，请重试")

    evidence.append(session, "visit", visit.id, "booked", Actor("consultant", consultant.id), now=now,
                    registration_id=registration.id, project_id=registration.project_id,
                    buyer_id=registration.buyer_id, consultant_id=consultant.id,
                    scheduled_at=scheduled_at.isoformat(), check_in_code=visit.check_in_code)
    return visit


def _refuse_if_scheduled(session: Session, registration_id: int) -> None:
    existing = _scheduled_visit(session, registration_id)
    if existing is not None:
        raise VisitAlreadyScheduled(details={"visit_id": existing.id,
                                             "scheduled_at": existing.scheduled_at.isoformat()})


def cancel_visit(session: Session, consultant: Consultant, visit_id: int, *, now: datetime) -> Visit:
    """The consultant withdraws a scheduled visit (to reschedule, or the buyer is not coming)."""
    visit = own_visit(session, consultant.id, visit_id)
    _lock_visit(session, visit.id)
    if visit.status != "scheduled":
        raise VisitClosed(details={"status": visit.status})
    visit.status = "cancelled"
    evidence.append(session, "visit", visit.id, "cancelled", Actor("consultant", consultant.id), now=now,
                    reason="cancelled_by_consultant")
    return visit


# --- confirming -----------------------------------------------------------------------

def confirm_by_code(session: Session, staff: StaffUser, code: str, *, now: datetime) -> Visit:
    """Site staff confirm the buyer is here (核销). Site staff reach only their developer's visits."""
    visit = staff_visit_by_code(session, staff, code)
    return _confirm(session, visit, Actor("staff", staff.id), now)


def confirm_by_buyer(session: Session, buyer: Buyer, visit_id: int, *, office_code: str | None, secret: str,
                     now: datetime) -> Visit:
    """The buyer confirms his own visit (H5 page), from the visit's day on, with the sales
    office's current code as proof that he is there."""
    visit = buyer_visit(session, buyer.id, visit_id)
    if local_date(now) < local_date(visit.scheduled_at):
        raise VisitNotDue(details={"scheduled_at": visit.scheduled_at.isoformat()})
    if visit.status == "scheduled":
        _prove_presence(session, visit, office_code, secret, now)
    return _confirm(session, visit, Actor("buyer", buyer.id), now)


def _prove_presence(session: Session, visit: Visit, office_code: str | None, secret: str, now: datetime) -> None:
    failures = session.scalar(select(Visit.presence_failures).where(Visit.id == visit.id))
    if failures >= presence.MAX_FAILURES:
        raise PresenceAttemptsExhausted()
    if presence.is_valid(secret, visit.registration.project_id, office_code, now):
        return
    session.execute(update(Visit).where(Visit.id == visit.id)
                    .values(presence_failures=Visit.presence_failures + 1))
    raise PresenceNotProven(attempts_left=max(presence.MAX_FAILURES - failures - 1, 0))


def presence_codes(session: Session, staff: StaffUser, *, secret: str,
                   now: datetime) -> list[tuple[Project, str, datetime]]:
    """The sales-office codes site staff show buyers, per project of their developer still
    cooperating: (project, code, when it turns). Platform roles are never at an office."""
    if staff.role != "site_staff":
        return []
    projects = session.scalars(select(Project).where(Project.developer_id == staff.developer_id,
                                                     Project.status != "ended").order_by(Project.name, Project.id))
    return [(project, *presence.current_code(secret, project.id, now)) for project in projects]


def _lock_visit(session: Session, visit_id: int) -> Visit:
    """Re-read the visit under a row lock (PostgreSQL; SQLite serialises writers anyway)."""
    return session.scalars(select(Visit).where(Visit.id == visit_id).with_for_update()
                           .execution_options(populate_existing=True)).one()


def _lock_contest(session: Session, registration: Registration) -> list[Registration]:
    """Lock the open registrations of this buyer at this project, always in id order."""
    return list(session.scalars(
        select(Registration).where(Registration.project_id == registration.project_id,
                                   Registration.buyer_id == registration.buyer_id,
                                   Registration.status.in_(OPEN_STATUSES))
        .order_by(Registration.id).with_for_update().execution_options(populate_existing=True)))


def _confirm(session: Session, visit: Visit, actor: Actor, now: datetime) -> Visit:
    registration = visit.registration
    contest = _lock_contest(session, registration)
    visit = _lock_visit(session, visit.id)
    session.refresh(registration)
    if registration.status == "lost":  # another consultant's visit was confirmed first (到访为王)
        raise registrations.BuyerAlreadyBound()
    if visit.status != "scheduled":
        raise VisitClosed(details={"status": visit.status})
    _require_open(registration, now)

    registrations.confirm_visit(session, registration, confirmed_at=now, actor=actor, now=now)
    visit.status = "confirmed"
    visit.confirmed_at = now
    visit.confirmed_by_type = actor.type
    visit.confirmed_by_id = actor.id
    session.flush()
    evidence.append(session, "visit", visit.id, "confirmed", actor, now=now, registration_id=registration.id,
                    binding=registration.binding, protected_until=registration.protected_until.isoformat())
    _cancel_visits_of_lost(session, [r for r in contest if r.id != registration.id], now)

    until = registration.protected_until.astimezone(SHANGHAI).strftime("%Y-%m-%d")
    notify(session, registration.consultant_id, "visit_confirmed",
           f"{registration.buyer_name} 已到访{registration.project.name}（{CONFIRMED_BY_LABELS[actor.type]}），"
           f"报备保护至 {until}", now=now, visit_id=visit.id, registration_id=registration.id)
    return visit


def _cancel_visits_of_lost(session: Session, others: list[Registration], now: datetime) -> None:
    """Competing registrations that just ended as lost: their booked visits cannot happen."""
    lost_ids = [r.id for r in others if r.status == "lost"]
    if not lost_ids:
        return
    for visit in session.scalars(select(Visit).where(Visit.registration_id.in_(lost_ids),
                                                     Visit.status == "scheduled")
                                 .order_by(Visit.id).with_for_update()
                                 .execution_options(populate_existing=True)).all():
        visit.status = "cancelled"
        evidence.append(session, "visit", visit.id, "cancelled", SYSTEM, now=now, reason="registration_lost")


def mark_invalid(session: Session, staff: StaffUser, *, reason: str | None, now: datetime,
                 visit_id: int | None = None, code: str | None = None) -> Visit:
    """Site staff judge a booked visit invalid (判为无效): the reason is mandatory and kept."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": ["请填写判为无效的原因"]})
    visit = staff_visit(session, staff, visit_id) if visit_id is not None else staff_visit_by_code(session, staff,
                                                                                                      code or "")
    visit = _lock_visit(session, visit.id)
    if visit.status != "scheduled":
        raise VisitClosed(details={"status": visit.status})
    visit.status = "invalid"
    visit.invalid_reason = reason
    session.flush()
    evidence.append(session, "visit", visit.id, "invalid", Actor("staff", staff.id), now=now, reason=reason)
    registration = visit.registration
    notify(session, registration.consultant_id, "visit_invalid",
           f"{registration.buyer_name} 在{registration.project.name}的带看被案场判为无效：{reason}", now=now,
           visit_id=visit.id, registration_id=registration.id)
    return visit


# --- reading --------------------------------------------------------------------------

def own_visit(session: Session, consultant_id: int, visit_id: int) -> Visit:
    """A consultant sees only visits of his own registrations; others look like they don't exist."""
    visit = session.get(Visit, visit_id)
    if visit is None or visit.registration.consultant_id != consultant_id:
        raise VisitNotFound()
    return visit


def own_visit_qr(session: Session, consultant_id: int, visit_id: int) -> bytes:
    return qr_svg(own_visit(session, consultant_id, visit_id).check_in_code)


def visits_of_registration(session: Session, consultant_id: int, registration_id: int) -> list[Visit]:
    registration = registrations.own_registration(session, consultant_id, registration_id)
    return list(session.scalars(select(Visit).where(Visit.registration_id == registration.id)
                                .order_by(Visit.created_at.desc(), Visit.id.desc())))


def _staff_may_see(staff: StaffUser, visit: Visit) -> bool:
    """Site staff work for one developer and reach only its projects; platform roles reach all."""
    return staff.role != "site_staff" or visit.registration.project.developer_id == staff.developer_id


def staff_visit(session: Session, staff: StaffUser, visit_id: int) -> Visit:
    visit = session.get(Visit, visit_id)
    if visit is None or not _staff_may_see(staff, visit):
        raise VisitNotFound()
    return visit


def staff_visit_by_code(session: Session, staff: StaffUser, raw_code: str) -> Visit:
    code = normalise_code(raw_code)
    visit = session.scalar(select(Visit).where(Visit.check_in_code == code)) if code else None
    if visit is None or not _staff_may_see(staff, visit):
        raise VisitNotFound()
    return visit


def visits_on(session: Session, staff: StaffUser, day: date | None, *, now: datetime,
              status: str | None = None) -> list[Visit]:
    """The visits booked for one Shanghai day (default: today): the site staff's developer's,
    or every developer's for platform roles."""
    start, end = local_day_bounds(day or local_date(now))
    query = (select(Visit).join(Registration, Registration.id == Visit.registration_id)
             .join(Project, Project.id == Registration.project_id)
             .where(Visit.scheduled_at >= start, Visit.scheduled_at < end))
    if staff.role == "site_staff":
        query = query.where(Project.developer_id == staff.developer_id)
    if status:
        query = query.where(Visit.status == status)
    return list(session.scalars(query.order_by(Visit.scheduled_at, Visit.id).limit(LIST_LIMIT)))


def buyer_visit(session: Session, buyer_id: int, visit_id: int) -> Visit:
    visit = session.get(Visit, visit_id)
    if visit is None or visit.registration.buyer_id != buyer_id:
        raise VisitNotFound()
    return visit


def buyer_scheduled_visits(session: Session, buyer_id: int) -> list[Visit]:
    """The buyer's visits still to confirm (their registrations still open)."""
    return list(session.scalars(
        select(Visit).join(Registration, Registration.id == Visit.registration_id)
        .where(Registration.buyer_id == buyer_id, Registration.status.in_(OPEN_STATUSES),
               Visit.status == "scheduled")
        .order_by(Visit.scheduled_at, Visit.id)))


def confirm_by_buyer_code(session: Session, buyer: Buyer, raw_code: str, *, office_code: str | None, secret: str,
                          now: datetime) -> Visit:
    """The buyer confirms on the H5 page with the check-in code his consultant gave him and
    the sales office's code. Only a visit of one of his own registrations matches; anything
    else is not found."""
    code = normalise_code(raw_code)
    visit = session.scalar(select(Visit).where(Visit.check_in_code == code)) if code else None
    if visit is None or visit.registration.buyer_id != buyer.id:
        raise VisitNotFound()
    return confirm_by_buyer(session, buyer, visit.id, office_code=office_code, secret=secret, now=now)
