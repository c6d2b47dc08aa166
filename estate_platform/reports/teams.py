"""A consultant's team page (团队, issue 13 §2): who is in his invite tree (networkx, from
``estate_platform.referrals``) and what each member did in the period: registrations, live
deals and their GMV, one GROUP BY per measure over the members."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..clock import end_of_local_day
from ..consultants.models import Consultant
from ..db import among, id_chunks
from ..deals.models import Deal
from ..errors import NotFound
from ..referrals.graph import ReferralNetwork, valid_at
from ..registrations.models import Registration
from .funnel import within_period


class TeamLeaderNotFound(NotFound):
    code, message = "consultant_not_found", "顾问不存在"


@dataclass
class Member:
    consultant_id: int
    name: str
    city: str
    depth: int  # 0 = the leader himself, 1 = invited by him, …
    registrations: int = 0
    deals: int = 0
    gmv_cents: int = 0


@dataclass
class TeamView:
    leader: Member
    size: int  # members below him, any depth
    direct: int
    members: list[Member]  # him first, then by GMV, deals, id
    deals: int
    gmv_cents: int
    registrations: int


def team_view(session: Session, consultant_id: int, *, start: date | None = None, end: date | None = None,
              limit: int = 100) -> TeamView:
    leader_row = session.execute(select(Consultant.id, Consultant.name, Consultant.city)
                                 .where(Consultant.id == consultant_id)).one_or_none()
    if leader_row is None:
        raise TeamLeaderNotFound(details={"consultant_id": consultant_id})
    network = ReferralNetwork.load(session, team_of=consultant_id)
    as_of = end_of_local_day(end) if end else None
    node = ("consultant", consultant_id)
    depths = {consultant_id: 0}
    if node in network.graph:
        invite_tree = network.graph.edge_subgraph(
            [(u, v, k) for u, v, k, data in network.graph.edges(keys=True, data=True)
             if data["kind"] == "invite" and valid_at(data, as_of)])
        if node in invite_tree:
            import networkx as nx
            for (_, member_id), depth in nx.single_source_shortest_path_length(invite_tree, node).items():
                depths.setdefault(member_id, depth)
    ids = set(depths)
    registrations: dict[int, int] = {}
    deals: dict[int, tuple[int, int]] = {}
    names: dict[int, tuple[str, str]] = {}
    for chunk in id_chunks(session, ids):
        for cid, count in session.execute(
                select(Registration.consultant_id, func.count())
                .where(among(session, Registration.consultant_id, chunk),
                       *within_period(Registration.created_at, start, end, is_date=False))
                .group_by(Registration.consultant_id)):
            registrations[cid] = int(count)
        for cid, count, gmv in session.execute(
                select(Deal.consultant_id, func.count(), func.coalesce(func.sum(Deal.price_cents), 0))
                .where(among(session, Deal.consultant_id, chunk), Deal.stage != "cancelled",
                       *within_period(Deal.subscribed_on, start, end, is_date=True))
                .group_by(Deal.consultant_id)):
            deals[cid] = (int(count), int(gmv))
        for cid, name, city in session.execute(select(Consultant.id, Consultant.name, Consultant.city)
                                               .where(among(session, Consultant.id, chunk))):
            names[cid] = (name, city)
    members = [Member(consultant_id=cid, name=names.get(cid, ("#", ""))[0], city=names.get(cid, ("", ""))[1],
                      depth=depth, registrations=registrations.get(cid, 0), deals=deals.get(cid, (0, 0))[0],
                      gmv_cents=deals.get(cid, (0, 0))[1]) for cid, depth in depths.items()]
    leader = next(m for m in members if m.consultant_id == consultant_id)
    others = sorted((m for m in members if m.consultant_id != consultant_id),
                    key=lambda m: (-m.gmv_cents, -m.deals, m.consultant_id))
    return TeamView(leader=leader, size=len(members) - 1, direct=sum(1 for m in members if m.depth == 1),
                    members=[leader, *others][:limit], deals=sum(m.deals for m in members),
                    gmv_cents=sum(m.gmv_cents for m in members),
                    registrations=sum(m.registrations for m in members))
