"""When consultants' money becomes payable (可提现, DESIGN §5, §5a; issue 12 §2).

A deal's consultant and 老带新 buyer lines are recognised as ``pending``. They move to
``available`` only here, through the ledger, in steps (:class:`CommissionRelease`):

* ``pay_when_paid`` (the default): in proportion to what was applied to the deal's receivable;
* ``advance``: all of it N days after recognition (or earlier as the developer pays); the
  platform carries the risk;
* an open dispute on the deal holds every step up (an undo may still take money back); the
  hourly sweep releases what was held once the dispute is closed.

Every step is computed from stored state (what was applied, what each line released), so
running it twice moves nothing the second time. Callers hold the developer's row lock
(:func:`lock_developer`), which serialises every collection, undo and release of its deals.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..commissions.models import CommissionLine
from ..db import among, bulk_insert, id_chunks
from ..deals.models import Deal
from ..disputes.models import Dispute
from ..disputes.rules import OPEN_STATUSES
from ..ledger import services as ledger
from ..ledger.services import Entry, Leg
from ..money import yuan
from ..projects.models import Developer, Project
from .allocation import release_step
from .models import (Collection, CollectionAllocation, CommissionRelease, CommissionReleaseLine,
                     DeveloperContract)


def lock_developer(session: Session, developer_id: int) -> Developer | None:
    """The developer's row, locked for this transaction (SELECT … FOR UPDATE on PostgreSQL)."""
    return session.scalar(select(Developer).where(Developer.id == developer_id).with_for_update())


@dataclass(frozen=True)
class Terms:
    payable_when: str = "pay_when_paid"
    advance_days: int | None = None


def contract_terms(session: Session, developer_ids: Iterable[int]) -> dict[int, Terms]:
    ids = sorted(set(developer_ids))
    rows = session.execute(select(DeveloperContract.developer_id, DeveloperContract.payable_when,
                                  DeveloperContract.advance_days).where(among(session, DeveloperContract.developer_id, ids))) if ids else []
    terms = {i: Terms() for i in ids}
    terms.update({d: Terms(p, n) for d, p, n in rows})
    return terms


def applied_by_deal(session: Session, deal_ids: Iterable[int]) -> dict[int, int]:
    """What standing (not undone) collections applied to each deal's receivable."""
    result: dict[int, int] = defaultdict(int)
    for chunk in id_chunks(session, deal_ids):
        rows = session.execute(select(CollectionAllocation.deal_id, func.sum(CollectionAllocation.amount_cents))
                               .join(Collection, Collection.id == CollectionAllocation.collection_id)
                               .where(Collection.reversed_at.is_(None),
                                      among(session, CollectionAllocation.deal_id, chunk))
                               .group_by(CollectionAllocation.deal_id))
        for deal_id, total in rows:
            result[deal_id] = int(total or 0)
    return result


def disputed_deals(session: Session, deal_ids: Iterable[int]) -> set[int]:
    held: set[int] = set()
    for chunk in id_chunks(session, deal_ids):
        held.update(session.scalars(select(Dispute.deal_id).where(among(session, Dispute.deal_id, chunk),
                                                                  Dispute.status.in_(OPEN_STATUSES))))
    return held


@dataclass
class LineState:
    line: CommissionLine  # or a dispute stake's ``stakes.StakeLine``
    released_cents: int


@dataclass
class DealState:
    """Where one receivable source stands: a deal (``kind`` "deal"), or the stake of a dispute
    upheld against the developer (``kind`` "dispute", ``deal`` None). One rule serves both."""
    deal: Deal | None
    developer_id: int
    lines: list[LineState]
    basis_cents: int
    last_seq: int
    recognised_at: datetime | None
    kind: str = "deal"
    source_id: int = 0
    face_cents: int = 0  # the receivable: the deal's commission, or the stake
    version: int = 0
    label: str = ""

    @property
    def key(self) -> tuple[str, int]:
        return (self.kind, self.source_id)


def load_states(session: Session, deal_ids: Iterable[int]) -> dict[int, DealState]:
    """Each recognised deal's current lines, what each released, and the release basis."""
    states: dict[int, DealState] = {}
    for chunk in id_chunks(session, deal_ids):
        rows = session.execute(select(Deal, Project.developer_id).join(Project, Project.id == Deal.project_id)
                               .where(among(session, Deal.id, chunk)))
        deals = {deal.id: (deal, developer_id) for deal, developer_id in rows
                 if deal.recognised and deal.stage != "cancelled" and deal.commission_cents > 0}
        if not deals:
            continue
        lines = session.scalars(select(CommissionLine).where(among(session, CommissionLine.deal_id, list(deals)))
                                .order_by(CommissionLine.deal_id, CommissionLine.seq))
        current: dict[int, list[CommissionLine]] = defaultdict(list)
        for line in lines:
            if line.version == deals[line.deal_id][0].lines_version:
                current[line.deal_id].append(line)
        line_ids = [line.id for group in current.values() for line in group]
        released = dict(session.execute(
            select(CommissionReleaseLine.line_id, func.sum(CommissionReleaseLine.amount_cents))
            .where(among(session, CommissionReleaseLine.line_id, line_ids))
            .group_by(CommissionReleaseLine.line_id)).all()) if line_ids else {}
        steps = session.execute(select(CommissionRelease.deal_id, CommissionRelease.version,
                                       CommissionRelease.seq, CommissionRelease.basis_to_cents)
                                .where(among(session, CommissionRelease.deal_id, list(deals))))
        last: dict[tuple[int, int], tuple[int, int]] = {}
        for deal_id, version, seq, basis in steps:
            if seq > last.get((deal_id, version), (0, 0))[0]:
                last[(deal_id, version)] = (seq, basis)
        for deal_id, (deal, developer_id) in deals.items():
            group = current.get(deal_id, [])
            seq, basis = last.get((deal_id, deal.lines_version), (0, 0))
            states[deal_id] = DealState(
                deal=deal, developer_id=developer_id, basis_cents=basis, last_seq=seq,
                lines=[LineState(line, int(released.get(line.id, 0))) for line in group],
                recognised_at=min((line.created_at for line in group), default=None),
                kind="deal", source_id=deal_id, face_cents=deal.commission_cents, version=deal.lines_version,
                label=f"成交 #{deal_id}（{deal.unit}）")
    return states


def load_stake_states(session: Session, dispute_ids: Iterable[int]) -> dict[int, DealState]:
    """Each upheld stake's lines, what each released, and the release basis (by dispute id)."""
    from . import stakes
    found = stakes.stakes(session, dispute_ids=dispute_ids)
    released, last = stakes.release_progress(session, sorted(found))
    states = {}
    for dispute_id, stake in found.items():
        seq, basis = last.get(dispute_id, (0, 0))
        states[dispute_id] = DealState(
            deal=None, developer_id=stake.developer_id, basis_cents=basis, last_seq=seq,
            lines=[LineState(line, released.get((dispute_id, line.seq), 0)) for line in stake.lines],
            recognised_at=stake.decided_at, kind="dispute", source_id=dispute_id, face_cents=stake.cents,
            version=1, label=f"争议 #{dispute_id} 涉及佣金")
    return states


def target_basis(state: DealState, terms: Terms, applied_cents: int, now: datetime) -> int:
    """How much of the receivable the released lines should stand for now."""
    commission = state.face_cents
    target = max(0, min(applied_cents, commission))
    if (terms.payable_when == "advance" and state.recognised_at is not None
            and now >= state.recognised_at + timedelta(days=terms.advance_days or 0)):
        target = commission
    return target


def plan_step(state: DealState, target: int) -> list[tuple[LineState, int]]:
    """Signed part of each consultant/buyer line moving from ``basis`` to ``target``."""
    commission = state.face_cents
    parties = [ls for ls in state.lines if ls.line.party_type != "platform"]
    if target > state.basis_cents:
        remaining = [ls.line.amount_cents - ls.released_cents for ls in parties]
        left = commission - state.basis_cents
        parts = release_step(target - state.basis_cents, [*remaining, left - sum(remaining)], left)
        return list(zip(parties, parts[:-1]))
    released = [ls.released_cents for ls in parties]
    parts = release_step(state.basis_cents - target, [*released, state.basis_cents - sum(released)],
                         state.basis_cents)
    return [(ls, -part) for ls, part in zip(parties, parts[:-1])]


def sync(session: Session, deal_ids: Iterable[int], *, now: datetime, reason: str,
         actor_type: str = "system", actor_id: int | None = None, dispute_ids: Iterable[int] = ()) -> int:
    """Bring each receivable source's released lines (these deals', these disputes' stakes) to
    where its developer's rule puts them. Returns the number of steps taken. The caller holds
    the developers' row locks."""
    deal_ids, dispute_ids = sorted(set(deal_ids)), sorted(set(dispute_ids))
    if not deal_ids and not dispute_ids:
        return 0
    states = {("deal", i): st for i, st in (load_states(session, deal_ids) if deal_ids else {}).items()}
    states.update({("dispute", i): st for i, st in
                   (load_stake_states(session, dispute_ids) if dispute_ids else {}).items()})
    if not states:
        return 0
    terms = contract_terms(session, {s.developer_id for s in states.values()})
    applied = {("deal", i): c for i, c in applied_by_deal(session, [k[1] for k in states if k[0] == "deal"]).items()}
    stake_ids = [k[1] for k in states if k[0] == "dispute"]
    if stake_ids:
        from .stakes import applied_by_dispute
        applied.update({("dispute", i): c for i, c in applied_by_dispute(session, stake_ids).items()})
    held = {("deal", i) for i in disputed_deals(session, [k[1] for k in states if k[0] == "deal"])}
    planned: list[tuple[DealState, int, str, list[tuple[LineState, int]]]] = []
    for key, state in sorted(states.items()):
        target = target_basis(state, terms[state.developer_id], applied.get(key, 0), now)
        if target == state.basis_cents or (target > state.basis_cents and key in held):
            continue
        step_reason = "undo" if target < state.basis_cents else reason
        planned.append((state, target, step_reason, plan_step(state, target)))
    if not planned:
        return 0
    # Lines the platform bought (佣金垫付, issue 13): their pending was settled at purchase, so a step
    # moves none of it; the collection pays their remainder and realises the discount instead.
    # An undo takes the remainder it paid back the same way (on_uncollected). Stakes are never bought.
    from ..buyback.services import bought_lines, on_collected, on_uncollected
    bought = bought_lines(session, [ls.line.id for state, *_ in planned for ls in state.lines
                                    if ls.line.id is not None])
    entries = [_entry(session, state, target, [(ls, part) for ls, part in parts
                                               if ls.line.id is None or ls.line.id not in bought])
               for state, target, _, parts in planned]
    created = ledger.post_many(session, [e for e in entries if e is not None], actor_type=actor_type,
                               actor_id=actor_id, now=now)
    for state, target, _, _ in planned:
        if state.kind != "deal" or not any(ls.line.id in bought for ls in state.lines):
            continue
        ref = f"v{state.version}:release:{state.last_seq + 1}"
        if target > state.basis_cents:
            on_collected(session, state.source_id, target - state.basis_cents, now, ref=ref)
        else:
            on_uncollected(session, state.source_id, target, now, ref=ref)
    for (state, target, step_reason, parts), entry in zip(planned, entries):
        release = CommissionRelease(deal_id=state.source_id if state.kind == "deal" else None,
                                    dispute_id=state.source_id if state.kind == "dispute" else None,
                                    version=state.version, seq=state.last_seq + 1,
                                    reason=step_reason, basis_from_cents=state.basis_cents, basis_to_cents=target,
                                    ledger_transaction_id=created.get(entry.idempotency_key) if entry else None,
                                    created_at=now)
        session.add(release)
        session.flush()
        bulk_insert(session, CommissionReleaseLine.__table__, [
            {"release_id": release.id, "line_id": ls.line.id,
             "stake_seq": None if state.kind == "deal" else ls.line.seq, "amount_cents": part}
            for ls, part in parts if part])
    return len(planned)


def _entry(session: Session, state: DealState, target: int, parts: list[tuple[LineState, int]]) -> Entry | None:
    legs: list[Leg] = []
    available_left: dict[tuple[str, int], int] = {}
    for ls, part in parts:
        party = (ls.line.party_type, ls.line.party_id)
        if part > 0:
            legs += [Leg(*party, "pending", part, f"{ls.line.reason}（回款后可提现）"),
                     Leg(*party, "available", -part, f"{state.label}佣金可提现")]
        elif part < 0:
            taken = -part
            if party not in available_left:
                available_left[party] = max(0, -ledger.balances(session, *party)["available"])
            from_available = min(taken, available_left[party])
            available_left[party] -= from_available
            legs += [Leg(*party, "pending", -taken, f"{ls.line.reason}（回款撤销，转回待回款）"),
                     Leg(*party, "available", from_available, "回款撤销，可提现佣金收回"),
                     Leg(*party, "owes", taken - from_available, "回款撤销，已提现部分形成欠款")]
    legs = [leg for leg in legs if leg.amount_cents]
    if not legs:
        return None
    verb = "可提现" if target > state.basis_cents else "收回"
    key = (f"deal:{state.source_id}:v{state.version}" if state.kind == "deal"
           else f"dispute:{state.source_id}:stake")
    return Entry(idempotency_key=f"{key}:release:{state.last_seq + 1}",
                 kind="commission_released" if target > state.basis_cents else "commission_release_undone",
                 description=f"{state.label}佣金{verb}：对应回款 {yuan(state.basis_cents)} → {yuan(target)}",
                 legs=tuple(legs), deal_id=state.source_id if state.kind == "deal" else None)


def sweep(session: Session, *, now: datetime, chunk_size: int = 1000, after_chunk=None) -> int:
    """The hourly sweep: advance terms that came due and releases a closed dispute held.
    Looks at every recognised deal not yet fully released; safe to run twice or concurrently."""
    steps, last_id = 0, 0
    fully = (select(CommissionRelease.deal_id).where(CommissionRelease.deal_id == Deal.id,
                                                     CommissionRelease.version == Deal.lines_version,
                                                     CommissionRelease.basis_to_cents == Deal.commission_cents)
             .correlate(Deal).exists())
    while True:
        rows = session.execute(select(Deal.id, Project.developer_id).join(Project, Project.id == Deal.project_id)
                               .where(Deal.id > last_id, Deal.recognised.is_(True), Deal.commission_cents > 0,
                                      ~fully).order_by(Deal.id).limit(chunk_size)).all()
        if not rows:
            return steps + _sweep_stakes(session, now=now)
        for developer_id in sorted({d for _, d in rows}):
            lock_developer(session, developer_id)
        steps += sync(session, [deal_id for deal_id, _ in rows], now=now, reason="sweep")
        last_id = rows[-1][0]
        if after_chunk is not None:
            after_chunk()


def _sweep_stakes(session: Session, *, now: datetime) -> int:
    """Stakes of upheld disputes not yet fully released (few: one per upheld dispute)."""
    from .stakes import not_fully_released
    rows = not_fully_released(session)
    for developer_id in sorted({d for _, d in rows}):
        lock_developer(session, developer_id)
    return sync(session, (), dispute_ids=[dispute_id for dispute_id, _ in rows], now=now, reason="sweep") if rows else 0


# --- what settlement reads ------------------------------------------------------------------

@dataclass(frozen=True)
class LineView:
    line_id: int
    deal_id: int
    amount_cents: int
    released_cents: int
    pending_cents: int
    held: bool  # an open dispute on the deal holds it


def line_states(session: Session, party_type: str, party_id: int) -> list[LineView]:
    """Each current line of one consultant (or buyer): how much is available and how much is
    still pending, and whether a dispute holds it. Settlement pays from the ``available``
    ledger balance, which only this module's releases ever credit."""
    deal_ids = list(session.scalars(select(CommissionLine.deal_id).where(
        CommissionLine.party_type == party_type, CommissionLine.party_id == party_id).distinct()))
    states = load_states(session, deal_ids)
    held = disputed_deals(session, states)
    views = []
    for deal_id, state in sorted(states.items()):
        for ls in state.lines:
            if ls.line.party_type == party_type and ls.line.party_id == party_id:
                views.append(LineView(ls.line.id, deal_id, ls.line.amount_cents, ls.released_cents,
                                      ls.line.amount_cents - ls.released_cents, deal_id in held))
    return views


def available_lines(session: Session, party_type: str, party_id: int) -> list[LineView]:
    return [v for v in line_states(session, party_type, party_id) if v.released_cents > 0]
