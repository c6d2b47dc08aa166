"""Every full-phone read by staff is an explicit, logged action (DESIGN §7.6, issue 15 §1).

Staff see masked phones by default everywhere (pages, JSON, exports): 前三后四, or the
project's stricter 前四后三. A project whose disclosure rule is ``full`` lets the developer's
site staff *reveal* the number (they call their own customers); platform operations and
admins may reveal any buyer's number for a stated purpose. A reveal is a POST naming its
purpose, and each one writes a ``phone_reveals`` row; the admin page lists them by staff
member. Consultants see full phones only of buyers they registered themselves (their own
registration and client-book views; never through these functions).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db import paginate
from ..errors import Forbidden, ValidationFailed
from ..identity.models import Buyer, StaffUser
from ..phones import mask_phone, national
from ..projects.models import ExistingCustomer
from ..projects.services import ExistingCustomerNotFound, visible_project
from ..registrations.models import PhoneReveal, Registration
from ..registrations.services import RegistrationNotFound
from ..visits import services as visits

PURPOSE_MAX_LENGTH = 100
PLATFORM_REVEALERS = ("admin", "operations")


class RevealNotAllowed(Forbidden):
    code, message = "phone_reveal_forbidden", "您的角色不能查看该客户的完整手机号"


def masked_for_staff(phone: str, rule: str = "first3_last4") -> str:
    """What staff see without a reveal: the project's mask, 前三后四 where the rule is ``full``."""
    return mask_phone(phone, "first3_last4" if rule == "full" else rule)


def masked_for_registration(registration: Registration) -> str:
    return masked_for_staff(registration.buyer.phone, registration.project.phone_disclosure)


def _purpose(purpose: str | None) -> str:
    text = (purpose or "").strip()
    if not text or len(text) > PURPOSE_MAX_LENGTH or any(ord(c) < 32 for c in text):
        raise ValidationFailed({"purpose": [f"请填写查看完整号码的用途（1–{PURPOSE_MAX_LENGTH} 个字）"]})
    return text


def _may_reveal(staff: StaffUser, disclosure: str) -> bool:
    return staff.role in PLATFORM_REVEALERS or (staff.role == "site_staff" and disclosure == "full")


def _log(session: Session, staff: StaffUser, buyer_id: int, purpose: str, now: datetime,
         registration_id: int | None = None) -> None:
    session.add(PhoneReveal(staff_user_id=staff.id, buyer_id=buyer_id, registration_id=registration_id,
                            purpose=purpose, created_at=now))
    session.flush()


def reveal_visit_phone(session: Session, staff: StaffUser, visit_id: int, *, purpose: str | None,
                       now: datetime) -> str:
    """The full number of a visit's buyer (site staff only where the project discloses it)."""
    text = _purpose(purpose)
    visit = visits.staff_visit(session, staff, visit_id)
    registration = visit.registration
    if not _may_reveal(staff, registration.project.phone_disclosure) or registration.buyer.erased_at:
        raise RevealNotAllowed()
    _log(session, staff, registration.buyer_id, f"到访 #{visit.id}：{text}", now, registration.id)
    return national(registration.buyer.phone)


def reveal_registration_phone(session: Session, staff: StaffUser, registration_id: int, *, purpose: str | None,
                              now: datetime) -> str:
    """The full number of a registration's buyer, for platform staff (operations, admins) who
    say why they need it (a call about an objection, a dispute …); the purpose is logged."""
    text = _purpose(purpose)
    registration = session.get(Registration, registration_id)
    if registration is None:
        raise RegistrationNotFound()
    if staff.role not in PLATFORM_REVEALERS or registration.buyer.erased_at:
        raise RevealNotAllowed()
    _log(session, staff, registration.buyer_id, f"报备 #{registration.id}：{text}", now, registration.id)
    return national(registration.buyer.phone)


def _buyer_id_for(session: Session, customer: ExistingCustomer, now: datetime) -> int:
    """Reveals name a buyer: the existing customer's, created on first sight like a registration would."""
    buyer_id = session.scalar(select(Buyer.id).where(Buyer.phone == customer.phone))
    if buyer_id is None:
        buyer = Buyer(phone=customer.phone, name=customer.name, created_at=now)
        try:
            with session.begin_nested():
                session.add(buyer)
            buyer_id = buyer.id
        except IntegrityError:
            buyer_id = session.scalar(select(Buyer.id).where(Buyer.phone == customer.phone))
    return buyer_id


def reveal_existing_customer(session: Session, staff: StaffUser, project_id: int, customer_id: int, *,
                             purpose: str | None, now: datetime) -> str:
    """The full number of an existing customer (已有客户): the sales office entered it; still logged."""
    text = _purpose(purpose)
    project = visible_project(session, project_id, staff)
    customer = session.get(ExistingCustomer, customer_id)
    if customer is None or customer.project_id != project.id:
        raise ExistingCustomerNotFound()
    _log(session, staff, _buyer_id_for(session, customer, now), f"老客户 #{customer.id}：{text}", now)
    return national(customer.phone)


def list_reveals(session: Session, *, staff_user_id: int | None = None, buyer_id: int | None = None,
                 page: int = 1, per_page: int = 50) -> tuple[list[PhoneReveal], int]:
    query = select(PhoneReveal)
    if staff_user_id:
        query = query.where(PhoneReveal.staff_user_id == staff_user_id)
    if buyer_id:
        query = query.where(PhoneReveal.buyer_id == buyer_id)
    return paginate(session, query, PhoneReveal.created_at.desc(), PhoneReveal.id.desc(), page=page,
                    per_page=per_page)


def reveal_counts_by_staff(session: Session) -> list[tuple[StaffUser, int]]:
    from sqlalchemy import func
    rows = session.execute(select(StaffUser, func.count(PhoneReveal.id)).join(
        PhoneReveal, PhoneReveal.staff_user_id == StaffUser.id).group_by(StaffUser.id)
        .order_by(func.count(PhoneReveal.id).desc()).limit(200)).all()
    return [(staff, count) for staff, count in rows]
