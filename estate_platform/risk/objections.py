"""A buyer's objection to his registration as a risk flag (客户否认报备, issue 15 §1, DESIGN §4).

The registration SMS (privacy.notices) lets the buyer say he never asked to be registered.
Fake registrations are exactly what the risk queue is for, so the objection raises a
``buyer_objection`` flag at once, in the objection's own unit of work, about the
registering consultant: operations see it beside the nightly patterns, dismiss it with a
reason or open a dispute from it. The flag is keyed by the registration, so a second
objection (or a retried request) raises nothing new.

The consultant is not told of the flag: DESIGN §4 tells him of a dispute opened against
him, not of a suspicion; and a buyer who objected should not be pressed by the consultant
he objected to before operations have called him.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from ..registrations.models import Registration
from . import jobs, rules

KIND = "buyer_objection"


def subject_key(registration_id: int) -> str:
    return f"registration:{registration_id}"


def flag_objection(session: Session, registration: Registration, *, objection_id: int, gave_reason: bool,
                   now: datetime) -> int:
    """Raise the flag for this registration's objection; 1 if new, 0 if it was raised before."""
    finding = rules.buyer_objection(now - registration.created_at, objection_id=objection_id, gave_reason=gave_reason)
    return jobs.save(session, [jobs.NewFlag(
        kind=KIND, subject_key=subject_key(registration.id), project_id=registration.project_id, finding=finding,
        evidence={"registration_id": registration.id, "objection_id": objection_id,
                  "registered_at": registration.created_at.isoformat(), "objected_at": now.isoformat()},
        occurred_at=now, consultant_id=registration.consultant_id, buyer_id=registration.buyer_id,
        registration_id=registration.id)], now=now)
