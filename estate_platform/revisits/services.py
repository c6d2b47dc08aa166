"""Revisits (回访, DESIGN §4, §5a): the scheduler that creates the calls, the queue
operations work, and the outcomes they record.

* ``schedule`` creates one task per subject and kind (unique (kind, subject_id), inserted
  with ON CONFLICT DO NOTHING), in chunks over indexed queries, skipping buyers who asked
  not to be called. The hourly beat task and the queue page's button both run it; a
  second run creates nothing.
* A caller ``claim``\\ s a task (an atomic UPDATE: nobody else's unexpired claim may stand),
  reads the script, ``reveal_phone``\\ s the full number (logged in ``phone_reveals``) and
  ``record_outcome``\\ s what the buyer said, which needs the claim and releases it.
* Every outcome is a ``RevisitCall`` and an evidence-chain event of the subject (visit,
  registration or deal), with the masked phone only. An answer that contradicts the
  platform's records (``rules.contradiction``) opens one dispute through ``open_dispute``
  (source ``revisit``, key ``revisit:<id>``); a confirmed visit earns the consultant's
  credit. Nothing is committed here: the caller's unit of work commits.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..clock import SHANGHAI, end_of_local_day, local_date, start_of_local_day
from ..credit import services as credit
from ..db import bulk_insert, paginate
from ..deals.models import Deal
from ..disputes.services import open_dispute
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..evidence import services as evidence
from ..evidence.services import Actor
from ..identity.models import StaffUser
from ..phones import mask_phone, national
from ..registrations.models import OPEN_STATUSES, PhoneReveal, Registration
from ..visits.models import Visit
from . import rules
from .models import Revisit, RevisitCall, RevisitOptOut

REVEAL_ROLES = ("admin", "operations")  # the roles that must call buyers (DESIGN §7.6)
DUE_FILTERS = ("today", "overdue", "all")
EVIDENCE_SUBJECTS = {"after_visit": "visit", "before_expiry": "registration", "after_expiry": "registration",
                     "deal_sample": "deal"}


class RevisitNotFound(NotFound):
    code, message = "revisit_not_found", "回访任务不存在"


class RevisitClaimed(Conflict):
    code, message = "revisit_claimed", "该回访任务已被其他同事领取，请选择其他任务"


class RevisitNotClaimed(Conflict):
    code, message = "revisit_not_claimed", "请先领取该回访任务（领取后 30 分钟内有效）"


class RevisitClosed(Conflict):
    code, message = "revisit_closed", "该回访任务已结束"


class RevisitNotDue(Conflict):
    code, message = "revisit_not_due", "该回访任务尚未到期，请在到期后再拨打"


class RevealForbidden(Forbidden):
    code, message = "phone_reveal_forbidden", "您的角色不能查看客户完整手机号"


# --- creating the tasks -------------------------------------------------------------------------

def _no_task(kind: str, subject):
    return ~exists(select(Revisit.id).where(Revisit.kind == kind, Revisit.subject_id == subject))


def _not_opted_out(buyer):
    return ~exists(select(RevisitOptOut.id).where(RevisitOptOut.buyer_id == buyer))


def _live_deal_of_buyer():
    """A live platform deal for the registration's buyer at its project (by anyone)."""
    return exists(select(Deal.id).where(Deal.project_id == Registration.project_id,
                                        Deal.buyer_id == Registration.buyer_id, Deal.stage != "cancelled"))


def _bound_the_buyer():
    """The registration protected its buyer: it bound him from registering, or (到访为王) a visit was confirmed."""
    return or_(Registration.protection_mode != "visit_deal",
               exists(select(Visit.id).where(Visit.registration_id == Registration.id, Visit.status == "confirmed")))


REGISTRATION_COLUMNS = (Registration.id, Registration.project_id, Registration.buyer_id, Registration.consultant_id,
                        Registration.protected_until)


def _after_visit(session: Session, *, now, settings, after_id, limit):
    rows = session.execute(
        select(Visit.id, Registration.project_id, Registration.buyer_id, Registration.id, Registration.consultant_id,
               Visit.confirmed_at)
        .join(Registration, Registration.id == Visit.registration_id)
        .where(Visit.status == "confirmed", Visit.confirmed_at >= now - timedelta(days=settings.lookback_days),
               Visit.confirmed_at <= now, Visit.id > after_id, _no_task("after_visit", Visit.id),
               _not_opted_out(Registration.buyer_id))
        .order_by(Visit.id).limit(limit)).all()
    return rows, [dict(subject_id=v, project_id=p, buyer_id=b, registration_id=r, visit_id=v, deal_id=None,
                       consultant_id=c, due_at=rules.due_after_visit(at)) for v, p, b, r, c, at in rows]


def _before_expiry(session: Session, *, now, settings, after_id, limit):
    days = settings.before_expiry_days
    rows = session.execute(
        select(*REGISTRATION_COLUMNS)
        .where(Registration.status.in_(OPEN_STATUSES), Registration.protected_until > now,
               Registration.protected_until <= now + timedelta(days=days), Registration.binding.is_(True),
               Registration.id > after_id, ~_live_deal_of_buyer(), _no_task("before_expiry", Registration.id),
               _not_opted_out(Registration.buyer_id))
        .order_by(Registration.id).limit(limit)).all()
    return rows, [dict(subject_id=r, project_id=p, buyer_id=b, registration_id=r, visit_id=None, deal_id=None,
                       consultant_id=c, due_at=rules.due_before_expiry(until, days)) for r, p, b, c, until in rows]


def _after_expiry(session: Session, *, now, settings, after_id, limit):
    days = settings.after_expiry_days
    rows = session.execute(
        select(*REGISTRATION_COLUMNS)
        .where(Registration.status == "expired", Registration.protected_until <= now - timedelta(days=days),
               Registration.protected_until > now - timedelta(days=days + settings.lookback_days),
               Registration.id > after_id, _bound_the_buyer(), ~_live_deal_of_buyer(),
               _no_task("after_expiry", Registration.id), _not_opted_out(Registration.buyer_id))
        .order_by(Registration.id).limit(limit)).all()
    return rows, [dict(subject_id=r, project_id=p, buyer_id=b, registration_id=r, visit_id=None, deal_id=None,
                       consultant_id=c, due_at=rules.due_after_expiry(until, days)) for r, p, b, c, until in rows]


def _deal_sample(session: Session, *, now, settings, after_id, limit, sample_key: bytes):
    if settings.deal_sample_bps == 0:
        return [], []
    rows = session.execute(
        select(Deal.id, Deal.project_id, Deal.buyer_id, Deal.registration_id, Deal.consultant_id, Deal.created_at)
        .where(Deal.stage != "cancelled", Deal.created_at >= now - timedelta(days=settings.lookback_days),
               Deal.created_at <= now, Deal.id > after_id, _no_task("deal_sample", Deal.id),
               _not_opted_out(Deal.buyer_id))
        .order_by(Deal.id).limit(limit)).all()
    return rows, [dict(subject_id=d, project_id=p, buyer_id=b, registration_id=r, visit_id=None, deal_id=d,
                       consultant_id=c, due_at=rules.due_deal_sample(at)) for d, p, b, r, c, at in rows
                  if rules.sampled(d, settings.deal_sample_bps, sample_key)]


def schedule(session: Session, *, now: datetime, settings: rules.Settings, sample_key: bytes, chunk_size: int = 500,
             after_chunk: Callable[[], None] | None = None) -> dict[str, int]:
    """Create the revisit tasks that are due to exist; ``{kind: tasks created}``. Safe to run
    twice or concurrently (the unique (kind, subject_id) decides); ``after_chunk`` lets a
    batch commit as it goes."""
    finders = {"after_visit": _after_visit, "before_expiry": _before_expiry, "after_expiry": _after_expiry,
               "deal_sample": lambda s, **kw: _deal_sample(s, sample_key=sample_key, **kw)}
    created = {}
    table = Revisit.__table__
    for kind, finder in finders.items():
        created[kind] = 0
        after_id = 0
        while True:
            rows, tasks = finder(session, now=now, settings=settings, after_id=after_id, limit=chunk_size)
            if not rows:
                break
            after_id = rows[-1][0]
            inserted = bulk_insert(session, table, [dict(kind=kind, status="open", attempts=0, created_at=now,
                                                         updated_at=now, **task) for task in tasks],
                                   conflict_do_nothing=("kind", "subject_id"), returning=("id",))
            created[kind] += len(inserted)
            if after_chunk is not None:
                after_chunk()
            if len(rows) < chunk_size:
                break
    return created


# --- reading --------------------------------------------------------------------------------------

def get_revisit(session: Session, revisit_id: int) -> Revisit:
    revisit = session.get(Revisit, revisit_id)
    if revisit is None:
        raise RevisitNotFound()
    return revisit


def list_revisits(session: Session, *, now: datetime, project_id: int | None = None, kind: str | None = None,
                  due: str = "all", status: str | None = None, outcome: str | None = None, page: int = 1,
                  per_page: int = 30) -> tuple[list[Revisit], int]:
    """The queue: ``due`` is ``today`` (due by the end of today, overdue included), ``overdue``
    (due before today) or ``all``. Open tasks come soonest-due first, closed ones latest first."""
    query = select(Revisit)
    if project_id:
        query = query.where(Revisit.project_id == project_id)
    if kind:
        query = query.where(Revisit.kind == kind)
    if status:
        query = query.where(Revisit.status == status)
    if outcome:
        query = query.where(Revisit.outcome == outcome)
    if due == "today":
        query = query.where(Revisit.due_at <= end_of_local_day(local_date(now)))
    elif due == "overdue":
        query = query.where(Revisit.due_at < start_of_local_day(now))
    order = (Revisit.closed_at.desc(), Revisit.id.desc()) if status == "closed" else (Revisit.due_at, Revisit.id)
    return paginate(session, query, *order, page=page, per_page=per_page)


def calls_of(session: Session, revisit_id: int) -> list[RevisitCall]:
    return list(session.scalars(select(RevisitCall).where(RevisitCall.revisit_id == revisit_id)
                                .order_by(RevisitCall.id)))


def masked_phone(revisit: Revisit) -> str:
    return mask_phone(revisit.buyer.phone)


def holds_claim(revisit: Revisit, staff: StaffUser, now: datetime) -> bool:
    return (revisit.status == "open" and revisit.claimed_by_id == staff.id and revisit.claimed_until is not None
            and revisit.claimed_until > now)


def claim_active(revisit: Revisit, now: datetime) -> bool:
    return revisit.claimed_until is not None and revisit.claimed_until > now


# --- claiming ---------------------------------------------------------------------------------------

def _reload(session: Session, revisit_id: int) -> Revisit | None:
    return session.scalar(select(Revisit).where(Revisit.id == revisit_id).execution_options(populate_existing=True))


def claim(session: Session, staff: StaffUser, revisit_id: int, *, now: datetime, settings: rules.Settings) -> Revisit:
    """Take the task for ``claim_minutes`` (renewing one's own claim). One caller at a time: the
    UPDATE succeeds only where nobody else holds an unexpired claim, so of two callers at the
    same instant exactly one gets it (the row lock makes the second re-read the claim)."""
    result = session.execute(
        update(Revisit)
        .where(Revisit.id == revisit_id, Revisit.status == "open", Revisit.due_at <= now,
               or_(Revisit.claimed_until.is_(None), Revisit.claimed_until <= now, Revisit.claimed_by_id == staff.id))
        .values(claimed_by_id=staff.id, claimed_until=now + timedelta(minutes=settings.claim_minutes), updated_at=now)
        .execution_options(synchronize_session=False))
    revisit = _reload(session, revisit_id)
    if result.rowcount == 1:
        return revisit
    if revisit is None:
        raise RevisitNotFound()
    if revisit.status == "closed":
        raise RevisitClosed(details={"outcome": revisit.outcome})
    if revisit.due_at > now:
        raise RevisitNotDue(details={"due_at": revisit.due_at.isoformat()})
    raise RevisitClaimed(details={"claimed_until": revisit.claimed_until.isoformat(),
                                  "claimed_by": revisit.claimed_by.display_name})


def claim_next(session: Session, staff: StaffUser, *, now: datetime, settings: rules.Settings,
               project_id: int | None = None, kind: str | None = None) -> Revisit | None:
    """The caller's current task, else the soonest-due task nobody holds (None: the queue is empty)."""
    mine = session.scalar(select(Revisit).where(Revisit.claimed_by_id == staff.id, Revisit.status == "open",
                                                Revisit.claimed_until > now).order_by(Revisit.due_at).limit(1))
    if mine is not None:
        return mine
    query = select(Revisit.id).where(Revisit.status == "open", Revisit.due_at <= now,
                                     or_(Revisit.claimed_until.is_(None), Revisit.claimed_until <= now))
    if project_id:
        query = query.where(Revisit.project_id == project_id)
    if kind:
        query = query.where(Revisit.kind == kind)
    for revisit_id in session.scalars(query.order_by(Revisit.due_at, Revisit.id).limit(20)):
        try:
            return claim(session, staff, revisit_id, now=now, settings=settings)
        except (RevisitClaimed, RevisitClosed, RevisitNotDue):
            continue  # someone else was quicker
    return None


def release(session: Session, staff: StaffUser, revisit_id: int, *, now: datetime) -> Revisit:
    """Give the task back to the queue without a call."""
    result = session.execute(
        update(Revisit).where(Revisit.id == revisit_id, Revisit.status == "open", Revisit.claimed_by_id == staff.id,
                              Revisit.claimed_until > now)
        .values(claimed_by_id=None, claimed_until=None, updated_at=now).execution_options(synchronize_session=False))
    revisit = _reload(session, revisit_id)
    if revisit is None:
        raise RevisitNotFound()
    if result.rowcount == 1:
        return revisit
    if revisit.status == "closed":
        raise RevisitClosed(details={"outcome": revisit.outcome})
    raise RevisitNotClaimed()


def _locked(session: Session, revisit_id: int) -> Revisit:
    """The row, locked for this transaction (SELECT … FOR UPDATE on PostgreSQL)."""
    revisit = session.scalar(select(Revisit).where(Revisit.id == revisit_id).with_for_update()
                             .execution_options(populate_existing=True))
    if revisit is None:
        raise RevisitNotFound()
    return revisit


def _require_claim(revisit: Revisit, staff: StaffUser, now: datetime) -> None:
    if revisit.status == "closed":
        raise RevisitClosed(details={"outcome": revisit.outcome})
    if not holds_claim(revisit, staff, now):
        raise RevisitNotClaimed()


def reveal_phone(session: Session, staff: StaffUser, revisit_id: int, *, now: datetime) -> str:
    """The buyer's full number, for the caller who holds the task; every read is logged."""
    if staff.role not in REVEAL_ROLES:
        raise RevealForbidden()
    revisit = get_revisit(session, revisit_id)
    _require_claim(revisit, staff, now)
    session.add(PhoneReveal(staff_user_id=staff.id, buyer_id=revisit.buyer_id, registration_id=revisit.registration_id,
                            purpose=f"回访 #{revisit.id}（{rules.KIND_LABELS[revisit.kind]}）拨打客户电话",
                            created_at=now))
    return national(revisit.buyer.phone)


# --- outcomes ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    outcome: str
    agency: str | None = None
    bought_on: date | None = None
    note: str | None = None


def _checked(revisit: Revisit, answer: Answer, today: date) -> Answer:
    """Every bad field at once (STYLE §3)."""
    errors: dict[str, list[str]] = {}
    if answer.outcome not in rules.OUTCOMES:
        errors["outcome"] = [f"回访结果须为以下之一：{'、'.join(rules.OUTCOMES)}"]
    agency = (answer.agency or "").strip() or None
    if answer.outcome == "bought_other_agent":
        if agency is None:
            errors["agency"] = ["请填写客户购房所通过的中介或经纪公司"]
        elif len(agency) > rules.AGENCY_MAX:
            errors["agency"] = [f"中介名称不能超过 {rules.AGENCY_MAX} 个字"]
    else:
        agency = None
    bought_on = answer.bought_on if answer.outcome in rules.BOUGHT else None
    if bought_on is not None and bought_on > today:
        errors["bought_on"] = ["购买日期不能晚于今天"]
    elif bought_on is None and rules.needs_bought_on(revisit.kind, answer.outcome):
        errors["bought_on"] = ["保护期满后的回访须填写客户的认购日期，以判断是否在保护期内成交"]
    note = (answer.note or "").strip() or None
    if note is not None and len(note) > rules.NOTE_MAX:
        errors["note"] = [f"备注不能超过 {rules.NOTE_MAX} 个字"]
    if errors:
        raise ValidationFailed(errors)
    if bought_on is None and answer.outcome in rules.BOUGHT:
        bought_on = today  # "I have bought" before protection ended: bought by now
    return Answer(answer.outcome, agency, bought_on, note)


def record_of(session: Session, revisit: Revisit) -> rules.Record:
    """What the platform's records say about the buyer of this task, for ``rules.contradiction``."""
    registration = revisit.registration
    first_visit_at = session.scalar(select(func.min(Visit.confirmed_at)).where(
        Visit.registration_id == registration.id, Visit.status == "confirmed"))
    live_deal = session.scalar(select(Deal.id).where(Deal.project_id == revisit.project_id,
                                                     Deal.buyer_id == revisit.buyer_id, Deal.stage != "cancelled")
                               .limit(1))
    protected_from, protected_until = rules.protection_days(
        registration.created_at, registration.protection_mode, first_visit_at, registration.protected_until,
        registration.ended_at, registration.status)
    served_deal = revisit.deal is not None and revisit.deal.stage != "cancelled"
    return rules.Record(has_confirmed_visit=first_visit_at is not None, has_live_deal=live_deal is not None,
                        protected_from=protected_from, protected_until=protected_until, served_deal=served_deal)


def _close(revisit: Revisit, outcome: str, staff: StaffUser, now: datetime) -> None:
    revisit.status = "closed"
    revisit.outcome = outcome
    revisit.closed_by_id = staff.id
    revisit.closed_at = now
    revisit.claimed_by_id = None
    revisit.claimed_until = None
    revisit.updated_at = now


def _evidence(session: Session, revisit: Revisit, call: RevisitCall, staff: StaffUser, now: datetime) -> None:
    """The outcome as an event of the subject's chain: the masked phone only, never a name or a full number."""
    subject_type = EVIDENCE_SUBJECTS[revisit.kind]
    subject_id = {"visit": revisit.visit_id, "registration": revisit.registration_id,
                  "deal": revisit.deal_id}[subject_type]
    payload = dict(revisit_id=revisit.id, kind=revisit.kind, outcome=call.outcome, buyer_phone=masked_phone(revisit),
                   closed=revisit.status == "closed")
    if call.attempt is not None:
        payload["attempt"] = call.attempt
    if revisit.status == "open":
        payload["next_due_at"] = revisit.due_at.isoformat()
    if call.agency:
        payload["agency"] = call.agency
    if call.bought_on:
        payload["bought_on"] = call.bought_on.isoformat()
    if revisit.dispute_id:
        payload["dispute_id"] = revisit.dispute_id
    evidence.append(session, subject_type, subject_id, "revisit_outcome", Actor("staff", staff.id), now=now,
                    **payload)


def _dispute(session: Session, revisit: Revisit, finding: rules.Finding, answer: Answer, staff: StaffUser,
             now: datetime):
    registration = revisit.registration
    kind_label = rules.KIND_LABELS[revisit.kind]
    until = registration.protected_until.astimezone(SHANGHAI).strftime("%Y-%m-%d")
    if finding.kind == "fake_visit":
        record = "成交记录" if revisit.kind == "deal_sample" else "到访确认记录"
        subject = "虚假带看：回访中客户否认顾问陪同到访"
        summary = (f"回访 #{revisit.id}（{kind_label}）中，客户否认由顾问 {revisit.consultant.name} 陪同到访"
                   f"{revisit.project.name}，与平台的{record}不符。")
    else:
        seller = "直接向开发商（售楼处）购买，未经任何中介" if finding.kind == "jumped" else f"通过「{answer.agency}」购买"
        subject = f"{finding.label}：回访中客户称{'已直接向开发商购买' if finding.kind == 'jumped' else '已通过其他中介购买'}"
        summary = (f"回访 #{revisit.id}（{kind_label}）中，客户称于 {answer.bought_on.isoformat()} {seller}"
                   f"{revisit.project.name}；该客户由顾问 {registration.consultant.name} 报备，保护期至 {until}，"
                   f"平台无该客户的成交记录。")
    if answer.note:
        summary += f"\n回访备注：{answer.note}"
    dispute, _ = open_dispute(
        session, source="revisit", source_key=f"revisit:{revisit.id}", project_id=revisit.project_id,
        buyer_id=revisit.buyer_id, registration_id=revisit.registration_id,
        deal_id=revisit.deal_id if finding.respondent == "consultant" else None, respondent_kind=finding.respondent,
        respondent_consultant_id=revisit.consultant_id if finding.respondent == "consultant" else None,
        protected_consultant_id=registration.consultant_id if finding.respondent == "developer" else None,
        subject=subject, summary=summary, opened_by_staff_id=staff.id, now=now)
    return dispute


def _opt_out(session: Session, revisit: Revisit, staff: StaffUser, now: datetime) -> None:
    """Remember the buyer's wish and close his other open tasks (each call an evidence event)."""
    if session.scalar(select(RevisitOptOut.id).where(RevisitOptOut.buyer_id == revisit.buyer_id)) is None:
        try:
            with session.begin_nested():
                session.add(RevisitOptOut(buyer_id=revisit.buyer_id, revisit_id=revisit.id, staff_user_id=staff.id,
                                          created_at=now))
        except IntegrityError:
            pass  # recorded by a concurrent call: the buyer is opted out either way
    others = session.scalars(select(Revisit).where(Revisit.buyer_id == revisit.buyer_id, Revisit.status == "open",
                                                   Revisit.id != revisit.id)
                             .order_by(Revisit.id).with_for_update().execution_options(populate_existing=True)).all()
    for other in others:
        call = RevisitCall(revisit_id=other.id, staff_user_id=staff.id, outcome="do_not_contact",
                           note=f"客户在回访 #{revisit.id} 中要求不再回访", created_at=now)
        session.add(call)
        _close(other, "do_not_contact", staff, now)
        session.flush()
        _evidence(session, other, call, staff, now)


def record_outcome(session: Session, staff: StaffUser, revisit_id: int, answer: Answer, *, now: datetime,
                   settings: rules.Settings) -> Revisit:
    """Record what the buyer said. Needs the caller's claim and releases it; a second
    submission finds the task closed (409) or no longer claimed (an unreachable retry)."""
    revisit = _locked(session, revisit_id)
    _require_claim(revisit, staff, now)
    answer = _checked(revisit, answer, local_date(now))
    outcome = answer.outcome
    call = RevisitCall(revisit_id=revisit.id, staff_user_id=staff.id, outcome=outcome, agency=answer.agency,
                       bought_on=answer.bought_on, note=answer.note, created_at=now)
    if outcome == "unreachable":
        attempts, closed = rules.after_unreachable(revisit.attempts, settings.max_unreachable)
        revisit.attempts = call.attempt = attempts
        if closed:
            _close(revisit, "unreachable", staff, now)
        else:
            revisit.due_at = rules.next_try(now)
            revisit.claimed_by_id = revisit.claimed_until = None
            revisit.updated_at = now
    else:
        _close(revisit, outcome, staff, now)
        revisit.agency = answer.agency
        revisit.bought_on = answer.bought_on
        finding = rules.contradiction(record_of(session, revisit), outcome, answer.bought_on)
        if finding is not None:
            revisit.dispute_id = _dispute(session, revisit, finding, answer, staff, now).id
        if outcome == "confirmed" and revisit.kind == "after_visit":
            credit.revisit_confirmed(session, revisit.consultant_id, revisit.id, now=now)
    session.add(call)
    session.flush()
    _evidence(session, revisit, call, staff, now)
    if outcome == "do_not_contact":
        _opt_out(session, revisit, staff, now)
    return revisit


# --- the dispute's evidence pack ---------------------------------------------------------------------

def pack_rows(session: Session, dispute) -> list[dict]:
    """The revisits of the dispute's buyer at its project, as plain values for the evidence
    pack's 回访结果 section (``disputes.evidence_pack.register_section("revisits", …)``)."""
    rows = []
    for revisit in session.scalars(select(Revisit).where(Revisit.project_id == dispute.project_id,
                                                         Revisit.buyer_id == dispute.buyer_id).order_by(Revisit.id)):
        calls = calls_of(session, revisit.id)
        rows.append({"revisit_id": revisit.id, "kind": rules.KIND_LABELS[revisit.kind],
                     "status": rules.STATUS_LABELS[revisit.status],
                     "outcome": rules.OUTCOME_LABELS[revisit.outcome] if revisit.outcome else "",
                     "agency": revisit.agency or "", "bought_on": revisit.bought_on.isoformat() if revisit.bought_on else "",
                     "calls": len(calls), "last_call_at": calls[-1].created_at.isoformat() if calls else "",
                     "dispute_id": revisit.dispute_id})
    return rows
