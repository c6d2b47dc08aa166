"""The referral network as a networkx graph (DESIGN §3).

Nodes are ``("consultant", id)`` and ``("buyer", id)``. Edges carry their kind
(``invite``: upline → invitee; ``handoff``: sender → receiver for one buyer and
project; ``buyer_referral``: 老带新) and ``valid_from`` / ``valid_to``, so every
question is answered as of an instant: the chain of a deal as of its
subscription date ignores edges that began later.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

import networkx as nx
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..consultants.models import ConsultantInvite
from ..db import among, id_chunks
from .models import ReferralEdge


def valid_at(data: dict, as_of: datetime | None) -> bool:
    """Is an edge (its attribute dict) valid at ``as_of`` (None: valid now, not ended)?"""
    if as_of is None:
        return data.get("valid_to") is None
    return data["valid_from"] <= as_of and (data.get("valid_to") is None or data["valid_to"] > as_of)


def invite_graph(session: Session, *, as_of: datetime | None = None) -> nx.DiGraph:
    """Consultant → consultant invite edges valid at ``as_of`` (default: now-valid ones)."""
    query = select(ConsultantInvite.inviter_id, ConsultantInvite.invitee_id, ConsultantInvite.valid_from)
    if as_of is None:
        query = query.where(ConsultantInvite.valid_to.is_(None))
    else:
        query = query.where(ConsultantInvite.valid_from <= as_of,
                            (ConsultantInvite.valid_to.is_(None)) | (ConsultantInvite.valid_to > as_of))
    graph = nx.DiGraph()
    for inviter_id, invitee_id, valid_from in session.execute(query):
        graph.add_edge(("consultant", inviter_id), ("consultant", invitee_id),
                       kind="invite", valid_from=valid_from)
    return graph


def invite_would_create_cycle(session: Session, inviter_id: int, invitee_id: int) -> bool:
    """True when ``inviter`` is the invitee himself or already sits below him."""
    if inviter_id == invitee_id:
        return True
    graph = invite_graph(session)
    source, target = ("consultant", invitee_id), ("consultant", inviter_id)
    return source in graph and target in graph and nx.has_path(graph, source, target)


def buyer_referral_would_create_cycle(session: Session, referrer_id: int, friend_id: int) -> bool:
    """老带新 edges stay acyclic too: a buyer cannot be referred by someone he referred."""
    if referrer_id == friend_id:
        return True
    graph = nx.DiGraph()
    for source_id, target_id in session.execute(select(ReferralEdge.source_id, ReferralEdge.target_id)
                                                .where(ReferralEdge.kind == "buyer_referral")):
        graph.add_edge(source_id, target_id)
    return friend_id in graph and referrer_id in graph and nx.has_path(graph, friend_id, referrer_id)


@dataclass(frozen=True)
class Link:
    """An edge that puts somebody into a deal's chain."""
    party_id: int
    since: datetime


class ReferralNetwork:
    """The whole network (or the part a batch needs) in one MultiDiGraph, queried in memory.

    ``load`` reads every edge, or only those around the given consultants and buyers:
    their uplines (as many levels as asked), the handoffs they received and the
    buyers who referred them; or, with ``team_of``, only the invite tree below one
    consultant.
    """

    def __init__(self, graph: nx.MultiDiGraph, handoffs: dict[tuple[int, int, int], list[Link]]):
        self.graph = graph
        self._handoffs = handoffs  # (receiver, buyer, project) → handoff links

    @classmethod
    def load(cls, session: Session, *, consultant_ids: Iterable[int] | None = None,
             buyer_ids: Iterable[int] | None = None, upline_levels: int = 2,
             team_of: int | None = None) -> "ReferralNetwork":
        graph = nx.MultiDiGraph()  # a pair may be linked by an invite and by handoffs
        handoffs: dict[tuple[int, int, int], list[Link]] = defaultdict(list)
        invite_query = select(ConsultantInvite.inviter_id, ConsultantInvite.invitee_id,
                              ConsultantInvite.valid_from, ConsultantInvite.valid_to)
        edge_query = select(ReferralEdge.kind, ReferralEdge.source_id, ReferralEdge.target_id,
                            ReferralEdge.buyer_id, ReferralEdge.project_id, ReferralEdge.valid_from,
                            ReferralEdge.valid_to)
        if team_of is not None:  # only the invite tree below one consultant (his team), level by level
            invite_rows, edge_rows = [], []
            frontier, seen = [team_of], {team_of}
            while frontier:
                found = []
                for chunk in id_chunks(session, frontier):
                    found.extend(session.execute(invite_query.where(among(session, ConsultantInvite.inviter_id,
                                                                          chunk))))
                invite_rows.extend(found)
                frontier = sorted({row.invitee_id for row in found} - seen)
                seen.update(frontier)
        elif consultant_ids is None and buyer_ids is None:
            invite_rows = session.execute(invite_query).all()
            edge_rows = session.execute(edge_query).all()
        else:
            invite_rows, edge_rows = [], []
            frontier = sorted(set(consultant_ids or ()))
            for _ in range(max(upline_levels, 0)):
                found = []
                for chunk in id_chunks(session, frontier):
                    found.extend(session.execute(invite_query.where(among(session, ConsultantInvite.invitee_id,
                                                                          chunk))))
                invite_rows.extend(found)
                frontier = sorted({row.inviter_id for row in found})
                if not frontier:
                    break
            for chunk in id_chunks(session, consultant_ids or ()):
                edge_rows.extend(session.execute(edge_query.where(ReferralEdge.kind == "handoff",
                                                                  among(session, ReferralEdge.target_id, chunk))))
            for chunk in id_chunks(session, buyer_ids or ()):
                edge_rows.extend(session.execute(edge_query.where(ReferralEdge.kind == "buyer_referral",
                                                                  among(session, ReferralEdge.target_id, chunk))))
        for inviter_id, invitee_id, valid_from, valid_to in invite_rows:
            graph.add_edge(("consultant", inviter_id), ("consultant", invitee_id), kind="invite",
                           valid_from=valid_from, valid_to=valid_to)
        for kind, source_id, target_id, buyer_id, project_id, valid_from, valid_to in edge_rows:
            if kind == "handoff":
                handoffs[(target_id, buyer_id, project_id)].append(Link(source_id, valid_from))
                graph.add_edge(("consultant", source_id), ("consultant", target_id), kind="handoff",
                               valid_from=valid_from, valid_to=valid_to)
            else:
                graph.add_edge(("buyer", source_id), ("buyer", target_id), kind="buyer_referral",
                               valid_from=valid_from, valid_to=valid_to)
        return cls(graph, handoffs)

    def _inviter(self, consultant_id: int, as_of: datetime) -> Link | None:
        node = ("consultant", consultant_id)
        if node not in self.graph:
            return None
        for parent, _, data in self.graph.in_edges(node, data=True):
            if data["kind"] == "invite" and valid_at(data, as_of):
                return Link(parent[1], data["valid_from"])
        return None

    def uplines(self, consultant_id: int, as_of: datetime, levels: int) -> list[Link]:
        """Level 1 first, at most ``levels`` (the invite graph is acyclic; the cap also bounds the walk)."""
        chain: list[Link] = []
        current = consultant_id
        seen = {consultant_id}
        while len(chain) < levels:
            link = self._inviter(current, as_of)
            if link is None or link.party_id in seen:
                break
            chain.append(link)
            seen.add(link.party_id)
            current = link.party_id
        return chain

    def handoff_referrer(self, serving_id: int, buyer_id: int, project_id: int, as_of: datetime) -> Link | None:
        """Who handed this buyer (for this project) to the serving consultant, as of ``as_of``:
        the latest such handoff that had begun by then."""
        links = [link for link in self._handoffs.get((serving_id, buyer_id, project_id), [])
                 if link.since <= as_of and link.party_id != serving_id]
        return max(links, key=lambda link: link.since) if links else None

    def buyer_referrer(self, buyer_id: int, as_of: datetime) -> Link | None:
        node = ("buyer", buyer_id)
        if node not in self.graph:
            return None
        for parent, _, data in self.graph.in_edges(node, data=True):
            if data["kind"] == "buyer_referral" and valid_at(data, as_of):
                return Link(parent[1], data["valid_from"])
        return None

    def team(self, consultant_id: int, as_of: datetime | None = None) -> set[int]:
        """Everyone below a consultant in the invite tree (any depth), as of ``as_of``."""
        invites = nx.subgraph_view(self.graph, filter_edge=lambda u, v, k: (
            self.graph.edges[u, v, k]["kind"] == "invite" and valid_at(self.graph.edges[u, v, k], as_of)))
        node = ("consultant", consultant_id)
        if node not in invites:
            return set()
        return {n[1] for n in nx.descendants(invites, node)}
