"""Loading, in bulk, what one upload's rows are matched against (``matching.ProjectFacts``).

Every query is set-based and index-backed, never one per row: whole phones through
``buyers.phone`` (unique index) in chunks; masked phones as one pass over the buyers
filtered by prefix and suffix, kept only when registered for the project (through
``registrations.buyer_id``); then the candidates' registrations and live deals in the
project by buyer id, and the first confirmed visit of 到访为王 registrations.
"""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy import String, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from ..clock import local_date
from ..db import among, id_chunks
from ..deals.models import Deal
from ..identity.models import Buyer
from ..projects.models import Project
from ..registrations.models import Registration
from ..visits.models import Visit
from .matching import BuyerFacts, DealFacts, ProjectFacts, RegistrationFacts, masked_keys
from .reading import ReadRow

ENDED_STATUSES = ("expired", "lost", "cancelled")


def _chunks(session: Session, values: Iterable) -> list[list]:
    return id_chunks(session, values)


def _masked_key_columns():
    """(rule, key text) expressions over ``buyers.phone`` (+86 and 11 digits)."""
    def part(start: int, length: int):
        return func.substr(Buyer.phone, start, length, type_=String)
    return (type_coerce(part(4, 3).concat(part(11, 4)), String(7)),
            type_coerce(part(4, 4).concat(part(12, 3)), String(7)))


def _registered_in(project_id: int):
    return select(Registration.id).where(Registration.buyer_id == Buyer.id,
                                         Registration.project_id == project_id).exists()


def _buyers_by_phone(session: Session, phones: set[str]) -> list[tuple[int, str, str | None]]:
    found = []
    for chunk in _chunks(session, phones):
        found.extend(session.execute(select(Buyer.id, Buyer.phone, Buyer.name)
                                     .where(among(session, Buyer.phone, chunk))).all())
    return found


def _buyers_by_mask(session: Session, project_id: int, keys: set[tuple[str, str, str]]) \
        -> list[tuple[int, str, str | None]]:
    """One pass over the buyers for both masking rules (chunked only beyond 20k keys a rule)."""
    by_rule: dict[str, list[str]] = {"first3_last4": [], "first4_last3": []}
    for rule, prefix, suffix in keys:
        by_rule[rule].append(prefix + suffix)
    first3_last4, first4_last3 = _masked_key_columns()
    chunks34, chunks43 = _chunks(session, by_rule["first3_last4"]), _chunks(session, by_rule["first4_last3"])
    found: dict[int, tuple] = {}
    for index in range(max(len(chunks34), len(chunks43))):
        tests = [among(session, column, chunks[index])
                 for column, chunks in ((first3_last4, chunks34), (first4_last3, chunks43)) if index < len(chunks)]
        for row in session.execute(select(Buyer.id, Buyer.phone, Buyer.name)
                                   .where(or_(*tests), _registered_in(project_id))):
            found[row[0]] = tuple(row)
    return list(found.values())


def _first_visits(session: Session, registration_ids: list[int]) -> dict[int, datetime]:
    first: dict[int, datetime] = {}
    for chunk in _chunks(session, registration_ids):
        first.update(session.execute(
            select(Visit.registration_id, func.min(Visit.confirmed_at))
            .where(among(session, Visit.registration_id, chunk), Visit.status == "confirmed",
                   Visit.confirmed_at.is_not(None))
            .group_by(Visit.registration_id)).all())
    return first


def _registration_facts(row, first_visit: datetime | None) -> RegistrationFacts | None:
    registration_id, buyer_id, consultant_id, mode, status, created_at, protected_until, ended_at = row
    if status == "lost":  # lost to another consultant's visit: it never held the buyer
        return None
    if mode == "visit_deal":  # 到访为王: only a confirmed visit binds
        if first_visit is None:
            return None
        protected_from = local_date(first_visit)
    else:
        protected_from = local_date(created_at)
    last_day = local_date(protected_until)
    if status in ENDED_STATUSES and ended_at is not None:
        last_day = min(last_day, local_date(ended_at))
    return RegistrationFacts(registration_id, buyer_id, consultant_id, protected_from, last_day, status)


def load_facts(session: Session, project: Project, rows: Iterable[ReadRow]) -> ProjectFacts:
    """The facts for ``rows``' phones in ``project``: a handful of queries whatever the row count."""
    phones: set[str] = set()
    keys: set[tuple[str, str, str]] = set()
    for row in rows:
        phones.update(row.phones)
        keys.update(masked_keys(m) for m in row.masked)
    buyers = {b[0]: b for b in _buyers_by_phone(session, phones)}
    masked_candidates: dict[tuple[str, str, str], list[int]] = {}
    if keys:
        for buyer in _buyers_by_mask(session, project.id, keys):
            buyers[buyer[0]] = buyer
            number = buyer[1][3:]
            for key in (("first3_last4", number[:3], number[-4:]), ("first4_last3", number[:4], number[-3:])):
                if key in keys:
                    masked_candidates.setdefault(key, []).append(buyer[0])
    names: dict[int, list[str]] = {buyer_id: [name] if name else [] for buyer_id, _, name in buyers.values()}

    registration_rows, deals = [], []
    for chunk in _chunks(session, buyers):
        registration_rows.extend(session.execute(
            select(Registration.id, Registration.buyer_id, Registration.consultant_id, Registration.protection_mode,
                   Registration.status, Registration.created_at, Registration.protected_until, Registration.ended_at,
                   Registration.buyer_name)
            .where(Registration.project_id == project.id, among(session, Registration.buyer_id, chunk))).all())
        deals.extend(DealFacts(*row) for row in session.execute(
            select(Deal.id, Deal.buyer_id, Deal.registration_id, Deal.unit, Deal.price_cents)
            .where(Deal.project_id == project.id, among(session, Deal.buyer_id, chunk), Deal.stage != "cancelled")
            .order_by(Deal.id)))
    first_visits = _first_visits(session, [r[0] for r in registration_rows if r[3] == "visit_deal"])
    registrations = []
    for row in registration_rows:
        names[row[1]].append(row[8])
        facts = _registration_facts(tuple(row[:8]), first_visits.get(row[0]))
        if facts is not None:
            registrations.append(facts)
    return ProjectFacts(project_name=project.name,
                        buyers=[BuyerFacts(i, phone, tuple(dict.fromkeys(names[i]))) for i, phone, _ in buyers.values()],
                        registrations=registrations, deals=deals, masked_candidates=masked_candidates)

