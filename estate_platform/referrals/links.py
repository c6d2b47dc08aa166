"""The parts of the referral network a deal's chain needs (DESIGN §3), as plain dicts.

``ReferralNetwork`` (graph.py) answers every question about the network with a networkx
graph; recognition asks only three, for many deals at once: the serving consultant's
uplines (invite edges, level 1 first), who handed the buyer to him for the project
(handoff edges) and who referred the buyer (老带新). ``ChainLinks`` answers the same
questions with the same rules from dicts, and loads incrementally:

* invite edges are kept per consultant once read (one edge per invitee, ever), so a
  batch reads each consultant's inviter once however many chunks meet him: memory grows
  with the consultants met, not with the deals;
* handoff and 老带新 edges are per buyer: ``load_buyers`` replaces them for each chunk.
"""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..consultants.models import ConsultantInvite
from ..db import among, id_chunks
from .graph import Link
from .models import ReferralEdge


def _valid_at(valid_from: datetime, valid_to: datetime | None, as_of: datetime) -> bool:
    return valid_from <= as_of and (valid_to is None or valid_to > as_of)


class ChainLinks:
    def __init__(self) -> None:
        # invitee → (inviter, valid_from, valid_to), or None: read, and nobody invited him.
        self._inviter_of: dict[int, tuple[int, datetime, datetime | None] | None] = {}
        self._handoffs: dict[tuple[int, int, int], list[Link]] = {}  # (receiver, buyer, project) → links
        self._buyer_referral: dict[int, tuple[int, datetime, datetime | None]] = {}  # friend → referrer edge

    # --- loading ---------------------------------------------------------------------

    def load_consultants(self, session: Session, consultant_ids: Iterable[int], *, upline_levels: int = 2) -> set[int]:
        """Read the invite edges of these consultants and of their uplines up to ``upline_levels``
        levels, skipping consultants read before. Returns every consultant id met (the given
        ones and their inviters at any level read), so the caller can load their names and standing."""
        met = set(consultant_ids)
        level = met
        for _ in range(max(upline_levels, 0)):
            unread = sorted(level - self._inviter_of.keys())
            for consultant_id in unread:
                self._inviter_of[consultant_id] = None
            for chunk in id_chunks(session, unread):
                for inviter_id, invitee_id, valid_from, valid_to in session.execute(
                        select(ConsultantInvite.inviter_id, ConsultantInvite.invitee_id, ConsultantInvite.valid_from,
                               ConsultantInvite.valid_to).where(among(session, ConsultantInvite.invitee_id, chunk))):
                    self._inviter_of[invitee_id] = (inviter_id, valid_from, valid_to)
            # The next level: the inviters of this one, whether read now or in an earlier chunk.
            level = {edge[0] for edge in (self._inviter_of[c] for c in level) if edge is not None}
            met |= level
            if not level:
                break
        return met

    def load_buyers(self, session: Session, buyer_ids: Iterable[int]) -> tuple[set[int], set[int]]:
        """Read the handoff and 老带新 edges of these buyers (replacing the previous buyers').
        Returns the consultants who handed them over and the buyers who referred them."""
        self._handoffs, self._buyer_referral = {}, {}
        consultants, referrers = set(), set()
        for chunk in id_chunks(session, buyer_ids):
            for source_id, target_id, buyer_id, project_id, valid_from in session.execute(
                    select(ReferralEdge.source_id, ReferralEdge.target_id, ReferralEdge.buyer_id,
                           ReferralEdge.project_id, ReferralEdge.valid_from)
                    .where(ReferralEdge.kind == "handoff", among(session, ReferralEdge.buyer_id, chunk))):
                self._handoffs.setdefault((target_id, buyer_id, project_id), []).append(Link(source_id, valid_from))
                consultants.add(source_id)
            for source_id, target_id, valid_from, valid_to in session.execute(
                    select(ReferralEdge.source_id, ReferralEdge.target_id, ReferralEdge.valid_from,
                           ReferralEdge.valid_to)
                    .where(ReferralEdge.kind == "buyer_referral", among(session, ReferralEdge.target_id, chunk))):
                self._buyer_referral[target_id] = (source_id, valid_from, valid_to)
                referrers.add(source_id)
        return consultants, referrers

    # --- questions (the same rules as ReferralNetwork's) ------------------------------

    def uplines(self, consultant_id: int, as_of: datetime, levels: int) -> list[Link]:
        """Level 1 first, at most ``levels`` (the invite graph is acyclic; the cap also bounds the walk)."""
        chain: list[Link] = []
        current = consultant_id
        seen = {consultant_id}
        inviter_of = self._inviter_of
        while len(chain) < levels:
            edge = inviter_of.get(current)
            if edge is None or not _valid_at(edge[1], edge[2], as_of) or edge[0] in seen:
                break
            chain.append(Link(edge[0], edge[1]))
            seen.add(edge[0])
            current = edge[0]
        return chain

    def handoff_referrer(self, serving_id: int, buyer_id: int, project_id: int, as_of: datetime) -> Link | None:
        """Who handed this buyer (for this project) to the serving consultant, as of ``as_of``:
        the latest such handoff that had begun by then."""
        handed = self._handoffs.get((serving_id, buyer_id, project_id))
        if handed is None:  # most deals: nobody handed the buyer over
            return None
        links = [link for link in handed if link.since <= as_of and link.party_id != serving_id]
        return max(links, key=lambda link: link.since) if links else None

    def buyer_referrer(self, buyer_id: int, as_of: datetime) -> Link | None:
        edge = self._buyer_referral.get(buyer_id)
        if edge is None or not _valid_at(edge[1], edge[2], as_of):
            return None
        return Link(edge[0], edge[1])
