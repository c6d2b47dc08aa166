"""Opening and working disputes (争议, DESIGN §4, §5a).

The one entry point for other areas is :func:`open_dispute`::

    dispute, created = open_dispute(session, source="reconciliation",
                                    source_key=f"reconciliation:registration:{registration.id}",
                                    project_id=..., buyer_id=..., registration_id=registration.id,
                                    respondent_kind="developer", subject="跑单：…", summary="…",
                                    sale_price_cents=row.price_cents, sold_on=row.sold_on, now=now)

* ``source``: ``revisit`` | ``reconciliation`` | ``risk_flag`` | ``manual`` | ``complaint``.
* ``source_key`` names the finding and is unique (``revisit:45``, ``risk_flag:9``,
  ``reconciliation:registration:123``, ``manual:<uuid>``): a second call with the same key,
  even a concurrent one, opens nothing and returns ``(the existing dispute, False)``. It
  never raises for a known key, so a retried import or a re-run job is safe.
* ``respondent_kind="consultant"`` needs ``respondent_consultant_id`` (he broke the
  agreement: registered a buyer he did not serve, faked a visit, took a protected buyer);
  ``"developer"`` names the victim instead: ``protected_consultant_id``, or the consultant
  of ``registration_id`` (the registration that protected the buyer). A victim is never
  fined.
* ``sale_price_cents`` and ``sold_on`` (both or neither) are what the buyer bought for,
  when known: the commission at stake is priced from them (``terms.stake_for``).
* Parties (respondent, claimant, protected consultant) are told, and may answer until
  ``deadline_at`` (``rules.STATEMENT_DAYS``). Nothing is committed here: the caller's unit
  of work commits.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..clock import SHANGHAI, local_date
from ..consultants.models import Consultant
from ..db import paginate
from ..deals.models import Deal
from ..errors import Conflict, NotFound, ValidationFailed
from ..identity.models import Buyer, StaffUser
from ..notifications.services import notify
from ..projects.models import Project
from ..registrations.models import Registration
from ..registrations.services import binding_registration, own_registration
from ..visits import storage
from ..visits.attachments import Upload, read_checked
from . import rules
from .models import (CLOSED_STATUSES, OUTCOMES, RESPONDENT_KINDS, SOURCES, STATUSES, Dispute, DisputeAttachment,
                     DisputeDecision, DisputeEvent, DisputeStatement)

SUBJECT_MAX = 200
TEXT_MAX = 5000
MAX_STATEMENT_ATTACHMENTS = 5
MAX_STATEMENTS_PER_PARTY = 10


class DisputeNotFound(NotFound):
    code, message = "dispute_not_found", "争议不存在"


class DisputeClosed(Conflict):
    code, message = "dispute_closed", "该争议已结案，不能再处理；如需更正，请另行立案"


class InvalidDisputeTransition(Conflict):
    code, message = "invalid_dispute_transition", "争议当前状态不能执行此操作"


class StatementDeadlinePassed(Conflict):
    code, message = "statement_deadline_passed", "陈述提交期限已过"


class StatementLimitReached(Conflict):
    code, message = "statement_limit_reached", f"每位当事人最多提交 {MAX_STATEMENTS_PER_PARTY} 次陈述"


class NoRespondentFound(Conflict):
    code, message = "no_respondent_found", "未发现其他顾问报备或成交该客户；如客户被开发商直接成交，请投诉开发商"


@dataclass(frozen=True)
class Actor:
    type: str  # consultant | staff | system
    id: int | None = None


def _event(session: Session, dispute: Dispute, event: str, actor: Actor, now: datetime,
           note: str | None = None) -> DisputeEvent:
    record = DisputeEvent(dispute_id=dispute.id, event=event, actor_type=actor.type, actor_id=actor.id, note=note,
                          created_at=now)
    session.add(record)
    return record


def _clean_text(value: str | None, field: str, label: str, max_length: int, errors: dict) -> str:
    text = (value or "").strip()
    if not text:
        errors[field] = [f"请填写{label}"]
    elif len(text) > max_length:
        errors[field] = [f"{label}不能超过 {max_length} 个字"]
    return text


def tell_parties(session: Session, dispute: Dispute, kind: str, body: str, *, now: datetime,
                 also: tuple[int | None, ...] = ()) -> None:
    for consultant_id in sorted(dispute.party_ids | {i for i in also if i is not None}):
        notify(session, consultant_id, kind, body, now=now, dispute_id=dispute.id)


# --- opening -------------------------------------------------------------------------------

def open_dispute(session: Session, *, source: str, source_key: str, project_id: int, buyer_id: int,
                 registration_id: int | None = None, deal_id: int | None = None, respondent_kind: str,
                 respondent_consultant_id: int | None = None, claimant_consultant_id: int | None = None,
                 protected_consultant_id: int | None = None, subject: str, summary: str,
                 opened_by_staff_id: int | None = None, sale_price_cents: int | None = None,
                 sold_on: date | None = None, now: datetime) -> tuple[Dispute, bool]:
    """Open a dispute once per ``source_key`` (see the module docstring); ``(dispute, created)``."""
    existing = session.scalar(select(Dispute).where(Dispute.source_key == source_key))
    if existing is not None:
        return existing, False
    errors: dict[str, list[str]] = {}
    if source not in SOURCES:
        errors["source"] = [f"来源须为以下之一：{'、'.join(SOURCES)}"]
    if not source_key or len(source_key) > 120:
        errors["source_key"] = ["来源标识须为 1–120 个字符"]
    subject = _clean_text(subject, "subject", "争议标题", SUBJECT_MAX, errors)
    summary = _clean_text(summary, "summary", "争议说明", TEXT_MAX, errors)
    errors.update(rules.check_sale(sale_price_cents, sold_on, local_date(now)))
    project = session.get(Project, project_id)
    if project is None:
        errors["project_id"] = ["楼盘不存在"]
    if session.get(Buyer, buyer_id) is None:
        errors["buyer_id"] = ["客户不存在"]
    registration = session.get(Registration, registration_id) if registration_id is not None else None
    if registration_id is not None and (registration is None or registration.project_id != project_id
                                        or registration.buyer_id != buyer_id):
        errors["registration_id"] = ["报备不存在，或不属于该楼盘的该客户"]
    deal = session.get(Deal, deal_id) if deal_id is not None else None
    if deal_id is not None and (deal is None or deal.project_id != project_id or deal.buyer_id != buyer_id):
        errors["deal_id"] = ["成交不存在，或不属于该楼盘的该客户"]
    if respondent_kind not in RESPONDENT_KINDS:
        errors["respondent_kind"] = ["被投诉方须为 consultant（顾问）或 developer（开发商）"]
    elif respondent_kind == "consultant":
        if respondent_consultant_id is None or session.get(Consultant, respondent_consultant_id) is None:
            errors["respondent_consultant_id"] = ["请指定被投诉的顾问"]
        elif claimant_consultant_id == respondent_consultant_id:
            errors["claimant_consultant_id"] = ["投诉人与被投诉人不能是同一位顾问"]
        protected_consultant_id = None
    else:
        respondent_consultant_id = None
        if protected_consultant_id is None and registration is not None:
            protected_consultant_id = registration.consultant_id
        if protected_consultant_id is None or session.get(Consultant, protected_consultant_id) is None:
            errors["protected_consultant_id"] = ["开发商为被投诉方时，须指明受保护的顾问（或其报备）"]
    if claimant_consultant_id is not None and session.get(Consultant, claimant_consultant_id) is None:
        errors["claimant_consultant_id"] = ["投诉顾问不存在"]
    if errors:
        raise ValidationFailed(errors)
    dispute = Dispute(source=source, source_key=source_key, status="open", project_id=project.id,
                      developer_id=project.developer_id, buyer_id=buyer_id, registration_id=registration_id,
                      deal_id=deal_id, respondent_kind=respondent_kind,
                      respondent_consultant_id=respondent_consultant_id,
                      claimant_consultant_id=claimant_consultant_id,
                      protected_consultant_id=protected_consultant_id, subject=subject, summary=summary,
                      sale_price_cents=sale_price_cents, sold_on=sold_on,
                      deadline_at=rules.statement_deadline(now), opened_by_staff_id=opened_by_staff_id,
                      created_at=now, updated_at=now)
    try:
        with session.begin_nested():
            session.add(dispute)
    except IntegrityError:
        # The same finding, opened by a concurrent caller: the unique source_key decided.
        existing = session.scalar(select(Dispute).where(Dispute.source_key == source_key))
        if existing is None:
            raise
        return existing, False
    actor = Actor("staff", opened_by_staff_id) if opened_by_staff_id else (
        Actor("consultant", claimant_consultant_id) if source == "complaint" else Actor("system"))
    _event(session, dispute, "opened", actor, now, note=f"{rules.SOURCE_LABELS[source]}：{subject}")
    deadline = dispute.deadline_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    for consultant_id in sorted(dispute.party_ids):
        if consultant_id == dispute.respondent_consultant_id:
            body = f"您被提起争议 #{dispute.id}（{project.name}）：{subject}。请在 {deadline} 前提交陈述和证据"
        elif consultant_id == dispute.protected_consultant_id and consultant_id != claimant_consultant_id:
            body = f"平台就您报备的客户立案争议 #{dispute.id}（{project.name}）：{subject}。您可在 {deadline} 前补充说明"
        else:
            body = f"争议 #{dispute.id}（{project.name}）已立案：{subject}。可在 {deadline} 前补充陈述"
        notify(session, consultant_id, "dispute_opened", body, now=now, dispute_id=dispute.id)
    return dispute, True


def open_manual(session: Session, staff: StaffUser, *, key: str, registration_id: int | None, deal_id: int | None,
                respondent_kind: str, respondent_consultant_id: int | None, claimant_consultant_id: int | None,
                subject: str, summary: str, sale_price_cents: int | None, sold_on: date | None,
                now: datetime) -> tuple[Dispute, bool]:
    """Operations open a dispute about a registration or a deal (project and buyer follow)."""
    deal = session.get(Deal, deal_id) if deal_id is not None else None
    registration = session.get(Registration, registration_id) if registration_id is not None else None
    if deal_id is not None and deal is None:
        raise ValidationFailed({"deal_id": ["成交不存在"]})
    if registration_id is not None and registration is None:
        raise ValidationFailed({"registration_id": ["报备不存在"]})
    about = deal or registration
    if about is None:
        raise ValidationFailed({"registration_id": ["请指定争议涉及的报备或成交"]})
    if registration is None and deal is not None:
        registration = deal.registration
    if respondent_kind == "consultant" and respondent_consultant_id is None and deal is not None:
        respondent_consultant_id = deal.consultant_id
    elif respondent_kind == "consultant" and respondent_consultant_id is None and registration is not None:
        respondent_consultant_id = registration.consultant_id
    return open_dispute(session, source="manual", source_key=f"manual:{key}", project_id=about.project_id,
                        buyer_id=about.buyer_id, registration_id=registration.id if registration else None,
                        deal_id=deal.id if deal else None, respondent_kind=respondent_kind,
                        respondent_consultant_id=respondent_consultant_id,
                        claimant_consultant_id=claimant_consultant_id, subject=subject, summary=summary,
                        opened_by_staff_id=staff.id, sale_price_cents=sale_price_cents, sold_on=sold_on, now=now)


def file_complaint(session: Session, consultant: Consultant, *, registration_id: int, against: str, subject: str,
                   summary: str, now: datetime) -> tuple[Dispute, bool]:
    """A consultant's complaint (投诉) about a buyer he registered. Against the developer: it
    sold the buyer without the platform (he is the protected victim). Against a consultant:
    the platform finds who took the buyer (a live deal, else a binding registration of
    someone else); the complainant is never told who that is. Once per registration and
    kind: a second complaint returns the first."""
    mine = own_registration(session, consultant.id, registration_id)
    key = f"complaint:registration:{mine.id}:{against}"
    common = dict(source="complaint", source_key=key, project_id=mine.project_id, buyer_id=mine.buyer_id,
                  claimant_consultant_id=consultant.id, subject=subject, summary=summary, now=now)
    if against == "developer":
        return open_dispute(session, registration_id=mine.id, respondent_kind="developer",
                            protected_consultant_id=consultant.id, **common)
    existing = session.scalar(select(Dispute).where(Dispute.source_key == key))
    if existing is not None:
        return existing, False
    deal = session.scalar(select(Deal).where(Deal.project_id == mine.project_id, Deal.buyer_id == mine.buyer_id,
                                             Deal.stage != "cancelled", Deal.consultant_id != consultant.id)
                          .order_by(Deal.id.desc()).limit(1))
    if deal is not None:
        return open_dispute(session, registration_id=deal.registration_id, deal_id=deal.id,
                            respondent_kind="consultant", respondent_consultant_id=deal.consultant_id, **common)
    holder = binding_registration(session, mine.project_id, mine.buyer_id)
    if holder is None or holder.consultant_id == consultant.id:
        raise NoRespondentFound()
    return open_dispute(session, registration_id=holder.id, respondent_kind="consultant",
                        respondent_consultant_id=holder.consultant_id, **common)


# --- working it ------------------------------------------------------------------------------

def _locked(session: Session, dispute_id: int) -> Dispute:
    """The dispute row, locked for this transaction (SELECT … FOR UPDATE on PostgreSQL), so
    two staff acting at once act one after the other on its latest state."""
    dispute = session.scalar(select(Dispute).where(Dispute.id == dispute_id).with_for_update()
                             .execution_options(populate_existing=True))
    if dispute is None:
        raise DisputeNotFound()
    return dispute


def _move(dispute: Dispute, action: str, now: datetime) -> None:
    if dispute.status in CLOSED_STATUSES:
        raise DisputeClosed(details={"status": dispute.status})
    try:
        dispute.status = rules.next_status(dispute.status, action)
    except rules.TransitionRefused:
        raise InvalidDisputeTransition(details={"status": dispute.status, "action": action}) from None
    dispute.updated_at = now
    if dispute.status in CLOSED_STATUSES:
        dispute.closed_at = now


def investigate(session: Session, staff: StaffUser, dispute_id: int, *, note: str | None,
                now: datetime) -> Dispute:
    dispute = _locked(session, dispute_id)
    _move(dispute, "investigate", now)
    _event(session, dispute, "investigating", Actor("staff", staff.id), now, note=(note or "").strip() or None)
    return dispute


def _supersede_pending(session: Session, dispute: Dispute) -> None:
    pending = session.scalar(select(DisputeDecision).where(DisputeDecision.dispute_id == dispute.id,
                                                           DisputeDecision.status == "proposed"))
    if pending is not None:
        pending.status = "superseded"
        session.flush()


def withdraw(session: Session, dispute_id: int, *, reason: str | None, actor: Actor, now: datetime) -> Dispute:
    """Withdrawn (撤回) while open or investigating, by operations or the complaining consultant."""
    errors: dict = {}
    reason = _clean_text(reason, "reason", "撤回原因", 500, errors)
    dispute = _locked(session, dispute_id)
    if actor.type == "consultant" and dispute.claimant_consultant_id != actor.id:
        if actor.id not in dispute.party_ids:
            raise DisputeNotFound()
        raise InvalidDisputeTransition("只有投诉人可以撤回争议", details={"status": dispute.status, "action": "withdraw"})
    if errors:
        raise ValidationFailed(errors)
    _move(dispute, "withdraw", now)
    _supersede_pending(session, dispute)
    _event(session, dispute, "withdrawn", actor, now, note=reason)
    tell_parties(session, dispute, "dispute_withdrawn", f"争议 #{dispute.id} 已撤回：{reason}", now=now)
    return dispute


def submit_statement(session: Session, consultant: Consultant, dispute_id: int, *, text: str,
                     uploads: list[Upload], storage_dir: str, now: datetime) -> DisputeStatement:
    """A party's statement (陈述) with up to 5 attachments (JPEG, PNG, PDF by content, 5 MiB
    each), until the deadline, while the dispute is open or investigating. Every check runs
    before any file is stored."""
    dispute = party_dispute(session, consultant.id, dispute_id)
    errors: dict = {}
    text = _clean_text(text, "text", "陈述内容", TEXT_MAX, errors)
    if len(uploads) > MAX_STATEMENT_ATTACHMENTS:
        errors["file"] = [f"每次陈述最多上传 {MAX_STATEMENT_ATTACHMENTS} 个附件"]
    if errors:
        raise ValidationFailed(errors)
    if dispute.status in CLOSED_STATUSES:
        raise DisputeClosed(details={"status": dispute.status})
    if now > dispute.deadline_at:
        raise StatementDeadlinePassed(details={"deadline_at": dispute.deadline_at.isoformat()})
    earlier = session.scalar(select(DisputeStatement.id).where(
        DisputeStatement.dispute_id == dispute.id, DisputeStatement.consultant_id == consultant.id)
        .offset(MAX_STATEMENTS_PER_PARTY - 1).limit(1))
    if earlier is not None:
        raise StatementLimitReached(details={"limit": MAX_STATEMENTS_PER_PARTY})
    files = [(upload, *read_checked(upload)) for upload in uploads]
    statement = DisputeStatement(dispute_id=dispute.id, consultant_id=consultant.id, text=text, created_at=now)
    session.add(statement)
    session.flush()
    for upload, content, content_type in files:
        digest = storage.save(storage_dir, content)
        session.add(DisputeAttachment(statement_id=statement.id, filename=storage.sanitise_filename(upload.filename),
                                      content_type=content_type, size_bytes=len(content), sha256=digest,
                                      created_at=now))
    dispute.updated_at = now
    _event(session, dispute, "statement", Actor("consultant", consultant.id), now,
           note=f"提交陈述（附件 {len(files)} 个）")
    session.flush()
    session.refresh(statement)
    return statement


# --- reading -----------------------------------------------------------------------------------

def get_dispute(session: Session, dispute_id: int) -> Dispute:
    dispute = session.get(Dispute, dispute_id)
    if dispute is None:
        raise DisputeNotFound()
    return dispute


def party_dispute(session: Session, consultant_id: int, dispute_id: int) -> Dispute:
    """A dispute the consultant is party to; any other looks like one that does not exist."""
    dispute = session.get(Dispute, dispute_id)
    if dispute is None or consultant_id not in dispute.party_ids:
        raise DisputeNotFound()
    return dispute


def _party_clause(consultant_id: int):
    return or_(Dispute.respondent_consultant_id == consultant_id, Dispute.claimant_consultant_id == consultant_id,
               Dispute.protected_consultant_id == consultant_id)


def list_for_consultant(session: Session, consultant_id: int, *, status: str | None = None, page: int = 1,
                        per_page: int = 20) -> tuple[list[Dispute], int]:
    query = select(Dispute).where(_party_clause(consultant_id))
    if status:
        query = query.where(Dispute.status == status)
    return paginate(session, query, Dispute.created_at.desc(), Dispute.id.desc(), page=page, per_page=per_page)


def list_disputes(session: Session, *, status: str | None = None, source: str | None = None,
                  project_id: int | None = None, respondent_kind: str | None = None,
                  consultant_id: int | None = None, page: int = 1, per_page: int = 30) -> tuple[list[Dispute], int]:
    """For operations and finance: filter by status, source, project, respondent kind, and a
    consultant party to it."""
    query = select(Dispute)
    if status:
        query = query.where(Dispute.status == status)
    if source:
        query = query.where(Dispute.source == source)
    if project_id:
        query = query.where(Dispute.project_id == project_id)
    if respondent_kind:
        query = query.where(Dispute.respondent_kind == respondent_kind)
    if consultant_id:
        query = query.where(_party_clause(consultant_id))
    return paginate(session, query, Dispute.created_at.desc(), Dispute.id.desc(), page=page, per_page=per_page)


def events_of(session: Session, dispute: Dispute) -> list[DisputeEvent]:
    return list(session.scalars(select(DisputeEvent).where(DisputeEvent.dispute_id == dispute.id)
                                .order_by(DisputeEvent.created_at, DisputeEvent.id)))


def statements_of(session: Session, dispute: Dispute) -> list[DisputeStatement]:
    return list(session.scalars(select(DisputeStatement).where(DisputeStatement.dispute_id == dispute.id)
                                .order_by(DisputeStatement.created_at, DisputeStatement.id)))


def decisions_of(session: Session, dispute: Dispute) -> list[DisputeDecision]:
    return list(session.scalars(select(DisputeDecision).where(DisputeDecision.dispute_id == dispute.id)
                                .order_by(DisputeDecision.proposed_at, DisputeDecision.id)))


def approved_decision(session: Session, dispute: Dispute) -> DisputeDecision | None:
    return session.scalar(select(DisputeDecision).where(DisputeDecision.dispute_id == dispute.id,
                                                        DisputeDecision.status == "approved"))


def staff_attachment(session: Session, dispute_id: int, attachment_id: int, *, storage_dir: str) -> DisputeAttachment:
    attachment = session.get(DisputeAttachment, attachment_id)
    if (attachment is None or attachment.statement.dispute_id != dispute_id
            or not storage.exists(storage_dir, attachment.sha256)):
        raise DisputeNotFound("附件不存在")
    return attachment


def has_open_dispute(session: Session, consultant_id: int) -> bool:
    """Is the consultant the respondent of a dispute still open? (buy-back eligibility, DESIGN §5)"""
    return session.scalar(select(Dispute.id).where(Dispute.respondent_consultant_id == consultant_id,
                                                   Dispute.status.in_(rules.OPEN_STATUSES)).limit(1)) is not None


__all__ = ["open_dispute", "STATUSES", "OUTCOMES"]
