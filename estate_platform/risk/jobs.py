"""The nightly risk jobs (风控, DESIGN §4; issue 11 §3): one function per pattern.

Each reads a time window (``risk.rules.LOOKBACK_DAYS`` back from ``now``, longer where a
project's own window needs it) with set-based queries, chunked by id or by project,
applies each project's thresholds (``Project.risk_*``) through the pure rules, and
saves what it found with INSERT … ON CONFLICT DO NOTHING on the unique (kind,
subject_key): a re-run, or tomorrow's run that still sees the same facts, inserts
nothing. Each new flag against a consultant for his own conduct lowers his credit once
(``credit.services.risk_flagged``, keyed by the flag). Nothing is committed here: the
task (or the request that runs the jobs now) commits.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Iterable

from sqlalchemy import and_, extract, func, select, union_all
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from ..clock import end_of_local_day
from ..credit import services as credit
from ..deals.models import Deal
from ..evidence.models import EvidenceRecord
from ..identity.models import Buyer
from ..projects.models import Project
from ..registrations.models import Registration
from ..visits.models import Visit
from . import rules
from .models import RegistrationAttempt, RiskFlag

CHUNK = 500


@dataclass
class NewFlag:
    kind: str
    subject_key: str
    project_id: int
    finding: rules.Finding
    evidence: dict
    occurred_at: datetime
    consultant_id: int | None = None
    buyer_id: int | None = None
    registration_id: int | None = None
    deal_id: int | None = None


# --- shared plumbing ------------------------------------------------------------------------------------

def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _seconds_between(session: Session, start, end):
    """SQL for ``end - start`` in seconds, on PostgreSQL and SQLite (stored naive UTC)."""
    if _dialect(session) == "postgresql":
        return extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def save(session: Session, flags: Iterable[NewFlag], *, now: datetime) -> int:
    """Insert the flags not raised before; lower the credit of each new flag's consultant
    where the kind counts (rules.CREDIT_KINDS). Returns how many are new."""
    unique = {(f.kind, f.subject_key): f for f in flags}
    rows = [{"kind": f.kind, "subject_key": f.subject_key, "project_id": f.project_id,
             "consultant_id": f.consultant_id, "buyer_id": f.buyer_id, "registration_id": f.registration_id,
             "deal_id": f.deal_id, "score": f.finding.score, "reason_zh": f.finding.reason, "evidence": f.evidence,
             "occurred_at": f.occurred_at, "status": "open", "created_at": now, "updated_at": now}
            for f in unique.values()]
    if not rows:
        return 0
    table = RiskFlag.__table__
    insert = postgresql_insert if _dialect(session) == "postgresql" else sqlite_insert
    created = []
    for start in range(0, len(rows), 200):
        statement = (insert(table).values(rows[start:start + 200])
                     .on_conflict_do_nothing(index_elements=["kind", "subject_key"])
                     .returning(table.c.id, table.c.kind, table.c.consultant_id, table.c.reason_zh))
        created.extend(session.execute(statement).all())
    for flag_id, kind, consultant_id, reason in sorted(created):
        if kind in rules.CREDIT_KINDS and consultant_id is not None:
            credit.risk_flagged(session, consultant_id, flag_id, f"{rules.KIND_LABELS[kind]}：{reason}", now=now)
    return len(created)


def _since(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)


def _chunks(values: list, size: int = CHUNK):
    for start in range(0, len(values), size):
        yield values[start:start + size]


# --- 防截客: a visit confirmed minutes after its registration ------------------------------------------------

def flag_anti_interception(session: Session, *, now: datetime, days: int = rules.LOOKBACK_DAYS) -> int:
    elapsed = _seconds_between(session, Registration.created_at, Visit.confirmed_at)
    query = (select(Visit.id, Visit.confirmed_at, Registration.id, Registration.created_at,
                    Registration.project_id, Registration.consultant_id, Registration.buyer_id,
                    Project.risk_visit_within_minutes)
             .join(Registration, Registration.id == Visit.registration_id)
             .join(Project, Project.id == Registration.project_id)
             .where(Visit.status == "confirmed", Visit.confirmed_at >= _since(now, days), Visit.confirmed_at <= now,
                    elapsed <= Project.risk_visit_within_minutes * 60)
             .order_by(Visit.id))
    created, last_id = 0, 0
    while True:
        rows = session.execute(query.where(Visit.id > last_id).limit(CHUNK)).all()
        if not rows:
            return created
        last_id = rows[-1][0]
        flags = []
        for (visit_id, confirmed_at, registration_id, registered_at, project_id, consultant_id, buyer_id,
             minutes) in rows:
            finding = rules.anti_interception(confirmed_at - registered_at, minutes)
            if finding is None:
                continue
            flags.append(NewFlag(
                "anti_interception", f"visit:{visit_id}", project_id, finding,
                {"visit_id": visit_id, "registration_id": registration_id, "registered_at": registered_at.isoformat(),
                 "confirmed_at": confirmed_at.isoformat(),
                 "elapsed_seconds": int((confirmed_at - registered_at).total_seconds()), "threshold_minutes": minutes},
                confirmed_at, consultant_id=consultant_id, buyer_id=buyer_id, registration_id=registration_id))
        created += save(session, flags, now=now)


# --- short deal: subscribed hours after the registration -----------------------------------------------------

def flag_short_deals(session: Session, *, now: datetime, days: int = rules.LOOKBACK_DAYS) -> int:
    """The deal is recorded with its subscription day, not hour: the time from registration to
    subscription is at most the earlier of the recording and the end of that day."""
    query = (select(Deal.id, Deal.created_at, Deal.subscribed_on, Deal.project_id, Deal.consultant_id, Deal.buyer_id,
                    Registration.id, Registration.created_at, Project.risk_deal_within_hours)
             .join(Registration, Registration.id == Deal.registration_id)
             .join(Project, Project.id == Deal.project_id)
             .where(Deal.created_at >= _since(now, days), Deal.created_at <= now)
             .order_by(Deal.id))
    created, last_id = 0, 0
    while True:
        rows = session.execute(query.where(Deal.id > last_id).limit(CHUNK)).all()
        if not rows:
            return created
        last_id = rows[-1][0]
        flags = []
        for (deal_id, recorded_at, subscribed_on, project_id, consultant_id, buyer_id, registration_id, registered_at,
             hours) in rows:
            subscribed_by = min(recorded_at, end_of_local_day(subscribed_on))
            finding = rules.short_deal(subscribed_by - registered_at, hours)
            if finding is None:
                continue
            flags.append(NewFlag(
                "short_deal", f"deal:{deal_id}", project_id, finding,
                {"deal_id": deal_id, "registration_id": registration_id, "registered_at": registered_at.isoformat(),
                 "subscribed_on": subscribed_on.isoformat(), "recorded_at": recorded_at.isoformat(),
                 "elapsed_seconds_at_most": int((subscribed_by - registered_at).total_seconds()),
                 "threshold_hours": hours},
                subscribed_by, consultant_id=consultant_id, buyer_id=buyer_id, registration_id=registration_id,
                deal_id=deal_id))
        created += save(session, flags, now=now)


# --- registrations and attempts over windows: 撞单, velocity, fishing ------------------------------------------

def _activity(since: datetime, until: datetime, *, attempts_only_code: str | None = None):
    """Registrations and refused attempts in the window, as one set (project, consultant, time)."""
    attempts = select(RegistrationAttempt.project_id.label("project_id"),
                      RegistrationAttempt.consultant_id.label("consultant_id"),
                      RegistrationAttempt.created_at.label("created_at")).where(
        RegistrationAttempt.created_at >= since, RegistrationAttempt.created_at <= until)
    if attempts_only_code is not None:
        return attempts.where(RegistrationAttempt.code == attempts_only_code).subquery()
    registrations = select(Registration.project_id.label("project_id"),
                           Registration.consultant_id.label("consultant_id"),
                           Registration.created_at.label("created_at")).where(
        Registration.created_at >= since, Registration.created_at <= until)
    return union_all(registrations, attempts).subquery()


def _events(session: Session, *, project_id: int, since: datetime, until: datetime, consultant_id: int | None = None,
            code: str | None = None, with_registrations: bool = True) -> tuple[list[rules.Event], list]:
    """The window's events of a project (or of one consultant there), and the attempts' hashes."""
    events: list[rules.Event] = []
    if with_registrations:
        query = (select(Registration.id, Registration.consultant_id, Registration.buyer_id, Registration.created_at)
                 .where(Registration.project_id == project_id, Registration.created_at >= since,
                        Registration.created_at <= until))
        if consultant_id is not None:
            query = query.where(Registration.consultant_id == consultant_id)
        events += [rules.Event(at, ("r", id_), consultant, buyer)
                   for id_, consultant, buyer, at in session.execute(query)]
    query = select(RegistrationAttempt.id, RegistrationAttempt.consultant_id, RegistrationAttempt.buyer_id,
                   RegistrationAttempt.created_at, RegistrationAttempt.code,
                   RegistrationAttempt.buyer_phone_hash).where(
        RegistrationAttempt.project_id == project_id, RegistrationAttempt.created_at >= since,
        RegistrationAttempt.created_at <= until)
    if consultant_id is not None:
        query = query.where(RegistrationAttempt.consultant_id == consultant_id)
    if code is not None:
        query = query.where(RegistrationAttempt.code == code)
    hashes = []
    for id_, consultant, buyer, at, code_, phone_hash in session.execute(query):
        events.append(rules.Event(at, ("a", id_), consultant, buyer, code_))
        hashes.append((("a", id_), phone_hash))
    return events, hashes


def _latest_buyer(members: list[rules.Event]) -> int | None:
    known = [e for e in members if e.buyer_id is not None]
    return known[-1].buyer_id if known else None


def _per_consultant(session: Session, kind: str, *, now: datetime, days: int, count_column, minutes_of: Callable,
                    code: str | None, with_registrations: bool, finding_of: Callable) -> int:
    """Velocity and fishing: (project, consultant) pairs whose window total can reach the
    project's threshold (one GROUP BY … HAVING), then each pair's episodes."""
    until = now
    longest = session.scalar(select(func.max(minutes_of(Project)))) or 0
    since = now - max(timedelta(days=days), timedelta(minutes=2 * longest))
    activity = _activity(since, until, attempts_only_code=None if with_registrations else code)
    pairs = session.execute(
        select(activity.c.project_id, activity.c.consultant_id)
        .join(Project, Project.id == activity.c.project_id)
        .group_by(activity.c.project_id, activity.c.consultant_id, count_column)
        .having(func.count() >= count_column)
        .order_by(activity.c.project_id, activity.c.consultant_id)).all()
    created = 0
    for chunk in _chunks(pairs):
        projects = {p.id: p for p in session.scalars(select(Project).where(Project.id.in_({p for p, _ in chunk})))}
        flags = []
        for project_id, consultant_id in chunk:
            project = projects[project_id]
            threshold, minutes = getattr(project, count_column.key), minutes_of(project)
            events, _ = _events(session, project_id=project_id, consultant_id=consultant_id, since=since, until=until,
                                code=code, with_registrations=with_registrations)
            for episode in rules.episodes(events, timedelta(minutes=minutes), threshold):
                trigger = episode.trigger
                flags.append(NewFlag(
                    kind, f"project:{project_id}:consultant:{consultant_id}:{trigger.ref[0]}{trigger.ref[1]}",
                    project_id, finding_of(episode.peak, threshold, minutes),
                    rules.episode_evidence(episode, window={"window_minutes": minutes}, threshold=threshold),
                    trigger.at, consultant_id=consultant_id, buyer_id=_latest_buyer(episode.members)))
        created += save(session, flags, now=now)
    return created


def flag_velocity(session: Session, *, now: datetime, days: int = rules.LOOKBACK_DAYS) -> int:
    """One consultant registering or attempting many buyers of a project in a short time."""
    return _per_consultant(session, "velocity", now=now, days=days, count_column=Project.risk_velocity_count,
                           minutes_of=lambda p: p.risk_velocity_minutes, code=None, with_registrations=True,
                           finding_of=rules.velocity)


def flag_fishing(session: Session, *, now: datetime, days: int = rules.LOOKBACK_DAYS) -> int:
    """A consultant whose attempts keep hitting the developer's existing customers (钓鱼: who is known?)."""
    return _per_consultant(session, "fishing", now=now, days=days, count_column=Project.risk_fishing_refusals,
                           minutes_of=lambda p: p.risk_fishing_days * 24 * 60, code="buyer_known_to_developer",
                           with_registrations=False,
                           finding_of=lambda n, threshold, minutes: rules.fishing(n, threshold, minutes // (24 * 60)))


def flag_collisions(session: Session, *, now: datetime, phone_key: str | None = None,
                    days: int = rules.LOOKBACK_DAYS) -> int:
    """撞单: one buyer registered or attempted by K consultants of a project within the window.

    A buyer is his id where the registration or the refusal knew him; an attempt refused
    before he was looked up has only the keyed hash of his phone, matched to the buyers of
    the same window with ``phone_key`` (the app secret) when it is given."""
    longest = session.scalar(select(func.max(Project.risk_collision_days))) or 0
    since, until = now - timedelta(days=max(days, 2 * longest)), now
    activity = _activity(since, until)
    project_ids = session.scalars(
        select(activity.c.project_id).join(Project, Project.id == activity.c.project_id)
        .group_by(activity.c.project_id, Project.risk_collision_consultants)
        .having(func.count(func.distinct(activity.c.consultant_id)) >= Project.risk_collision_consultants)
        .order_by(activity.c.project_id)).all()
    created = 0
    for project_id in project_ids:
        project = session.get(Project, project_id)
        events, hashes = _events(session, project_id=project_id, since=since, until=until)
        identity = _buyer_identities(session, events, hashes, phone_key)
        by_buyer: dict[str, list[rules.Event]] = {}
        for event in events:
            if event.ref in identity:
                by_buyer.setdefault(identity[event.ref], []).append(event)
        flags = []
        window = timedelta(days=project.risk_collision_days)
        for buyer_key, buyer_events in sorted(by_buyer.items()):
            for episode in rules.episodes(buyer_events, window, project.risk_collision_consultants,
                                          rules.distinct_consultants):
                trigger = episode.trigger
                buyer_id = int(buyer_key[1:]) if buyer_key.startswith("b") else None
                flags.append(NewFlag(
                    "collision", f"project:{project_id}:buyer:{buyer_key}:{trigger.ref[0]}{trigger.ref[1]}", project_id,
                    rules.collision(episode.peak, project.risk_collision_consultants, project.risk_collision_days),
                    rules.episode_evidence(episode, window={"window_days": project.risk_collision_days},
                                           threshold=project.risk_collision_consultants),
                    trigger.at, consultant_id=trigger.consultant_id, buyer_id=buyer_id))
        created += save(session, flags, now=now)
    return created


def _buyer_identities(session: Session, events: list[rules.Event], hashes: list, phone_key: str | None) -> dict:
    """ref → "b<buyer id>" or "h<hash prefix>"; events naming no buyer at all are left out."""
    identity = {e.ref: f"b{e.buyer_id}" for e in events if e.buyer_id is not None}
    unknown = [(ref, phone_hash) for ref, phone_hash in hashes if ref not in identity and phone_hash]
    if not unknown:
        return identity
    known_by_hash: dict[str, int] = {}
    if phone_key:
        buyer_ids = sorted({e.buyer_id for e in events if e.buyer_id is not None})
        for chunk in _chunks(buyer_ids):
            for buyer_id, phone in session.execute(select(Buyer.id, Buyer.phone).where(Buyer.id.in_(chunk))):
                known_by_hash[rules.phone_hash(phone, phone_key)] = buyer_id
    for ref, phone_hash in unknown:
        identity[ref] = f"b{known_by_hash[phone_hash]}" if phone_hash in known_by_hash else f"h{phone_hash[:24]}"
    return identity


# --- deals: a price corrected downward; a cancelled unit re-recorded for another buyer ---------------------------

def flag_price_drops(session: Session, *, now: datetime, days: int = rules.LOOKBACK_DAYS) -> int:
    """Each ``price_corrected`` event of the evidence chain that cut the price by at least the
    project's threshold. Deals changed in the window lead to their events (the chain's index)."""
    since = _since(now, days)
    changed = select(Deal.id).where(Deal.updated_at >= since)
    query = (select(EvidenceRecord.id, EvidenceRecord.subject_id, EvidenceRecord.payload, EvidenceRecord.created_at,
                    Deal.project_id, Deal.consultant_id, Deal.buyer_id, Deal.registration_id, Deal.unit,
                    Deal.subscribed_on, Project.risk_price_drop_bps)
             .join(Deal, and_(EvidenceRecord.subject_type == "deal", Deal.id == EvidenceRecord.subject_id))
             .join(Project, Project.id == Deal.project_id)
             .where(EvidenceRecord.subject_type == "deal", EvidenceRecord.subject_id.in_(changed),
                    EvidenceRecord.event == "price_corrected", EvidenceRecord.created_at >= since,
                    EvidenceRecord.created_at <= now)
             .order_by(EvidenceRecord.id))
    created, last_id = 0, 0
    while True:
        rows = session.execute(query.where(EvidenceRecord.id > last_id).limit(CHUNK)).all()
        if not rows:
            return created
        last_id = rows[-1][0]
        flags = []
        for (record_id, deal_id, payload, at, project_id, consultant_id, buyer_id, registration_id, unit,
             subscribed_on, threshold) in rows:
            event = json.loads(payload)
            before, after = event.get("from_price_cents"), event.get("to_price_cents")
            if not isinstance(before, int) or not isinstance(after, int):
                continue
            finding = rules.price_drop(before, after, threshold)
            if finding is None:
                continue
            flags.append(NewFlag(
                "price_drop", f"evidence:{record_id}", project_id, finding,
                {"deal_id": deal_id, "evidence_record_id": record_id, "unit": unit, "from_price_cents": before,
                 "to_price_cents": after, "drop_bps": (before - after) * 10_000 // before, "threshold_bps": threshold,
                 "corrected_at": at.isoformat(), "subscribed_on": subscribed_on.isoformat(),
                 "reason": event.get("reason")},
                at, consultant_id=consultant_id, buyer_id=buyer_id, registration_id=registration_id, deal_id=deal_id))
        created += save(session, flags, now=now)


def flag_rerecorded_units(session: Session, *, now: datetime, days: int = rules.LOOKBACK_DAYS) -> int:
    """A deal cancelled (退房) and its unit recorded again for another buyer within the window."""
    cancelled, again = aliased(Deal), aliased(Deal)
    elapsed = _seconds_between(session, cancelled.cancelled_at, again.created_at)
    query = (select(again.id, again.created_at, again.buyer_id, again.consultant_id, cancelled.id,
                    cancelled.cancelled_at, cancelled.buyer_id, cancelled.consultant_id, cancelled.registration_id,
                    cancelled.unit, cancelled.price_cents, again.price_cents, cancelled.project_id,
                    Project.risk_rerecord_days)
             .join(cancelled, and_(cancelled.project_id == again.project_id, cancelled.unit == again.unit,
                                   cancelled.stage == "cancelled", cancelled.buyer_id != again.buyer_id,
                                   cancelled.id != again.id))
             .join(Project, Project.id == again.project_id)
             .where(again.created_at >= _since(now, days), again.created_at <= now,
                    cancelled.cancelled_at <= again.created_at, elapsed <= Project.risk_rerecord_days * 86400)
             .order_by(again.id, cancelled.id))
    created, last = 0, (0, 0)
    while True:
        rows = session.execute(query.where((again.id > last[0]) | and_(again.id == last[0], cancelled.id > last[1]))
                               .limit(CHUNK)).all()
        if not rows:
            return created
        last = (rows[-1][0], rows[-1][4])
        flags = []
        for (new_id, recorded_at, new_buyer_id, new_consultant_id, old_id, cancelled_at, buyer_id, consultant_id,
             registration_id, unit, old_price, new_price, project_id, within_days) in rows:
            finding = rules.unit_rerecorded(recorded_at - cancelled_at, within_days, unit)
            if finding is None:
                continue
            flags.append(NewFlag(
                "unit_rerecorded", f"deal:{old_id}:deal:{new_id}", project_id, finding,
                {"cancelled_deal_id": old_id, "new_deal_id": new_id, "unit": unit,
                 "cancelled_at": cancelled_at.isoformat(), "recorded_at": recorded_at.isoformat(),
                 "elapsed_seconds": int((recorded_at - cancelled_at).total_seconds()), "threshold_days": within_days,
                 "new_buyer_id": new_buyer_id, "new_consultant_id": new_consultant_id,
                 "cancelled_price_cents": old_price, "new_price_cents": new_price},
                recorded_at, consultant_id=consultant_id, buyer_id=buyer_id, registration_id=registration_id,
                deal_id=old_id))
        created += save(session, flags, now=now)


# --- all of them ---------------------------------------------------------------------------------------------

JOBS = ("anti_interception", "short_deal", "collision", "velocity", "fishing", "price_drop", "unit_rerecorded")


def run_job(session: Session, kind: str, *, now: datetime, phone_key: str | None = None,
            days: int = rules.LOOKBACK_DAYS) -> int:
    if kind == "collision":
        return flag_collisions(session, now=now, phone_key=phone_key, days=days)
    job = {"anti_interception": flag_anti_interception, "short_deal": flag_short_deals, "velocity": flag_velocity,
           "fishing": flag_fishing, "price_drop": flag_price_drops, "unit_rerecorded": flag_rerecorded_units}[kind]
    return job(session, now=now, days=days)


def run_all(session: Session, *, now: datetime, phone_key: str | None = None,
            days: int = rules.LOOKBACK_DAYS) -> dict[str, int]:
    """Every job once; new flags per kind."""
    return {kind: run_job(session, kind, now=now, phone_key=phone_key, days=days) for kind in JOBS}
