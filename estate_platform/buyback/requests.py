"""Buy-back requests (垫付申请): reserve, cancel, reject, expire and approve (issue 13 §1).

Making a request locks the platform settings row (``settings.current(lock=True)``), checks the
lines and the limits again and reserves each line (``BuybackLine`` ``reserved``; the partial
unique index keeps a line in one live reservation or purchase). Rejection, cancellation and
expiry release the lines. Approval needs one finance user, or two different ones from
``second_approver_cents`` up (maker-checker, DESIGN §7.10, also a CHECK), and posts ONE ledger
transaction (idempotency key per request)::

    consultant pending   +face       his claim on those lines is bought
    consultant available −advance    paid by the next settlement batch
    consultant remainder −remainder  owed to him when the developer pays
    platform   purchased −discount   the discount, deferred until the developer pays
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ..consultants.models import Consultant
from ..db import paginate
from ..deals.models import Deal
from ..ledger import services as ledger
from ..ledger.services import Entry, Leg
from ..money import yuan
from . import quotes
from . import settings as buyback_settings
from .errors import DealNotLive, LineTaken, QuoteExpired, QuoteNotFound, QuoteUsed, RequestClosed, RequestNotFound, \
    SameApprover
from .models import BuybackLine, BuybackQuote, BuybackRequest


def create_request(session: Session, consultant: Consultant, quote_id: int, *, now: datetime) -> BuybackRequest:
    quote = session.get(BuybackQuote, quote_id)
    if quote is None or quote.consultant_id != consultant.id:
        raise QuoteNotFound()
    if now >= quote.expires_at:
        raise QuoteExpired(details={"expired_at": quote.expires_at.isoformat()})
    if session.scalar(select(BuybackRequest.id).where(BuybackRequest.quote_id == quote.id)) is not None:
        raise QuoteUsed()
    settings = buyback_settings.current(session, now=now, lock=True)  # serialises reservations
    quotes.check_consultant(session, consultant, settings)
    quotes.eligible_lines(session, consultant, [line.commission_line_id for line in quote.lines])
    quotes.check_limits(session, consultant.id, [(line.developer_id, line.face_cents) for line in quote.lines],
                        settings)
    request = BuybackRequest(
        quote_id=quote.id, consultant_id=consultant.id, status="requested", face_cents=quote.face_cents,
        discount_cents=quote.discount_cents, advance_cents=quote.advance_cents,
        remainder_cents=quote.remainder_cents, equivalent_annual_bps=quote.equivalent_annual_bps,
        needs_second_approval=quote.face_cents >= settings.second_approver_cents,
        expires_at=now + timedelta(hours=settings.request_valid_hours), created_at=now)
    request.lines = [BuybackLine(
        commission_line_id=line.commission_line_id, deal_id=line.deal_id, developer_id=line.developer_id,
        consultant_id=consultant.id, status="reserved", face_cents=line.face_cents,
        discount_cents=line.discount_cents, advance_cents=line.advance_cents, remainder_cents=line.remainder_cents,
        expected_on=line.expected_on, collected_cents=0, deal_collected_cents=0, remainder_paid_cents=0,
        discount_realised_cents=0, created_at=now, updated_at=now) for line in quote.lines]
    session.add(request)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise LineTaken() from None
    return request


def _locked(session: Session, request_id: int) -> BuybackRequest:
    request = session.scalar(select(BuybackRequest).where(BuybackRequest.id == request_id).with_for_update())
    if request is None:
        raise RequestNotFound()
    return request


def _close(request: BuybackRequest, status: str, now: datetime) -> None:
    for line in request.lines:  # loaded before the request changes (no autoflush of a half-made change)
        line.status, line.updated_at = "released", now
    request.status, request.decided_at = status, now


def cancel(session: Session, consultant_id: int, request_id: int, *, now: datetime) -> BuybackRequest:
    """The consultant withdraws before finance approves; the exposure is released."""
    request = _locked(session, request_id)
    if request.consultant_id != consultant_id:
        raise RequestNotFound()
    if request.status != "requested":
        raise RequestClosed(details={"status": request.status})
    _close(request, "cancelled", now)
    return request


def reject(session: Session, request_id: int, *, staff_id: int, reason: str, now: datetime) -> BuybackRequest:
    request = _locked(session, request_id)
    if request.status != "requested":
        raise RequestClosed(details={"status": request.status})
    request.decided_by_id, request.reject_reason = staff_id, reason
    _close(request, "rejected", now)
    return request


def expire_due(session: Session, *, now: datetime, limit: int = 500) -> int:
    """Requests finance did not decide in time expire and release their lines (beat task)."""
    ids = list(session.scalars(select(BuybackRequest.id).where(
        BuybackRequest.status == "requested", BuybackRequest.expires_at <= now)
        .order_by(BuybackRequest.id).limit(limit)))
    for request_id in ids:
        request = _locked(session, request_id)
        if request.status == "requested":
            _close(request, "expired", now)
    return len(ids)


def approval_entry(request: BuybackRequest) -> Entry:
    c = request.consultant_id
    return Entry(
        idempotency_key=f"buyback:request:{request.id}:approve", kind="buyback_purchased",
        description=f"佣金垫付申请 #{request.id}：平台购买应收 {yuan(request.face_cents)}，"
                    f"垫付 {yuan(request.advance_cents)}，折价 {yuan(request.discount_cents)}",
        legs=(Leg("consultant", c, "pending", request.face_cents, f"垫付 #{request.id}：待回款佣金转让给平台"),
              Leg("consultant", c, "available", -request.advance_cents, f"垫付 #{request.id}：垫付款，随结算打款"),
              Leg("consultant", c, "remainder", -request.remainder_cents, f"垫付 #{request.id}：尾款，开发商回款后支付"),
              Leg("platform", 0, "purchased", -request.discount_cents, f"垫付 #{request.id}：折价，回款后确认收入")))


def approve(session: Session, request_id: int, *, staff_id: int, now: datetime) -> BuybackRequest:
    """First approval, or the second (another finance user) where the amount needs two."""
    request = _locked(session, request_id)
    if request.status != "requested":
        raise RequestClosed(details={"status": request.status})
    if request.first_approver_id is None:
        request.first_approver_id, request.first_approved_at = staff_id, now
        if request.needs_second_approval:
            return request
    else:
        if staff_id == request.first_approver_id:
            raise SameApprover()
        request.second_approver_id, request.second_approved_at = staff_id, now
    deals = {d.id: d for d in session.scalars(select(Deal).where(Deal.id.in_({l.deal_id for l in request.lines})))}
    not_live = [l.commission_line_id for l in request.lines
                if not (deals[l.deal_id].recognised and deals[l.deal_id].stage in quotes.SIGNED_LIVE)]
    if not_live:
        raise DealNotLive(details={"line_ids": not_live})
    transaction, _ = ledger.post(session, approval_entry(request), actor_type="staff", actor_id=staff_id, now=now)
    request.status, request.decided_at, request.decided_by_id = "approved", now, staff_id
    request.transaction_id = transaction.id
    for line in request.lines:
        line.status, line.updated_at = "purchased", now
    return request


# --- reading -----------------------------------------------------------------------------

def own_requests(session: Session, consultant_id: int, *, page: int, per_page: int):
    query = (select(BuybackRequest).where(BuybackRequest.consultant_id == consultant_id)
             .options(selectinload(BuybackRequest.lines)))
    return paginate(session, query, BuybackRequest.created_at.desc(), BuybackRequest.id.desc(), page=page,
                    per_page=per_page)


def queue(session: Session, *, status: str | None, page: int, per_page: int):
    query = select(BuybackRequest).options(selectinload(BuybackRequest.lines), selectinload(BuybackRequest.consultant))
    if status:
        query = query.where(BuybackRequest.status == status)
    return paginate(session, query, BuybackRequest.created_at.desc(), BuybackRequest.id.desc(), page=page,
                    per_page=per_page)


def get(session: Session, request_id: int) -> BuybackRequest:
    request = session.get(BuybackRequest, request_id)
    if request is None:
        raise RequestNotFound()
    return request
