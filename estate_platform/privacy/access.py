"""What the platform holds about one buyer (查阅复制, PIPL art. 45, issue 15 §1).

Exactly his data: every row is selected by his buyer id (or his registrations' ids), so
another buyer's name, phone or rows never appear. Consultants appear by their public name
only; staff not at all. Consultants' private notes on their client cards are their work
notes and are not part of the copy (their existence and his name on the card are).
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..consultants.models import Consultant
from ..crm.models import ClientCard
from ..deals.models import Deal
from ..disputes.models import Dispute
from ..handoffs.models import Handoff
from ..identity.models import Buyer
from ..invites.models import Attribution
from ..phones import national
from ..projects.models import Project
from ..reconciliation.models import SalesListRow
from ..referrals.models import BuyerReferralCode
from ..registrations.models import Registration
from ..revisits.models import Revisit
from ..visits.models import Visit
from .models import PrivacyRequest, RegistrationObjection


def _iso(value):
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def _public_name(consultant) -> str:
    return f"{consultant.name[:1]}顾问" if consultant is not None and consultant.name else "平台顾问"


def export(session: Session, buyer: Buyer, *, now: datetime) -> dict:
    """A JSON-ready copy of the buyer's data (a bounded number of queries, no N+1)."""
    registrations = list(session.scalars(select(Registration).where(Registration.buyer_id == buyer.id)
                                         .order_by(Registration.id)))
    registration_ids = [r.id for r in registrations]
    projects = {p.id: p.name for p in session.scalars(select(Project).where(Project.id.in_(
        {r.project_id for r in registrations}
        | set(session.scalars(select(Deal.project_id).where(Deal.buyer_id == buyer.id))))))}
    visits = list(session.scalars(select(Visit).where(Visit.registration_id.in_(registration_ids))
                                  .order_by(Visit.id))) if registration_ids else []
    deals = list(session.scalars(select(Deal).where(Deal.buyer_id == buyer.id).order_by(Deal.id)))
    handoffs = list(session.scalars(select(Handoff).where(Handoff.buyer_id == buyer.id).order_by(Handoff.id)))
    code = session.scalar(select(BuyerReferralCode.code).where(BuyerReferralCode.buyer_id == buyer.id))
    return {
        "generated_at": now.isoformat(),
        "buyer": {"id": buyer.id, "phone": None if buyer.erased_at else national(buyer.phone), "name": buyer.name,
                  "created_at": _iso(buyer.created_at), "last_login_at": _iso(buyer.last_login_at),
                  "erased_at": _iso(buyer.erased_at)},
        "registrations": [{"id": r.id, "project": projects.get(r.project_id), "consultant": _public_name(r.consultant),
                           "name_given": r.buyer_name, "status": r.status, "created_at": _iso(r.created_at),
                           "protected_until": _iso(r.protected_until), "ended_at": _iso(r.ended_at),
                           "sms_notice": r.buyer_notice} for r in registrations],
        "visits": [{"id": v.id, "registration_id": v.registration_id, "scheduled_at": _iso(v.scheduled_at),
                    "status": v.status, "confirmed_at": _iso(v.confirmed_at)} for v in visits],
        "deals": [{"id": d.id, "project": projects.get(d.project_id), "unit": d.unit, "stage": d.stage,
                   "price_cents": d.price_cents, "subscribed_on": _iso(d.subscribed_on)} for d in deals],
        "handoffs": [{"id": h.id, "project_id": h.project_id, "status": h.status, "created_at": _iso(h.created_at)}
                     for h in handoffs],
        "client_cards": [{"consultant": _public_name(consultant), "name_given": card.display_name, "tier": card.tier,
                          "created_at": _iso(card.created_at)}
                         for card, consultant in session.execute(
                             select(ClientCard, Consultant).join(Consultant, Consultant.id == ClientCard.consultant_id)
                             .where(ClientCard.buyer_id == buyer.id).order_by(ClientCard.id))],
        "attributions": [{"project_id": a.project_id, "first_opened_at": _iso(a.first_opened_at),
                          "expires_at": _iso(a.expires_at)}
                         for a in session.scalars(select(Attribution).where(Attribution.buyer_id == buyer.id)
                                                  .order_by(Attribution.id))],
        "revisits": [{"id": r.id, "kind": r.kind, "status": r.status, "outcome": r.outcome,
                      "created_at": _iso(r.created_at)}
                     for r in session.scalars(select(Revisit).where(Revisit.buyer_id == buyer.id)
                                              .order_by(Revisit.id))],
        "disputes": [{"id": d.id, "status": d.status, "created_at": _iso(d.created_at)}
                     for d in session.scalars(select(Dispute).where(Dispute.buyer_id == buyer.id)
                                              .order_by(Dispute.id))],
        "developer_sales_lists": [{"line": s.line, "unit": s.unit, "price_cents": s.price_cents,
                                   "sale_date": _iso(s.sale_date), "phone_masked": s.phone_masked}
                                  for s in session.scalars(select(SalesListRow).where(SalesListRow.buyer_id == buyer.id)
                                                           .order_by(SalesListRow.id))],
        "referral_code": code,
        "objections": [{"registration_id": o.registration_id, "reason": o.reason, "created_at": _iso(o.created_at)}
                       for o in session.scalars(select(RegistrationObjection)
                                                .where(RegistrationObjection.buyer_id == buyer.id))],
        "privacy_requests": [{"id": p.id, "status": p.status, "hold": p.hold_code, "created_at": _iso(p.created_at)}
                             for p in session.scalars(select(PrivacyRequest).where(PrivacyRequest.buyer_id == buyer.id)
                                                      .order_by(PrivacyRequest.id))],
    }
