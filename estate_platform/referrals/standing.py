"""The consultants' leaderboard as one consultant sees it (排行榜, DESIGN §3).

Ranked by live (not cancelled) deals subscribed in the period, then by GMV, then by id;
ranks are competition ranks ("1, 2, 2, 4"), so two consultants with the same number of
deals share a rank. His own standing is counted even when he is not in the top rows.
What another consultant's row may show to him is the web layer's business (names
masked, no amounts): this module answers with ids and figures.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..clock import local_date
from ..consultants.models import Consultant
from ..deals.models import Deal

PERIODS = ("month", "year", "all")


@dataclass
class Standing:
    rank: int
    consultant_id: int
    name: str
    city: str
    deals: int
    gmv_cents: int


@dataclass
class Board:
    period: str
    start: date | None
    end: date
    rows: list[Standing]
    me: Standing | None  # None: no deal in the period


def period_bounds(period: str, now: datetime) -> tuple[date | None, date]:
    """The Shanghai calendar month or year so far, or everything up to today."""
    today = local_date(now)
    if period == "month":
        return today.replace(day=1), today
    if period == "year":
        return today.replace(month=1, day=1), today
    return None, today


def board(session: Session, consultant_id: int, *, period: str, now: datetime, limit: int = 20) -> Board:
    start, end = period_bounds(period, now)
    filters = [Deal.stage != "cancelled", Deal.subscribed_on <= end, *([Deal.subscribed_on >= start] if start else [])]
    counts = (select(Deal.consultant_id.label("cid"), func.count(Deal.id).label("deals"),
                     func.coalesce(func.sum(Deal.price_cents), 0).label("gmv"))
              .where(*filters).group_by(Deal.consultant_id).subquery())
    rows = session.execute(
        select(Consultant.id, Consultant.name, Consultant.city, counts.c.deals, counts.c.gmv)
        .join(counts, counts.c.cid == Consultant.id)
        .order_by(counts.c.deals.desc(), counts.c.gmv.desc(), Consultant.id).limit(limit)).all()
    standings, previous, rank = [], None, 0
    for position, (cid, name, city, deals, gmv) in enumerate(rows, start=1):
        if deals != previous:
            rank, previous = position, deals
        standings.append(Standing(rank, cid, name, city, int(deals), int(gmv)))
    me = next((s for s in standings if s.consultant_id == consultant_id), None)
    if me is None:
        mine = session.execute(select(counts.c.deals, counts.c.gmv).where(counts.c.cid == consultant_id)).first()
        if mine is not None:
            ahead = session.scalar(select(func.count()).select_from(counts).where(counts.c.deals > mine[0]))
            consultant = session.get(Consultant, consultant_id)
            me = Standing(int(ahead) + 1, consultant_id, consultant.name, consultant.city, int(mine[0]), int(mine[1]))
    return Board(period=period, start=start, end=end, rows=standings, me=me)
