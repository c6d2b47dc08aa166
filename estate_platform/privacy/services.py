"""Erasure and access requests (删除与查阅请求, PIPL art. 45, 47; issue 15 §1).

A buyer asks on the H5 page (signed in by an SMS code) or operations record his request
(phone call, letter). Operations approve: the request is carried out unless a hold applies,
then it is ``refused`` with the hold's code, and the refusal is kept (409 ``erasure_held``
with the holds in the details). Holds, checked in this order:

* ``live_deal``: a deal of his not cancelled and not complete (认购/网签): the sale is not over;
* ``open_dispute``: a dispute about him is open or being investigated;
* ``open_protection``: a registration of his still protects him (报备保护期内);
* ``finance_retention``: money moved on his own ledger accounts (老带新 rewards) within
  ``FINANCE_RETENTION_YEARS``: accounting records must keep their payee.

Deals and commission lines of consultants name him only by id; they are kept, and so is
the id, a pseudonym once the buyer row holds no name or phone (privacy.erasure).
Every step is a ``PrivacyEvent``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db import paginate
from ..deals.models import Deal
from ..disputes.models import Dispute
from ..errors import Conflict, NotFound
from ..identity.models import Buyer, StaffUser
from ..ledger.models import Account, LedgerTransaction, Posting
from ..registrations.models import OPEN_STATUSES, PhoneReveal, Registration
from . import erasure
from .models import HOLDS, PrivacyEvent, PrivacyRequest

LIVE_DEAL_STAGES = ("subscribed", "signed")
HOLD_LABELS = {
    "live_deal": "有进行中的成交（认购或网签阶段）",
    "open_dispute": "有未结的争议",
    "open_protection": "仍在报备保护期内",
    "finance_retention": "财务记录在法定保存期内",
}
STATUS_LABELS = {"pending": "待处理", "erased": "已删除", "refused": "因保留义务未执行", "rejected": "已驳回"}
CHANNEL_LABELS = {"h5": "购房者本人（短信验证）", "operations": "运营代录", "retention": "保存期满自动"}
NOTE_MAX_LENGTH = 500


class BuyerNotFound(NotFound):
    code, message = "buyer_not_found", "购房者不存在"


class BuyerAlreadyErased(Conflict):
    code, message = "buyer_already_erased", "该购房者的个人信息已删除"


class ErasureRequestPending(Conflict):
    code, message = "erasure_request_pending", "已有一条待处理的删除申请"


class ErasureRequestNotFound(NotFound):
    code, message = "erasure_request_not_found", "删除申请不存在"


class ErasureRequestClosed(Conflict):
    code, message = "erasure_request_closed", "该申请已处理"


class ErasureHeld(Conflict):
    """Approval met a hold: the request is closed as refused (kept although the answer is 409)."""
    code, message = "erasure_held", "存在法定或业务保留事由，暂不能删除该购房者的个人信息"
    keep_changes = True


@dataclass(frozen=True)
class Settings:
    finance_retention_years: int

    @classmethod
    def from_config(cls, config) -> "Settings":
        return cls(finance_retention_years=int(config.get("FINANCE_RETENTION_YEARS", 30)))


def holds(session: Session, buyer_id: int, *, now: datetime, settings: Settings) -> list[str]:
    """The holds that stop an erasure now, in a fixed order (one query)."""
    since = now - timedelta(days=365 * settings.finance_retention_years + settings.finance_retention_years // 4)
    checks = {
        "live_deal": exists().where(Deal.buyer_id == buyer_id, Deal.stage.in_(LIVE_DEAL_STAGES)),
        "open_dispute": exists().where(Dispute.buyer_id == buyer_id, Dispute.status.in_(("open", "investigating"))),
        "open_protection": exists().where(Registration.buyer_id == buyer_id,
                                          Registration.status.in_(OPEN_STATUSES)),
        "finance_retention": exists().where(Posting.account_id == Account.id, Account.party_type == "buyer",
                                            Account.party_id == buyer_id,
                                            Posting.transaction_id == LedgerTransaction.id,
                                            LedgerTransaction.created_at >= since),
    }
    row = session.execute(select(*[check.label(code) for code, check in checks.items()])).one()
    return [code for code in HOLDS if getattr(row, code)]


def _log(session: Session, buyer_id: int, action: str, *, actor_type: str, actor_id: int | None, now: datetime,
         request_id: int | None = None, detail: str | None = None) -> None:
    session.add(PrivacyEvent(buyer_id=buyer_id, request_id=request_id, action=action, actor_type=actor_type,
                             actor_id=actor_id, detail=detail, created_at=now))


def get_buyer(session: Session, buyer_id: int) -> Buyer:
    buyer = session.get(Buyer, buyer_id)
    if buyer is None:
        raise BuyerNotFound()
    return buyer


def request_erasure(session: Session, buyer: Buyer, *, channel: str, now: datetime, staff: StaffUser | None = None,
                    note: str | None = None) -> PrivacyRequest:
    """Record an erasure request (the buyer's own on H5, or operations on his behalf)."""
    if buyer.erased_at is not None:
        raise BuyerAlreadyErased()
    request = PrivacyRequest(buyer_id=buyer.id, status="pending", channel=channel,
                             note=(note or "").strip()[:NOTE_MAX_LENGTH] or None,
                             requested_by_id=staff.id if staff else None, created_at=now)
    try:
        with session.begin_nested():
            session.add(request)
    except IntegrityError:  # the partial unique index: one pending request per buyer
        raise ErasureRequestPending() from None
    _log(session, buyer.id, "requested", actor_type="staff" if staff else "buyer",
         actor_id=staff.id if staff else buyer.id, now=now, request_id=request.id, detail=CHANNEL_LABELS[channel])
    return request


def _pending(session: Session, request_id: int) -> PrivacyRequest:
    request = session.scalar(select(PrivacyRequest).where(PrivacyRequest.id == request_id).with_for_update())
    if request is None:
        raise ErasureRequestNotFound()
    if request.status != "pending":
        raise ErasureRequestClosed(details={"status": request.status})
    return request


def approve(session: Session, request_id: int, *, staff: StaffUser, now: datetime, settings: Settings) -> PrivacyRequest:
    """Carry out the erasure, or refuse it for the first hold (kept; ``ErasureHeld``)."""
    request = _pending(session, request_id)
    found = holds(session, request.buyer_id, now=now, settings=settings)
    if found:
        request.status, request.hold_code = "refused", found[0]
        request.decided_by_id, request.decided_at = staff.id, now
        _log(session, request.buyer_id, "refused", actor_type="staff", actor_id=staff.id, now=now,
             request_id=request.id, detail=",".join(found))
        session.flush()
        raise ErasureHeld(details={"request_id": request.id, "hold": found[0], "holds": found})
    erasure.anonymise(session, request.buyer, now=now)
    request.status, request.decided_by_id, request.decided_at = "erased", staff.id, now
    _log(session, request.buyer_id, "erased", actor_type="staff", actor_id=staff.id, now=now, request_id=request.id)
    session.flush()
    return request


def reject(session: Session, request_id: int, *, staff: StaffUser, note: str, now: datetime) -> PrivacyRequest:
    """Operations turn down a request that is not the buyer's (a note says why)."""
    request = _pending(session, request_id)
    request.status, request.decided_by_id, request.decided_at = "rejected", staff.id, now
    request.note = (note or "").strip()[:NOTE_MAX_LENGTH] or request.note
    _log(session, request.buyer_id, "rejected", actor_type="staff", actor_id=staff.id, now=now,
         request_id=request.id, detail=(note or "").strip()[:NOTE_MAX_LENGTH] or None)
    session.flush()
    return request


def list_requests(session: Session, *, status: str | None = None, buyer_id: int | None = None, page: int = 1,
                  per_page: int = 30) -> tuple[list[PrivacyRequest], int]:
    query = select(PrivacyRequest)
    if status:
        query = query.where(PrivacyRequest.status == status)
    if buyer_id:
        query = query.where(PrivacyRequest.buyer_id == buyer_id)
    return paginate(session, query, PrivacyRequest.created_at.desc(), PrivacyRequest.id.desc(), page=page,
                    per_page=per_page)


def requests_of(session: Session, buyer_id: int) -> list[PrivacyRequest]:
    return list(session.scalars(select(PrivacyRequest).where(PrivacyRequest.buyer_id == buyer_id)
                                .order_by(PrivacyRequest.id.desc()).limit(20)))


def events_of(session: Session, buyer_id: int) -> list[PrivacyEvent]:
    return list(session.scalars(select(PrivacyEvent).where(PrivacyEvent.buyer_id == buyer_id)
                                .order_by(PrivacyEvent.id.desc()).limit(100)))


#: The purpose logged when staff download a buyer's access copy (it holds his full phone).
ACCESS_COPY_PURPOSE = "答复客户查阅请求：导出个人信息副本"


def log_export(session: Session, buyer_id: int, *, actor_type: str, actor_id: int | None, now: datetime) -> None:
    """The copy was downloaded. By staff, it is also a full-phone read (DESIGN §7.6): a
    ``phone_reveals`` row, listed with every other reveal of that staff member."""
    _log(session, buyer_id, "exported", actor_type=actor_type, actor_id=actor_id, now=now)
    buyer = session.get(Buyer, buyer_id)
    if actor_type == "staff" and actor_id is not None and buyer is not None and buyer.erased_at is None:
        session.add(PhoneReveal(staff_user_id=actor_id, buyer_id=buyer_id, purpose=ACCESS_COPY_PURPOSE,
                                created_at=now))
