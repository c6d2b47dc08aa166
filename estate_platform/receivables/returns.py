"""Money applied to a deal that no longer owes it goes back to the developer's unapplied cash
(退房后回款转回未核销, issue 12; DESIGN §2 "corrections are new transactions").

A deal cancelled (退房) after the developer paid part of its receivable has its commission
reversed (``deals.recognition.reverse``: receivable −C), but the payment applied to it stays a
credit on that deal. Here the part applied beyond what the deal now owes (nothing when cancelled;
the new commission after a price correction) moves back, newest payment first:

* one negative ``returned`` :class:`CollectionAllocation` per payment it came from (so what
  each payment applied, and the developer's unapplied rest, are sums as before);
* one ledger transaction per payment, ``collection:{id}:return:{batch}``: developer receivable
  +X, developer unapplied −X (the developer's receivable for the deal is back to zero and the
  cash waits to be applied elsewhere).

Computed from stored state under the developer's row lock, so a second run returns nothing.
The consultants' lines are not touched here: the deal's reversal already took them back from
pending, then available, then as money owed (so nobody is paid twice).
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db import among, bulk_insert, id_chunks
from ..deals.models import Deal
from ..ledger import services as ledger
from ..ledger.services import Entry, Leg
from ..money import yuan
from ..projects.models import Project
from . import releases
from .models import Collection, CollectionAllocation


def owed_by_deal(deal: Deal) -> int:
    """What the deal's receivable stands at now (the most payments may cover)."""
    return deal.commission_cents if deal.recognised and deal.stage != "cancelled" else 0


def _standing_parts(session: Session, deal_ids: list[int]) -> dict[int, list[tuple[int, int]]]:
    """{deal_id: [(collection_id, net cents applied), …]} newest payment first."""
    result: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for chunk in id_chunks(session, deal_ids):
        rows = session.execute(
            select(CollectionAllocation.deal_id, Collection.id, func.sum(CollectionAllocation.amount_cents))
            .join(Collection, Collection.id == CollectionAllocation.collection_id)
            .where(Collection.reversed_at.is_(None), among(session, CollectionAllocation.deal_id, chunk))
            .group_by(CollectionAllocation.deal_id, Collection.id, Collection.received_on)
            .order_by(CollectionAllocation.deal_id, Collection.received_on.desc(), Collection.id.desc()))
        for deal_id, collection_id, net in rows:
            if net and net > 0:
                result[deal_id].append((collection_id, int(net)))
    return result


def return_overapplied(session: Session, deal_ids: Iterable[int], *, now: datetime, reason: str,
                       actor_type: str = "system", actor_id: int | None = None) -> int:
    """Move what was applied beyond each deal's receivable back to unapplied cash. Returns the
    cents moved. Locks the developers' rows itself (every path that applies money does)."""
    ids = sorted(set(deal_ids))
    if not ids:
        return 0
    deals = {d.id: (d, dev) for d, dev in session.execute(
        select(Deal, Project.developer_id).join(Project, Project.id == Deal.project_id)
        .where(among(session, Deal.id, ids)))}
    for developer_id in sorted({dev for _, dev in deals.values()}):
        releases.lock_developer(session, developer_id)
    applied = releases.applied_by_deal(session, ids)
    over = {deal_id: applied.get(deal_id, 0) - owed_by_deal(deal) for deal_id, (deal, _) in deals.items()}
    over = {deal_id: cents for deal_id, cents in over.items() if cents > 0}
    if not over:
        return 0
    parts = _standing_parts(session, sorted(over))
    by_collection: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for deal_id, excess in sorted(over.items()):
        for collection_id, net in parts.get(deal_id, []):
            if excess == 0:
                break
            take = min(excess, net)
            by_collection[collection_id].append((deal_id, take))
            excess -= take
    moved = 0
    for collection_id, takes in sorted(by_collection.items()):
        collection = session.get(Collection, collection_id)
        batch = 1 + int(session.scalar(select(func.max(CollectionAllocation.batch))
                                       .where(CollectionAllocation.collection_id == collection_id)) or 0)
        cents = sum(t for _, t in takes)
        deal_text = "、".join(f"#{deal_id}" for deal_id, _ in takes)
        ledger.post(session, Entry(
            f"collection:{collection_id}:return:{batch}", "collection_returned",
            f"开发商回款 #{collection_id}（{collection.bank_reference}）已核销成交 {deal_text} 的 {yuan(cents)}"
            f" 转回未核销：{reason}"[:500],
            (Leg("developer", collection.developer_id, "receivable", cents, f"成交 {deal_text} {reason}，核销冲回"[:500]),
             Leg("developer", collection.developer_id, "unapplied", -cents, "转回未核销回款，可核销到其他应收")),
            deal_id=takes[0][0] if len(takes) == 1 else None),
            actor_type=actor_type, actor_id=actor_id, now=now)
        bulk_insert(session, CollectionAllocation.__table__, [
            {"collection_id": collection_id, "batch": batch, "deal_id": deal_id, "kind": "returned",
             "amount_cents": -take, "created_by_id": actor_id if actor_type == "staff" else None, "created_at": now}
            for deal_id, take in takes])
        session.expire(collection, ["allocations"])
        moved += cents
    # A re-priced deal that still owes something: its lines follow what is now applied.
    releases.sync(session, sorted(over), now=now, reason="collection", actor_type=actor_type, actor_id=actor_id)
    return moved


def sweep(session: Session, *, now: datetime) -> int:
    """Safety net (hourly): any deal no longer recognised or cancelled that still holds applied
    money returns it. Safe to run twice."""
    applied = (select(CollectionAllocation.deal_id).join(Collection, Collection.id == CollectionAllocation.collection_id)
               .where(Collection.reversed_at.is_(None)).group_by(CollectionAllocation.deal_id)
               .having(func.sum(CollectionAllocation.amount_cents) > 0).subquery())
    ids = list(session.scalars(select(Deal.id).join(applied, applied.c.deal_id == Deal.id)
                               .where((Deal.stage == "cancelled") | Deal.recognised.is_(False))))
    return return_overapplied(session, ids, now=now, reason="成交已退房或佣金已冲回") if ids else 0
