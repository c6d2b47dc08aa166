"""The platform funnel (业绩漏斗, DESIGN §1; the seeds' 业绩公式 "客流量×进店率×成交率×客单价 = 销售额"):
invite opens → sign-ups → registrations → visits → deals → GMV → commission.

Each step is counted in the period by its own date (an open by when it was opened, a sign-up
by when the buyer left his phone through a link, a registration by when it was made, a visit
by when it was confirmed, a deal by its subscription day), so a step is a period count, not a
cohort: a step may exceed the one before it (consultants also register buyers they met
without a link), and its conversion rate may then pass 100%. Rates are integer basis points
(floor), ``None`` when the earlier step is zero.

Filters: ``start``/``end`` (Asia/Shanghai days), ``city`` (the project's city; for opens and
sign-ups through a link without a project, the consultant's city), ``project_id``, and
``team_of`` (a consultant and everyone below him in the invite tree, from the networkx
network in ``estate_platform.referrals``). One aggregate ``GROUP BY`` query per step, grouped
by the breakdown (``city``, ``project`` or ``month``); the totals are the sums of the groups.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from typing import Literal

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ..clock import SHANGHAI, end_of_local_day
from ..consultants.models import Consultant
from ..db import among, id_chunks
from ..deals.models import Deal
from ..invites.models import Attribution, InviteLink, LinkOpen
from ..money import BPS
from ..projects.models import Project
from ..referrals.graph import ReferralNetwork
from ..registrations.models import Registration
from ..visits.models import Visit

Breakdown = Literal["city", "project", "month"]
BREAKDOWNS = ("city", "project", "month")
COUNT_STEPS = ("opens", "signups", "registrations", "visits", "deals")
STEP_LABELS = {"opens": "邀请打开", "signups": "留资注册", "registrations": "报备", "visits": "到访", "deals": "成交",
               "gmv_cents": "成交额（GMV）", "commission_cents": "佣金"}
NO_PROJECT = "未指定楼盘"


def rate_bps(numerator: int, denominator: int) -> int | None:
    """numerator / denominator in basis points, floored; None when there is nothing to convert from."""
    return None if denominator <= 0 else numerator * BPS // denominator


@dataclass
class FunnelRow:
    key: str  # the group's key: a city, a project id as text, a month "2026-11", or "" for the total
    label: str
    opens: int = 0
    signups: int = 0
    registrations: int = 0
    visits: int = 0
    deals: int = 0
    gmv_cents: int = 0
    commission_cents: int = 0

    @property
    def rates(self) -> dict[str, int | None]:
        """Conversion between consecutive steps, and the two money ratios (bps)."""
        return {"signup_rate_bps": rate_bps(self.signups, self.opens),
                "registration_rate_bps": rate_bps(self.registrations, self.signups),
                "visit_rate_bps": rate_bps(self.visits, self.registrations),
                "deal_rate_bps": rate_bps(self.deals, self.visits),
                "commission_rate_bps": rate_bps(self.commission_cents, self.gmv_cents)}

    @property
    def average_price_cents(self) -> int | None:
        return None if self.deals == 0 else self.gmv_cents // self.deals

    def add(self, other: "FunnelRow") -> None:
        for name in (*COUNT_STEPS, "gmv_cents", "commission_cents"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Funnel:
    total: FunnelRow
    rows: list[FunnelRow] = field(default_factory=list)  # one per group, ordered by key
    by: str = "city"
    team_size: int | None = None  # members below ``team_of`` (him excluded), when filtered by team


def team_members(session: Session, consultant_id: int, end: date | None = None) -> set[int]:
    """The consultant and his team (invite tree, any depth) as of the end of the period."""
    network = ReferralNetwork.load(session, team_of=consultant_id)
    return network.team(consultant_id, end_of_local_day(end) if end else None) | {consultant_id}


def local_month(session: Session, column, *, is_date: bool):
    """'YYYY-MM' of an Asia/Shanghai day in SQL (instants are stored as naive UTC)."""
    if session.get_bind().dialect.name == "postgresql":
        local = column if is_date else func.timezone(text("'Asia/Shanghai'"), func.timezone(text("'UTC'"), column))
        return func.to_char(local, text("'YYYY-MM'"))
    # SQLite: Shanghai is UTC+8 all year (no daylight saving). Literals, not bound parameters,
    # so that the GROUP BY expression is the selected one.
    month = text("'%Y-%m'")
    return func.strftime(month, column) if is_date else func.strftime(month, column, text("'+8 hours'"))


def local_start(day: date) -> datetime:
    """The UTC instant at which a Shanghai day begins."""
    return datetime.combine(day, time(0), tzinfo=SHANGHAI).astimezone(timezone.utc)


def within_period(column, start: date | None, end: date | None, *, is_date: bool) -> list:
    clauses = []
    if start:
        clauses.append(column >= (start if is_date else local_start(start)))
    if end:
        clauses.append(column <= (end if is_date else end_of_local_day(end)))
    return clauses


def funnel(session: Session, *, start: date | None = None, end: date | None = None, city: str | None = None,
           project_id: int | None = None, team_of: int | None = None, by: Breakdown = "city") -> Funnel:
    if by not in BREAKDOWNS:
        raise ValueError(f"unknown breakdown {by!r}")
    members = team_members(session, team_of, end) if team_of is not None else None
    chunks = id_chunks(session, members) if members is not None else [None]
    groups: dict[str, FunnelRow] = {}

    def row(key) -> FunnelRow:
        key = "" if key is None else str(key)
        if key not in groups:
            groups[key] = FunnelRow(key=key, label=key)
        return groups[key]

    link_city = func.coalesce(Project.city, Consultant.city)
    specs = [  # step, FROM, inner joins, time column, is a date column, consultant, city, project columns
        ("opens", LinkOpen, [(InviteLink, InviteLink.id == LinkOpen.link_id)], LinkOpen.opened_at, False,
         InviteLink.consultant_id, link_city, InviteLink.project_id),
        ("signups", Attribution, [], Attribution.attributed_at, False, Attribution.consultant_id, link_city,
         Attribution.project_id),
        ("registrations", Registration, [], Registration.created_at, False, Registration.consultant_id,
         Project.city, Registration.project_id),
        ("visits", Visit, [(Registration, Registration.id == Visit.registration_id)], Visit.confirmed_at, False,
         Registration.consultant_id, Project.city, Registration.project_id),
        ("deals", Deal, [], Deal.subscribed_on, True, Deal.consultant_id, Project.city, Deal.project_id),
    ]
    for step, from_, joins, when, is_date, consultant_col, city_col, project_col in specs:
        key = {"city": city_col, "project": project_col,
               "month": local_month(session, when, is_date=is_date)}[by]
        measures = [func.count()]
        if step == "deals":
            measures += [func.coalesce(func.sum(Deal.price_cents), 0),
                         func.coalesce(func.sum(Deal.commission_cents), 0)]
        query = select(key, *measures).select_from(from_)
        for target, on in joins:
            query = query.join(target, on)
        query = (query.outerjoin(Project, Project.id == project_col)
                 .where(*within_period(when, start, end, is_date=is_date)))
        if step in ("opens", "signups"):
            query = query.join(Consultant, Consultant.id == consultant_col)
        if step == "visits":
            query = query.where(Visit.status == "confirmed")
        if step == "deals":
            query = query.where(Deal.stage != "cancelled")
        if city:
            query = query.where(city_col == city)
        if project_id:
            query = query.where(project_col == project_id)
        for chunk in chunks:
            chunk_query = query if chunk is None else query.where(among(session, consultant_col, chunk))
            for values in session.execute(chunk_query.group_by(key)):
                target = row(values[0])
                setattr(target, step, getattr(target, step) + int(values[1]))
                if step == "deals":
                    target.gmv_cents += int(values[2])
                    target.commission_cents += int(values[3])
    if by == "project":
        ids = [int(k) for k in groups if k]
        names = {pid: name for pid, name in session.execute(select(Project.id, Project.name)
                                                             .where(Project.id.in_(ids)))} if ids else {}
        for item in groups.values():
            item.label = names.get(int(item.key), f"#{item.key}") if item.key else NO_PROJECT
    else:
        for item in groups.values():
            item.label = item.key or "未知"
    total = FunnelRow(key="", label="合计")
    for item in groups.values():
        total.add(item)
    ordered = sorted(groups.values(), key=lambda r: (r.key == "", int(r.key) if r.key.isdigit() else 0, r.key))
    return Funnel(total=total, rows=ordered, by=by,
                  team_size=len(members) - 1 if members is not None else None)


def steps(row: FunnelRow) -> list[tuple[str, str, int]]:
    """(step, Chinese label, value) for the five count steps, for charts and tables."""
    return [(name, STEP_LABELS[name], getattr(row, name)) for name in COUNT_STEPS]


__all__ = ["BREAKDOWNS", "Funnel", "FunnelRow", "STEP_LABELS", "funnel", "local_month", "local_start", "rate_bps",
           "steps", "team_members"]
