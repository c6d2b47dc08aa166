"""Questions asked of the referral network (DESIGN §3): team size and team GMV under a
consultant, a leaderboard, and the super-user report (the seeds' KOC idea: the
smallest set of consultants and buyers who brought 80% of deals and of GMV)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..clock import end_of_local_day
from ..consultants.models import Consultant
from ..deals.models import Deal
from ..identity.models import Buyer
from ..money import BPS
from ..db import among, id_chunks
from .graph import ReferralNetwork, valid_at


def _live_deals(start: date | None, end: date | None):
    query = select(Deal.id, Deal.consultant_id, Deal.buyer_id, Deal.project_id, Deal.price_cents,
                   Deal.subscribed_on).where(Deal.stage != "cancelled")
    if start:
        query = query.where(Deal.subscribed_on >= start)
    if end:
        query = query.where(Deal.subscribed_on <= end)
    return query


@dataclass
class Team:
    consultant_id: int
    size: int  # everyone below him in the invite tree, any depth
    direct: int
    deals: int  # live deals of the team (him included) in the period
    gmv_cents: int


def team(session: Session, consultant_id: int, *, start: date | None = None, end: date | None = None) -> Team:
    """Reads only the consultant's own subtree: the mini-program asks this for one person."""
    network = ReferralNetwork.load(session, team_of=consultant_id)
    as_of = end_of_local_day(end) if end else None
    members = network.team(consultant_id, as_of)
    node = ("consultant", consultant_id)
    direct = sum(1 for _, _, data in network.graph.out_edges(node, data=True)
                 if data["kind"] == "invite" and valid_at(data, as_of)) if node in network.graph else 0
    deals = gmv = 0
    for chunk in id_chunks(session, members | {consultant_id}):
        count, total = session.execute(select(func.count(), func.coalesce(func.sum(Deal.price_cents), 0))
                                       .where(Deal.stage != "cancelled", among(session, Deal.consultant_id, chunk),
                                              *([Deal.subscribed_on >= start] if start else []),
                                              *([Deal.subscribed_on <= end] if end else []))).one()
        deals += int(count)
        gmv += int(total)
    return Team(consultant_id=consultant_id, size=len(members), direct=direct, deals=deals, gmv_cents=gmv)


@dataclass
class Rank:
    rank: int
    consultant_id: int
    name: str
    city: str
    deals: int
    gmv_cents: int
    team_size: int


def leaderboard(session: Session, *, start: date | None = None, end: date | None = None, by: str = "gmv",
                limit: int = 20, city: str | None = None) -> list[Rank]:
    """Consultants ranked by their live deals' GMV (or count) in the period; ties by id."""
    deals = _live_deals(start, end).subquery()
    query = (select(Consultant.id, Consultant.name, Consultant.city, func.count(deals.c.id),
                    func.coalesce(func.sum(deals.c.price_cents), 0))
             .join(deals, deals.c.consultant_id == Consultant.id).group_by(Consultant.id, Consultant.name,
                                                                            Consultant.city))
    if city:
        query = query.where(Consultant.city == city)
    rows = session.execute(query).all()
    key = (lambda r: (-int(r[4]), -int(r[3]), r[0])) if by == "gmv" else (lambda r: (-int(r[3]), -int(r[4]), r[0]))
    rows = sorted(rows, key=key)[:limit]
    network = ReferralNetwork.load(session)
    return [Rank(rank=i, consultant_id=r[0], name=r[1], city=r[2], deals=int(r[3]), gmv_cents=int(r[4]),
                     team_size=len(network.team(r[0]))) for i, r in enumerate(rows, start=1)]


@dataclass
class Contributor:
    party_type: str  # consultant | buyer
    party_id: int
    name: str
    deals: int
    gmv_cents: int


@dataclass
class SuperUsers:
    total_deals: int
    total_gmv_cents: int
    share_bps: int
    by_deals: list[Contributor]  # the smallest set reaching share_bps of deals
    by_gmv: list[Contributor]  # the smallest set reaching share_bps of GMV
    both: list[Contributor]  # the smallest prefix of the GMV ranking that reaches both shares
    contributors: int


def _smallest_prefix(ranked: list[Contributor], total: int, share_bps: int, measure) -> list[Contributor]:
    """Sorting by the measure and taking the head is optimal for one measure: no smaller set can hold more."""
    if total == 0:
        return []
    chosen, running = [], 0
    for contributor in ranked:
        if running * BPS >= total * share_bps:
            break
        chosen.append(contributor)
        running += measure(contributor)
    return chosen


def super_users(session: Session, *, start: date | None = None, end: date | None = None,
                share_bps: int = 8000) -> SuperUsers:
    """Each live deal is credited once, to whoever brought the buyer: the referring buyer
    (老带新) if there was one on the subscription date, else the consultant who handed the
    buyer over, else the serving consultant."""
    deals = session.execute(_live_deals(start, end)).all()
    network = ReferralNetwork.load(session)
    credit: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    for _, consultant_id, buyer_id, project_id, price, subscribed_on in deals:
        as_of = end_of_local_day(subscribed_on)
        buyer_link = network.buyer_referrer(buyer_id, as_of)
        handoff = network.handoff_referrer(consultant_id, buyer_id, project_id, as_of)
        who = (("buyer", buyer_link.party_id) if buyer_link else
               ("consultant", handoff.party_id) if handoff else ("consultant", consultant_id))
        credit[who][0] += 1
        credit[who][1] += price
    names: dict[tuple[str, int], str] = {}
    for party_type, model in (("consultant", Consultant), ("buyer", Buyer)):
        ids = sorted(i for t, i in credit if t == party_type)
        for chunk_start in range(0, len(ids), 1000):
            for party_id, name in session.execute(select(model.id, model.name)
                                                  .where(model.id.in_(ids[chunk_start:chunk_start + 1000]))):
                names[(party_type, party_id)] = name or f"#{party_id}"
    contributors = [Contributor(t, i, names.get((t, i), f"#{i}"), d, g) for (t, i), (d, g) in credit.items()]
    total_deals = sum(c.deals for c in contributors)
    total_gmv = sum(c.gmv_cents for c in contributors)
    by_deals = sorted(contributors, key=lambda c: (-c.deals, -c.gmv_cents, c.party_type, c.party_id))
    by_gmv = sorted(contributors, key=lambda c: (-c.gmv_cents, -c.deals, c.party_type, c.party_id))
    both, deals_so_far, gmv_so_far = [], 0, 0
    for contributor in by_gmv:
        if deals_so_far * BPS >= total_deals * share_bps and gmv_so_far * BPS >= total_gmv * share_bps:
            break
        both.append(contributor)
        deals_so_far += contributor.deals
        gmv_so_far += contributor.gmv_cents
    return SuperUsers(total_deals=total_deals, total_gmv_cents=total_gmv, share_bps=share_bps,
                      by_deals=_smallest_prefix(by_deals, total_deals, share_bps, lambda c: c.deals),
                      by_gmv=_smallest_prefix(by_gmv, total_gmv, share_bps, lambda c: c.gmv_cents),
                      both=both if total_deals else [], contributors=len(contributors))
