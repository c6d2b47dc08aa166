"""Existing customers (案场老客户): buyers a sales office already knows, who can no longer be
registered to its project (DESIGN §2). Marks and unmarks go into the project's evidence chain
under the buyer's own key (evidence.pseudonyms), never his phone or name."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import ValidationFailed
from ..evidence import services as evidence
from ..evidence.pseudonyms import buyer_facts
from ..evidence.services import Actor
from ..identity.models import Buyer, StaffUser
from ..phones import InvalidPhone, normalise_phone
from ..registrations.models import OPEN_STATUSES, Registration
from .models import ExistingCustomer
from .services import (AlreadyExistingCustomer, BuyerUnderRegistration, ExistingCustomerNotFound,
                       is_existing_customer, visible_project)


def mark_existing_customer(session: Session, project_id: int, *, phone: str, name: str | None,
                           staff: StaffUser, now: datetime) -> ExistingCustomer:
    """Site staff (or operations) record a buyer the sales office already knows; he can
    no longer be registered to this project. Kept in the project's evidence chain."""
    project = visible_project(session, project_id, staff)
    errors: dict[str, list[str]] = {}
    normalised = ""
    try:
        normalised = normalise_phone(phone)
    except InvalidPhone:
        errors["phone"] = ["请输入有效的中国大陆手机号"]
    clean_name = (name or "").strip() or None
    if clean_name and len(clean_name) > 50:
        errors["name"] = ["姓名不能超过 50 个字"]
    if errors:
        raise ValidationFailed(errors)
    if is_existing_customer(session, project.id, normalised):
        raise AlreadyExistingCustomer()
    open_registration = session.scalar(
        select(Registration.id).join(Buyer, Buyer.id == Registration.buyer_id)
        .where(Registration.project_id == project.id, Registration.status.in_(OPEN_STATUSES),
               Buyer.phone == normalised).limit(1))
    if open_registration is not None:
        raise BuyerUnderRegistration()
    customer = ExistingCustomer(project_id=project.id, phone=normalised, name=clean_name, marked_by_id=staff.id,
                                created_at=now)
    try:
        with session.begin_nested():
            session.add(customer)
            session.flush()
    except IntegrityError:  # marked by a concurrent request
        raise AlreadyExistingCustomer() from None
    evidence.append(session, "project", project.id, "existing_customer_marked", Actor("staff", staff.id), now=now,
                    existing_customer_id=customer.id,
                    **buyer_facts(_evidence_key(session, normalised, clean_name, now), normalised, clean_name))
    return customer


def _evidence_key(session: Session, phone: str, name: str | None, now: datetime) -> str | None:
    """The per-buyer key the project's chain hashes this phone under (evidence.pseudonyms):
    the buyer of the phone, created on first sight like a registration creates him."""
    known = session.execute(select(Buyer.id, Buyer.evidence_key).where(Buyer.phone == phone)).first()
    if known is not None:
        return known.evidence_key
    buyer = Buyer(phone=phone, name=name, created_at=now)
    try:
        with session.begin_nested():
            session.add(buyer)
        return buyer.evidence_key
    except IntegrityError:  # created by a concurrent request
        return session.scalar(select(Buyer.evidence_key).where(Buyer.phone == phone))


def unmark_existing_customer(session: Session, project_id: int, customer_id: int, *, staff: StaffUser,
                             now: datetime) -> None:
    """Remove a mark made by mistake; the buyer can be registered again."""
    project = visible_project(session, project_id, staff)
    customer = session.get(ExistingCustomer, customer_id)
    if customer is None or customer.project_id != project.id:
        raise ExistingCustomerNotFound()
    evidence.append(session, "project", project.id, "existing_customer_unmarked", Actor("staff", staff.id), now=now,
                    existing_customer_id=customer.id,
                    **buyer_facts(_evidence_key(session, customer.phone, customer.name, now), customer.phone,
                                  customer.name),
                    marked_by_id=customer.marked_by_id, marked_at=customer.created_at.isoformat())
    session.delete(customer)
    session.flush()


def list_existing_customers(session: Session, project_id: int, *, staff: StaffUser, page: int = 1,
                            per_page: int = 50) -> tuple[list[ExistingCustomer], int]:
    project = visible_project(session, project_id, staff)
    query = select(ExistingCustomer).where(ExistingCustomer.project_id == project.id)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(query.order_by(ExistingCustomer.created_at.desc(), ExistingCustomer.id.desc())
                           .offset((page - 1) * per_page).limit(per_page)).all()
    return list(rows), total
