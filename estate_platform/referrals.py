"""The referral network as a networkx graph (DESIGN §3).

For now it answers the onboarding question: would a new invite edge close a
cycle? Chain resolution, team size and GMV build on the same graph later.
"""
from __future__ import annotations

from datetime import datetime

import networkx as nx
from sqlalchemy import select
from sqlalchemy.orm import Session

from .consultants.models import ConsultantInvite


def invite_graph(session: Session, *, as_of: datetime | None = None) -> nx.DiGraph:
    """Consultant → consultant invite edges valid at ``as_of`` (default: now-valid ones)."""
    query = select(ConsultantInvite.inviter_id, ConsultantInvite.invitee_id,
                   ConsultantInvite.valid_from)
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
