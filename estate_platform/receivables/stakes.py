"""A dispute's stake as a receivable (issue 12; DESIGN §4, §5, §5a).

A dispute upheld against the developer (跑单/撬单 it was found to have done) makes the
commission at stake a receivable from the developer, split along the protected consultant's
chain (``disputes.decisions``, key ``dispute:{id}:developer-stake``). There is no deal, but
finance collects it like one: it is in ``open_receivables`` by its due date, can be chosen,
shows in aging and statements, and its consultant lines become available under the
developer's payable-when rule (``releases.sync``, one rule for every receivable source).

* due date: the decision's Shanghai date plus the payment terms of the project's commission
  rule in force that day (as a deal's: "30 days after …"), 30 days without a rule;
* lines: the split recorded on the decision, by their place in it (``stake_seq``);
* recognised at the approval; only stakes whose recognition was posted count.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..clock import local_date
from ..commissions.models import CommissionRule
from ..db import among, id_chunks
from ..disputes.models import Dispute, DisputeDecision
from .models import Collection, CollectionAllocation, CommissionRelease, CommissionReleaseLine

DEFAULT_TERMS_DAYS = 30


@dataclass(frozen=True)
class StakeLine:
    """One line of a stake's split; quacks like a CommissionLine for ``releases``."""
    dispute_id: int
    seq: int
    party_type: str
    party_id: int
    amount_cents: int
    reason: str
    created_at: datetime
    id: None = None  # no commission line: never bought back


@dataclass(frozen=True)
class Stake:
    dispute_id: int
    developer_id: int
    project_id: int
    subject: str
    cents: int
    decided_at: datetime
    due_on: date
    lines: tuple[StakeLine, ...]


def _stakes_query():
    return (select(Dispute, DisputeDecision).join(DisputeDecision, DisputeDecision.dispute_id == Dispute.id)
            .where(Dispute.respondent_kind == "developer", Dispute.status == "upheld",
                   DisputeDecision.status == "approved", DisputeDecision.outcome == "upheld",
                   DisputeDecision.stake_cents > 0, DisputeDecision.stake_transaction_id.is_not(None)))


def _terms_days(session: Session, project_id: int, on: date) -> int:
    days = session.scalar(select(CommissionRule.payment_terms_days).where(
        CommissionRule.project_id == project_id, CommissionRule.effective_from <= on)
        .order_by(CommissionRule.effective_from.desc()).limit(1))
    return DEFAULT_TERMS_DAYS if days is None else int(days)


def _stake(session: Session, dispute: Dispute, decision: DisputeDecision) -> Stake:
    decided_on = local_date(decision.approved_at)
    plan = json.loads(decision.stake_lines) if decision.stake_lines else {"lines": []}
    lines = tuple(StakeLine(dispute.id, seq, line["party_type"], line["party_id"], int(line["amount_cents"]),
                            f"争议 #{dispute.id}：{line['reason']}"[:500], decision.approved_at)
                  for seq, line in enumerate(plan["lines"], start=1))
    return Stake(dispute.id, dispute.developer_id, dispute.project_id, dispute.subject, decision.stake_cents,
                 decision.approved_at, decided_on + timedelta(days=_terms_days(session, dispute.project_id, decided_on)),
                 lines)


def stakes(session: Session, *, dispute_ids: Iterable[int] | None = None,
           developer_id: int | None = None) -> dict[int, Stake]:
    """Upheld stakes (by dispute id), of these disputes or of this developer."""
    result: dict[int, Stake] = {}
    if dispute_ids is not None:
        for chunk in id_chunks(session, dispute_ids):
            for dispute, decision in session.execute(_stakes_query().where(among(session, Dispute.id, chunk))):
                result[dispute.id] = _stake(session, dispute, decision)
        return result
    query = _stakes_query()
    if developer_id is not None:
        query = query.where(Dispute.developer_id == developer_id)
    for dispute, decision in session.execute(query.order_by(Dispute.id)):
        result[dispute.id] = _stake(session, dispute, decision)
    return result


def applied_by_dispute(session: Session, dispute_ids: Iterable[int]) -> dict[int, int]:
    """What standing (not undone) collections applied to each stake."""
    result: dict[int, int] = defaultdict(int)
    for chunk in id_chunks(session, dispute_ids):
        rows = session.execute(select(CollectionAllocation.dispute_id, func.sum(CollectionAllocation.amount_cents))
                               .join(Collection, Collection.id == CollectionAllocation.collection_id)
                               .where(Collection.reversed_at.is_(None),
                                      among(session, CollectionAllocation.dispute_id, chunk))
                               .group_by(CollectionAllocation.dispute_id))
        for dispute_id, total in rows:
            result[dispute_id] = int(total or 0)
    return result


def release_progress(session: Session, dispute_ids: list[int]) -> tuple[dict[tuple[int, int], int],
                                                                        dict[int, tuple[int, int]]]:
    """({(dispute_id, stake_seq): released cents}, {dispute_id: (last seq, basis)})."""
    released: dict[tuple[int, int], int] = defaultdict(int)
    last: dict[int, tuple[int, int]] = {}
    if not dispute_ids:
        return released, last
    for chunk in id_chunks(session, dispute_ids):
        for dispute_id, seq, basis, stake_seq, cents in session.execute(
                select(CommissionRelease.dispute_id, CommissionRelease.seq, CommissionRelease.basis_to_cents,
                       CommissionReleaseLine.stake_seq, CommissionReleaseLine.amount_cents)
                .outerjoin(CommissionReleaseLine, CommissionReleaseLine.release_id == CommissionRelease.id)
                .where(among(session, CommissionRelease.dispute_id, chunk))):
            if stake_seq is not None:
                released[(dispute_id, stake_seq)] += int(cents)
            if seq > last.get(dispute_id, (0, 0))[0]:
                last[dispute_id] = (seq, int(basis))
    return released, last


def not_fully_released(session: Session) -> list[tuple[int, int]]:
    """(dispute id, developer id) of every stake whose lines are not all released (the sweep)."""
    fully = (select(CommissionRelease.id).where(CommissionRelease.dispute_id == Dispute.id,
                                                CommissionRelease.basis_to_cents == DisputeDecision.stake_cents)
             .correlate(Dispute, DisputeDecision).exists())
    return [(dispute.id, dispute.developer_id)
            for dispute, _ in session.execute(_stakes_query().where(~fully).order_by(Dispute.id))]
