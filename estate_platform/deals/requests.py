"""Deal changes the developer's site staff may only ask for (maker-checker, DESIGN §7.10).

A site staff member's cancellation (退房) reverses commission and can turn money
already paid into consultant debt; a recording whose subscription date lies more than
``backdate_days`` back (补录) selects the commission rule's version and the date the
referral chain is resolved on. Neither takes effect on one person's word: each
becomes a ``DealChangeRequest`` that platform operations, finance or an admin approve
or reject, never the requester. Platform staff (finance, admins) still cancel and
record directly, as before: they are the checkers.

* The serving consultant is told when a request is made and may object until it is
  decided (``object_to``); the approver sees the objection.
* A back-dated recording makes no deal until approval, so nothing unapproved is
  priced, recognised, or counted in a month's tiers; it is checked when asked (every
  refusal ``record_deal`` would give) and again when approved.
* Approval runs the deal service's own cancellation or recording (one path), exactly
  once: the request row is locked and must still be pending.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ..clock import local_date
from ..db import paginate
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed, on_constraint
from ..evidence import services as evidence
from ..evidence.services import Actor
from ..identity.models import Buyer, StaffUser
from ..money import yuan
from ..notifications.services import notify
from ..projects.models import Project
from . import services as deals
from .models import Deal, DealChangeRequest

DECIDERS = ("admin", "finance", "operations")
KIND_LABELS = {"cancel": "退房", "backdate": "补录成交"}
STATUS_LABELS = {"pending": "待审核", "approved": "已批准", "rejected": "已驳回", "withdrawn": "已撤回"}
DEFAULT_BACKDATE_DAYS = 7


class DealRequestNotFound(NotFound):
    code, message = "deal_request_not_found", "成交变更申请不存在"


@on_constraint("uq_deal_change_requests_pending_deal_kind")
class DealRequestPending(Conflict):
    code, message = "deal_request_pending", "该成交已有待审核的同类申请，请等待平台审核"


class DealRequestClosed(Conflict):
    code, message = "deal_request_closed", "该申请已处理或已撤回"


class FourEyesRequired(Conflict):
    code, message = "four_eyes_required", "申请人不能审核自己的申请，须由另一位平台员工审核"


class NotADecider(Forbidden):
    code, message = "deal_request_decider_forbidden", "只有平台运营、财务或管理员可以审核成交变更申请"


# --- what needs a request ------------------------------------------------------------------------

def needs_approval(staff: StaffUser) -> bool:
    """Only the developer's own staff need a second person; platform staff are the checkers."""
    return staff.role == "site_staff"


def backdated(subscribed_on: date, today: date, backdate_days: int) -> bool:
    return subscribed_on < today - timedelta(days=backdate_days)


def record_or_request(session: Session, staff: StaffUser, data: deals.NewDeal, *, now: datetime,
                      backdate_days: int = DEFAULT_BACKDATE_DAYS) -> Deal | DealChangeRequest:
    """Record the deal, or, for site staff with a subscription date more than ``backdate_days``
    back, ask platform staff to approve it (the deal is recorded on approval)."""
    if needs_approval(staff) and backdated(data.subscribed_on, local_date(now), backdate_days):
        return request_backdate(session, staff, data, now=now, backdate_days=backdate_days)
    return deals.record_deal(session, staff, data, now=now)


def cancel_or_request(session: Session, staff: StaffUser, deal_id: int, *, reason: str | None,
                      now: datetime) -> Deal | DealChangeRequest:
    """Platform staff cancel; site staff ask for the cancellation."""
    if needs_approval(staff):
        return request_cancel(session, staff, deal_id, reason=reason, now=now)
    return deals.cancel_deal(session, staff, deal_id, reason=reason, now=now)


# --- asking ------------------------------------------------------------------------------------------

def _reason(reason: str | None, field: str, message: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({field: [message]})
    return reason


def _add(session: Session, request: DealChangeRequest) -> DealChangeRequest:
    try:
        with session.begin_nested():
            session.add(request)
    except IntegrityError:  # a concurrent request for the same deal won
        raise DealRequestPending() from None
    return request


def request_cancel(session: Session, staff: StaffUser, deal_id: int, *, reason: str | None,
                   now: datetime) -> DealChangeRequest:
    """Site staff ask for a cancellation; nothing about the deal or its money changes yet."""
    reason = _reason(reason, "reason", "请填写退房原因")
    deal = deals.staff_deal(session, staff, deal_id, lock=True)
    if deal.stage == "cancelled":
        raise deals.DealCancelled()
    if session.scalar(select(DealChangeRequest.id).where(DealChangeRequest.deal_id == deal.id,
                                                         DealChangeRequest.kind == "cancel",
                                                         DealChangeRequest.status == "pending")) is not None:
        raise DealRequestPending()
    request = _add(session, DealChangeRequest(
        kind="cancel", deal_id=deal.id, project_id=deal.project_id, consultant_id=deal.consultant_id,
        registration_id=deal.registration_id, requested_by_id=staff.id, reason=reason, payload="{}",
        status="pending", created_at=now))
    evidence.append(session, "deal", deal.id, "cancel_requested", Actor("staff", staff.id), now=now,
                    request_id=request.id, reason=reason)
    notify(session, deal.consultant_id, "deal_change_requested",
           f"案场申请将 {deal.project.name} {deal.unit} 退房：{reason}。平台审核前您可提出异议", now=now,
           deal_id=deal.id, deal_request_id=request.id)
    return request


def request_backdate(session: Session, staff: StaffUser, data: deals.NewDeal, *, now: datetime,
                     backdate_days: int = DEFAULT_BACKDATE_DAYS) -> DealChangeRequest:
    """Site staff ask to record a deal subscribed more than ``backdate_days`` ago; the note says why."""
    note = (data.note or "").strip()
    plan = deals.plan_deal(session, staff, data, now=now)  # every refusal the recording would give, now
    if not note:
        raise ValidationFailed({"note": [f"认购日期早于 {backdate_days} 天前的成交须在备注中说明补录原因，"
                                         f"经平台审核后生效"]})
    payload = {"buyer_id": plan.buyer_id, "unit": plan.unit, "price_cents": data.price_cents,
               "subscribed_on": data.subscribed_on.isoformat(), "note": note}
    request = _add(session, DealChangeRequest(
        kind="backdate", deal_id=None, project_id=plan.project.id, consultant_id=plan.registration.consultant_id,
        registration_id=plan.registration.id, requested_by_id=staff.id, reason=note,
        payload=json.dumps(payload, ensure_ascii=False, sort_keys=True), status="pending", created_at=now))
    notify(session, request.consultant_id, "deal_change_requested",
           f"案场申请补录 {plan.registration.buyer_name} 在{plan.project.name}的认购 {plan.unit}"
           f"（认购日 {data.subscribed_on.isoformat()}，成交价 {yuan(data.price_cents)}）：{note}。"
           f"平台审核前您可提出异议", now=now, deal_request_id=request.id)
    return request


# --- deciding ------------------------------------------------------------------------------------------

def _visible(staff: StaffUser, request: DealChangeRequest) -> bool:
    return staff.role != "site_staff" or request.project.developer_id == staff.developer_id


def staff_request(session: Session, staff: StaffUser, request_id: int, *, lock: bool = False) -> DealChangeRequest:
    query = select(DealChangeRequest).where(DealChangeRequest.id == request_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    request = session.scalar(query)
    if request is None or not _visible(staff, request):
        raise DealRequestNotFound()
    return request


def _open_for_decision(session: Session, staff: StaffUser, request_id: int) -> DealChangeRequest:
    if staff.role not in DECIDERS:
        raise NotADecider()
    request = staff_request(session, staff, request_id, lock=True)
    if request.status != "pending":
        raise DealRequestClosed(details={"status": request.status})
    if request.requested_by_id == staff.id:
        raise FourEyesRequired()
    return request


def approve(session: Session, staff: StaffUser, request_id: int, *, note: str | None = None,
            now: datetime) -> DealChangeRequest:
    """The second person says yes: the deal service cancels, or records the back-dated deal."""
    request = _open_for_decision(session, staff, request_id)
    requester = session.get(StaffUser, request.requested_by_id)
    if request.kind == "cancel":
        deals.cancel_deal(session, staff, request.deal_id, reason=request.reason, now=now,
                          requested_by_id=requester.id)
    else:
        data = request.data
        phone = session.scalar(select(Buyer.phone).where(Buyer.id == data["buyer_id"]))
        deal = deals.record_deal(session, requester, deals.NewDeal(
            project_id=request.project_id, buyer_phone=phone, unit=data["unit"], price_cents=data["price_cents"],
            subscribed_on=date.fromisoformat(data["subscribed_on"]), note=data.get("note")), now=now, approved_by=staff)
        request.deal_id = deal.id
    request.status, request.decided_by_id, request.decided_at = "approved", staff.id, now
    request.decision_note = (note or "").strip() or None
    session.flush()
    return request


def reject(session: Session, staff: StaffUser, request_id: int, *, note: str | None,
           now: datetime) -> DealChangeRequest:
    """The second person says no, with a reason; the deal and its money stay as they are."""
    note = _reason(note, "note", "请填写驳回原因")
    request = _open_for_decision(session, staff, request_id)
    request.status, request.decided_by_id, request.decided_at, request.decision_note = "rejected", staff.id, now, note
    session.flush()
    if request.kind == "cancel":
        evidence.append(session, "deal", request.deal_id, "cancel_rejected", Actor("staff", staff.id), now=now,
                        request_id=request.id, reason=note)
    notify(session, request.consultant_id, "deal_change_rejected",
           f"案场的{KIND_LABELS[request.kind]}申请（{request.project.name} {request.unit}）未获平台批准：{note}",
           now=now, deal_request_id=request.id,
           **({"deal_id": request.deal_id} if request.deal_id is not None else {}))
    return request


def withdraw(session: Session, staff: StaffUser, request_id: int, *, now: datetime) -> DealChangeRequest:
    """The developer's site staff (or an admin) take back a request nobody has decided yet."""
    request = staff_request(session, staff, request_id, lock=True)
    if staff.role not in ("site_staff", "admin"):
        raise DealRequestNotFound()
    if request.status != "pending":
        raise DealRequestClosed(details={"status": request.status})
    request.status, request.decided_at = "withdrawn", now
    session.flush()
    if request.kind == "cancel":
        evidence.append(session, "deal", request.deal_id, "cancel_withdrawn", Actor("staff", staff.id), now=now,
                        request_id=request.id)
    return request


# --- the consultant's objection --------------------------------------------------------------------------

def own_request(session: Session, consultant_id: int, request_id: int, *, lock: bool = False) -> DealChangeRequest:
    """A request about one of the consultant's buyers; anyone else's looks like it does not exist."""
    query = select(DealChangeRequest).where(DealChangeRequest.id == request_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    request = session.scalar(query)
    if request is None or request.consultant_id != consultant_id:
        raise DealRequestNotFound()
    return request


def object_to(session: Session, consultant_id: int, request_id: int, *, text: str | None,
              now: datetime) -> DealChangeRequest:
    """The serving consultant objects (or restates his objection) while the request is pending;
    the approver reads it before deciding."""
    text = _reason(text, "text", "请填写异议内容")
    request = own_request(session, consultant_id, request_id, lock=True)
    if request.status != "pending":
        raise DealRequestClosed(details={"status": request.status})
    request.objection, request.objected_at = text, now
    session.flush()
    if request.kind == "cancel":
        evidence.append(session, "deal", request.deal_id, "cancel_objected", Actor("consultant", consultant_id),
                        now=now, request_id=request.id)  # the text stays on the request (free text, DESIGN §7.9)
    return request


# --- reading ------------------------------------------------------------------------------------------------

def _loaded(query):
    return query.options(selectinload(DealChangeRequest.project), selectinload(DealChangeRequest.deal),
                         selectinload(DealChangeRequest.consultant), selectinload(DealChangeRequest.registration),
                         selectinload(DealChangeRequest.requested_by), selectinload(DealChangeRequest.decided_by))


def list_for_staff(session: Session, staff: StaffUser, *, status: str | None = None, kind: str | None = None,
                   page: int = 1, per_page: int = 30) -> tuple[list[DealChangeRequest], int]:
    """Pending first is the approver's queue (``status=pending``); site staff see their developer's."""
    query = _loaded(select(DealChangeRequest))
    if staff.role == "site_staff":
        query = query.join(Project, Project.id == DealChangeRequest.project_id).where(
            Project.developer_id == staff.developer_id)
    if status:
        query = query.where(DealChangeRequest.status == status)
    if kind:
        query = query.where(DealChangeRequest.kind == kind)
    return paginate(session, query, DealChangeRequest.created_at.desc(), DealChangeRequest.id.desc(), page=page,
                    per_page=per_page)


def pending_for_deal(session: Session, deal_id: int) -> list[DealChangeRequest]:
    return list(session.scalars(_loaded(select(DealChangeRequest)).where(
        DealChangeRequest.deal_id == deal_id, DealChangeRequest.status == "pending").order_by(DealChangeRequest.id)))


def own_requests(session: Session, consultant_id: int, *, status: str | None = None, page: int = 1,
                 per_page: int = 20) -> tuple[list[DealChangeRequest], int]:
    query = _loaded(select(DealChangeRequest)).where(DealChangeRequest.consultant_id == consultant_id)
    if status:
        query = query.where(DealChangeRequest.status == status)
    return paginate(session, query, DealChangeRequest.created_at.desc(), DealChangeRequest.id.desc(), page=page,
                    per_page=per_page)
