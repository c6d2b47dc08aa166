"""Recognising a deal's commission (DESIGN §2, §3, §5): resolve its chain as of the
subscription date, split the commission, write the lines and post them.

One path serves a single deal (when its stage reaches the rule's trigger) and the
batch (every deal that reached its trigger): both load what they need in bulk,
compute the splits in memory and post through ``ledger.post_many``, whose
idempotency keys make a re-run, a retry or a concurrent run post nothing new.

Recognition posts: developer receivable +C; platform revenue −fee; each
consultant's (or referring buyer's) pending −line. A reversal (cancellation, or
a correction before re-pricing) takes each line back from where its money is now:
the deal's pending first, then the party's available balance, and what is left
becomes an amount the party owes (clawback).

The consultants hear of recognised commissions through notices the outbox drain turns into
one message per consultant (``notices``; a batch's once it has finished).
"""
from __future__ import annotations

import json
from functools import lru_cache
from datetime import datetime
from typing import Iterable, NamedTuple, Sequence

from sqlalchemy import and_, bindparam, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from ..clock import end_of_local_day, local_date
from ..commissions.models import CommissionLine
from ..commissions.split import BuyerReferrer, Chain, Line, Member, Policy, split
from ..consultants.models import Consultant
from ..consultants.standing import Standing
from ..db import among, id_chunks
from ..identity.models import Buyer
from ..ledger import services as ledger
from ..ledger.copy import copy_rows
from ..ledger.services import Entry, Leg
from ..money import yuan
from ..notifications.services import notify_many
from ..projects.models import Project
from ..referrals.links import ChainLinks
from . import notices
from .models import Deal, DueDeal

ACCOUNT_OF_LINE = {"platform": ("revenue",), "consultant": ("pending",), "buyer": ("pending",)}


class Context:
    """What a deal's chain reads besides the deal: the referral links, each consultant's standing
    and name, the referring buyers' names, the projects' developers.

    ``load`` adds what a chunk of deals needs. What belongs to a consultant (his invite edge, his
    standing, his name) is read once and kept, so a batch that meets him in many chunks reads him
    once: memory grows with the consultants met (about 1 KB each), not with the deals, and is
    bounded: past ``KEEP_AT_MOST`` consultants the kept ones are dropped and read again as met. What
    belongs to a buyer (handoffs, 老带新 edges, referrers' names) and the members built for the
    chunk's days are replaced on every ``load``.
    """

    KEEP_AT_MOST = 20_000  # consultants (~20 MB)

    def __init__(self) -> None:
        self._forget_consultants()
        self.buyer_names: dict[int, str] = {}
        self.developer_of_project: dict[int, int] = {}
        # (consultant, as of, since) → Member: deals of one chunk share consultants and days.
        self.members: dict = {}
        self._ends_of_days: dict = {}  # subscription day → its last instant (few days, many deals)
        # An edge's start → its Shanghai date as text, kept across chunks (an upline's invite edge
        # recurs in many chunks) and dropped past KEEP_AT_MOST entries (~200 bytes each).
        self._day_texts: dict = {}

    def _forget_consultants(self) -> None:
        self.links = ChainLinks()
        self._standing_of: dict[int, Standing] = {}  # consultant → the Standing loaded with him
        self.consultant_names: dict[int, str] = {}

    def load(self, session: Session, deals: Sequence) -> "Context":
        self.members, self._ends_of_days = {}, {}
        if len(self._standing_of) > self.KEEP_AT_MOST:
            self._forget_consultants()
        if len(self._day_texts) > self.KEEP_AT_MOST:
            self._day_texts = {}
        consultants = self.links.load_consultants(session, {d.consultant_id for d in deals})
        handed_by, referrers = self.links.load_buyers(session, {d.buyer_id for d in deals})
        consultants |= handed_by
        new = consultants - self._standing_of.keys()
        if new:
            standing = Standing.load(session, new)
            for consultant_id in new:
                self._standing_of[consultant_id] = standing
            self.consultant_names.update(_names(session, Consultant, new))
        # A buyer's name shows only as a 老带新 referrer's.
        self.buyer_names = _names(session, Buyer, referrers)
        projects = {d.project_id for d in deals} - self.developer_of_project.keys()
        if projects:
            for chunk in id_chunks(session, projects):
                self.developer_of_project.update(session.execute(
                    select(Project.id, Project.developer_id).where(among(session, Project.id, chunk))).all())
        return self

    def end_of_day(self, day) -> datetime:
        found = self._ends_of_days.get(day)
        if found is None:
            found = self._ends_of_days[day] = end_of_local_day(day)
        return found

    def day_text(self, instant: datetime) -> str:
        """An edge's start as the Shanghai date the reason texts show (edges are few, members many)."""
        found = self._day_texts.get(instant)
        if found is None:
            found = self._day_texts[instant] = local_date(instant).isoformat()
        return found

    def operating_at(self, consultant_id: int, at: datetime) -> bool:
        standing = self._standing_of.get(consultant_id)
        return standing is not None and standing.operating_at(consultant_id, at)


def _names(session: Session, model, ids: set[int]) -> dict[int, str]:
    names: dict[int, str] = {}
    for chunk in id_chunks(session, ids):
        names.update(session.execute(select(model.id, model.name).where(among(session, model.id, chunk))).all())
    return {k: v or f"#{k}" for k, v in names.items()}


def load_context(session: Session, deals: Sequence[Deal]) -> Context:
    return Context().load(session, deals)


@lru_cache(maxsize=256)
def _policy_of_snapshot(snapshot: str) -> tuple[Policy, int]:
    """Deals share a handful of policy snapshots: parse each once (Policy is immutable)."""
    data = json.loads(snapshot)
    return Policy.from_dict(data), int(data.get("buyer_referral_reward_cents") or 0)


def chain_for(context: Context, deal: Deal) -> tuple[Chain, Policy]:
    """The deal's chain as of the end of its subscription day (edges that began later are ignored)."""
    policy, reward = _policy_of_snapshot(deal.policy_snapshot)
    as_of = context.end_of_day(deal.subscribed_on)
    names, links, members = context.consultant_names, context.links, context.members

    def member(consultant_id: int, since: datetime | None = None) -> Member:
        key = (consultant_id, as_of, since)
        found = members.get(key)
        if found is None:
            found = members[key] = Member(consultant_id, names.get(consultant_id, f"#{consultant_id}"),
                                          eligible=context.operating_at(consultant_id, as_of),
                                          since=context.day_text(since) if since else None)
        return found

    referrer_link = links.handoff_referrer(deal.consultant_id, deal.buyer_id, deal.project_id, as_of)
    uplines = tuple([member(link.party_id, link.since)
                     for link in links.uplines(deal.consultant_id, as_of, policy.max_upline_levels)])
    buyer_referrer = None
    buyer_link = links.buyer_referrer(deal.buyer_id, as_of) if reward > 0 else None
    if buyer_link is not None and buyer_link.party_id != deal.buyer_id:
        buyer_referrer = BuyerReferrer(buyer_link.party_id, context.buyer_names.get(buyer_link.party_id, "老业主"),
                                       reward, since=context.day_text(buyer_link.since))
    chain = Chain(serving=member(deal.consultant_id),
                  referrer=member(referrer_link.party_id, referrer_link.since) if referrer_link else None,
                  uplines=uplines, buyer_referrer=buyer_referrer)
    return chain, policy


def lines_for(context: Context, deal: Deal, commission_cents: int | None = None) -> list[Line]:
    chain, policy = chain_for(context, deal)
    return split(deal.commission_cents if commission_cents is None else commission_cents, policy, chain)


def recognition_entry(deal: Deal, developer_id: int, lines: Iterable[Line], version: int) -> Entry:
    account_of_line = ACCOUNT_OF_LINE
    legs = [Leg("developer", developer_id, "receivable", deal.commission_cents, f"成交 #{deal.id} 应收佣金")]
    legs += [Leg(line.party_type, line.party_id, account_of_line[line.party_type][0], -line.amount_cents, line.reason)
             for line in lines]
    return Entry(idempotency_key=f"deal:{deal.id}:recognise:v{version}", kind="commission_recognised",
                 description=f"成交 #{deal.id}（{deal.unit}）佣金确认 {yuan(deal.commission_cents)}",
                 legs=tuple(legs), deal_id=deal.id)


# What recognition reads of a deal: the batch loads these columns as rows (no ORM objects).
RECOGNITION_COLUMNS = (Deal.id, Deal.project_id, Deal.buyer_id, Deal.consultant_id, Deal.unit, Deal.subscribed_on,
                       Deal.stage, Deal.trigger_reached_on, Deal.commission_cents, Deal.lines_version,
                       Deal.recognised, Deal.policy_snapshot)
_CHANGED = ["recognised", "lines_version", "updated_at"]
LINE_COLUMNS = ("deal_id", "version", "seq", "party_type", "party_id", "role", "level", "amount_cents", "reason",
                "created_at")


def recognise(session: Session, deals: Sequence[Deal], *, now: datetime, actor_type: str = "system",
              actor_id: int | None = None) -> int:
    """Recognise those of these deals that reached their trigger and are not recognised.
    Returns how many were posted now; a deal whose key was posted before (by a concurrent
    run) posts nothing."""
    return len(write(session, plan(session, deals), now=now, actor_type=actor_type, actor_id=actor_id))


def _expire_loaded(session: Session, deal_ids: Iterable[int]) -> None:
    """The deals of ``deal_ids`` that the session holds as objects no longer say what the table does."""
    identity_map = session.identity_map
    if not len(identity_map):  # the batch's usual case: it holds no objects at all
        return
    for deal_id in deal_ids:
        deal = identity_map.get(identity_key(Deal, deal_id))
        if deal is not None:
            session.expire(deal, _CHANGED)


# A due deal; the database keeps every such deal in ``DueDeal`` (migration c9d0e1f2a3b4 writes
# the same rule into its triggers).
DUE = (Deal.recognised.is_(False), Deal.trigger_reached_on.is_not(None), Deal.stage != "cancelled")


def only_due(deals: Iterable) -> list:
    """``DUE`` of deals in memory (objects, or rows of ``RECOGNITION_COLUMNS``)."""
    return [d for d in deals if not d.recognised and d.stage != "cancelled" and d.trigger_reached_on is not None]


class Plan(NamedTuple):
    """What recognising some deals will write, worked out from reads alone (``plan``): a claim per
    due deal (what the plan was made from, ``_claim`` checks it again), the ledger entries of those
    with a commission, and by idempotency key (deal id, lines, new version)."""
    claims: list[tuple[int, int, int, int]]  # (deal id, new lines version, commission cents, consultant id)
    entries: list[Entry]
    planned: dict[str, tuple[int, list[Line], int]]


def plan(session: Session, deals: Sequence, context: Context | None = None) -> Plan:
    """Chains, splits and entries of those of ``deals`` (objects, or rows of ``RECOGNITION_COLUMNS``)
    that are due. Only reads: ``session`` may be another connection's (``batch.recognise_due``'s read-ahead)."""
    deals = only_due(deals)
    claims = [(d.id, d.lines_version + 1, d.commission_cents, d.consultant_id) for d in deals]
    # A commission that rounds to nothing moves no money: it is recognised without a transaction.
    deals = [d for d in deals if d.commission_cents > 0]
    if not deals:
        return Plan(claims, [], {})
    context = (context or Context()).load(session, deals)
    planned: dict[str, tuple[int, list[Line], int]] = {}
    entries = []
    developer_of_project = context.developer_of_project
    for deal in deals:
        version = deal.lines_version + 1
        lines = lines_for(context, deal)
        entry = recognition_entry(deal, developer_of_project[deal.project_id], lines, version)
        planned[entry.idempotency_key] = (deal.id, lines, version)
        entries.append(entry)
    return Plan(claims, entries, planned)


class KeyAlreadyPosted(RuntimeError):
    """A deal claimed for recognition at a version whose ledger key exists: the deal's row and
    its ledger disagree (never made by this module; refused rather than recognised without lines)."""


def write(session: Session, planned: Plan, *, now: datetime, actor_type: str = "system",
          actor_id: int | None = None, held_for: str | None = None) -> list[int]:
    """Carry out a plan: claim its deals (those still as planned: due, same version, commission and
    consultant, locked from here to the commit), post their entries, write their commission lines
    and a notice (held for a batch's end when ``held_for``). Returns the ids of the deals
    recognised now (loaded objects among them are expired). A deal recognised, cancelled or changed
    since its plan was made (by a concurrent run or a member of staff) is left as it is now; one
    still due is planned again by a later run."""
    claimed = _claim(session, planned.claims, now)
    if not claimed:
        return []
    _expire_loaded(session, claimed)
    entries = [entry for entry in planned.entries if entry.deal_id in claimed]
    created = ledger.post_many(session, entries, actor_type=actor_type, actor_id=actor_id, now=now)
    if len(created) < len(entries):
        raise KeyAlreadyPosted(", ".join(e.idempotency_key for e in entries if e.idempotency_key not in created))
    line_rows = []  # tuples of LINE_COLUMNS
    for entry in entries:
        deal_id, lines, version = planned.planned[entry.idempotency_key]
        for seq, line in enumerate(lines, start=1):
            line_rows.append((deal_id, version, seq, line.party_type, line.party_id, line.role, line.level,
                              line.amount_cents, line.reason, now))
    copy_rows(session, CommissionLine.__table__, line_rows, columns=LINE_COLUMNS)
    # The consultants hear through the drain (a commission of nothing is not told).
    notices.record(session, [entry.deal_id for entry in entries], now=now, held_for=held_for)
    return list(claimed)


# A deal is claimed by marking it recognised at its new version, only if it is still due and still
# what its plan was made from; its queue row goes in the same statement. The deals' rows are found
# by primary key, whatever plan the prepared statement gets (``deals.id = ANY(:ids)``: joined with
# the arrays alone, the deals were read whole for a hash join), and locked in the order of the ids
# (the chunk's order, the same in concurrent batches); the queue's rows are found by the marked ids
# one by one. The rule of a due deal is ``DUE``'s, compiled in.
_CLAIM = text(
    "WITH marked AS (UPDATE deals SET recognised = true, lines_version = u.version, updated_at = :now "
    "FROM unnest(CAST(:ids AS integer[]), CAST(:versions AS integer[]), CAST(:cents AS bigint[]), "
    "CAST(:consultants AS integer[])) AS u(id, version, cents, consultant_id) "
    "WHERE deals.id = u.id AND deals.id = ANY(CAST(:ids AS integer[])) AND deals.lines_version = u.version - 1 "
    "AND deals.commission_cents = u.cents AND deals.consultant_id = u.consultant_id AND {due} "
    "RETURNING deals.id), "
    "dequeued AS (DELETE FROM deal_recognition_queue q USING marked WHERE q.deal_id = marked.id) "
    "SELECT id FROM marked"
)


@lru_cache(maxsize=1)
def _claim_statement():
    due = and_(*DUE).compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    return text(_CLAIM.text.format(due=due)).bindparams(bindparam("now", type_=Deal.__table__.c.updated_at.type))


def _claim(session: Session, claims: list[tuple[int, int, int, int]], now: datetime) -> set[int]:
    """Mark recognised, at their new versions, the deals of ``claims`` that are still due and as
    planned, and take them out of the queue of due deals (``DueDeal``: its triggers leave
    recognition to this statement, so the UPDATE runs no row trigger). Returns their ids."""
    if not claims:
        return set()
    session.flush()  # a deal's pending change (its stage, from the single-deal path) counts
    if session.get_bind().dialect.name == "postgresql":
        ids, versions, cents, consultants = (list(column) for column in zip(*claims))
        return set(session.scalars(_claim_statement(), {"ids": ids, "versions": versions, "cents": cents,
                                                        "consultants": consultants, "now": now}))
    table = Deal.__table__
    statement = (table.update()
                 .where(table.c.id == bindparam("deal_id"), table.c.lines_version == bindparam("previous"),
                        table.c.commission_cents == bindparam("cents"),
                        table.c.consultant_id == bindparam("consultant"), *DUE)
                 .values(recognised=True, lines_version=bindparam("version"), updated_at=now))
    claimed = {deal_id for deal_id, version, cents, consultant in claims
               if session.execute(statement, {"deal_id": deal_id, "previous": version - 1, "version": version,
                                              "cents": cents, "consultant": consultant}).rowcount}
    dequeue(session, sorted(claimed))
    return claimed


def dequeue(session: Session, deal_ids: Sequence[int], *, unless_due: bool = False) -> None:
    """Take these deals out of the queue of due deals (``unless_due``: those that are not due now)."""
    table = DueDeal.__table__
    for chunk in id_chunks(session, deal_ids):
        statement = table.delete().where(among(session, table.c.deal_id, chunk))
        if unless_due:
            statement = statement.where(~select(Deal.id).where(Deal.id == table.c.deal_id, *DUE).exists())
        session.execute(statement)


def current_lines(session: Session, deal: Deal) -> list[CommissionLine]:
    if deal.lines_version == 0:
        return []
    return list(session.scalars(select(CommissionLine).where(CommissionLine.deal_id == deal.id,
                                                             CommissionLine.version == deal.lines_version)
                                .order_by(CommissionLine.seq)))


def reverse(session: Session, deal: Deal, *, reason: str, now: datetime, actor_type: str = "staff",
            actor_id: int | None = None) -> bool:
    """Take back every line of the recognised version (clawback). Posts once per version."""
    if not deal.recognised:
        return False
    if deal.commission_cents == 0:  # nothing was posted, nothing to take back
        deal.recognised = False
        deal.updated_at = now
        return False
    version = deal.lines_version
    developer_id = session.scalar(select(Project.developer_id).where(Project.id == deal.project_id))
    legs = [Leg("developer", developer_id, "receivable", -deal.commission_cents, f"成交 #{deal.id} 应收佣金冲回")]
    owed_by: dict[int, int] = {}
    lines = current_lines(session, deal)
    from ..buyback.services import bought_lines, recourse_legs  # buy-back imports deals: import at call time
    bought = bought_lines(session, [line.id for line in lines if line.party_type == "consultant"])
    for line in lines:
        if line.party_type == "platform":
            legs.append(Leg("platform", 0, "revenue", line.amount_cents, "平台服务费冲回"))
            continue
        if line.id in bought:  # sold to the platform: recourse (追索), issue 13 §1
            legs += recourse_legs(bought[line.id], now=now)
            owed_by[line.party_id] = owed_by.get(line.party_id, 0) + line.amount_cents
            continue
        left = line.amount_cents
        pending = -ledger.deal_balance(session, deal.id, line.party_type, line.party_id, "pending")
        from_pending = max(0, min(left, pending))
        left -= from_pending
        available = -ledger.balances(session, line.party_type, line.party_id)["available"]
        from_available = max(0, min(left, available))
        left -= from_available
        legs += [Leg(line.party_type, line.party_id, "pending", from_pending, f"{line.reason}（冲回）"),
                 Leg(line.party_type, line.party_id, "available", from_available, "已结算佣金冲回"),
                 Leg(line.party_type, line.party_id, "owes", left, "已付佣金冲回，形成欠款")]
        if line.party_type == "consultant":
            owed_by[line.party_id] = owed_by.get(line.party_id, 0) + line.amount_cents
    entry = Entry(idempotency_key=f"deal:{deal.id}:reverse:v{version}", kind="commission_reversed",
                  description=f"成交 #{deal.id}（{deal.unit}）佣金冲回：{reason}",
                  legs=tuple(leg for leg in legs if leg.amount_cents), deal_id=deal.id)
    _, posted = ledger.post(session, entry, actor_type=actor_type, actor_id=actor_id, now=now)
    deal.recognised = False
    deal.updated_at = now
    if posted:
        notify_many(session, [(consultant_id, "commission_reversed",
                               f"成交 #{deal.id}（{deal.unit}）{reason}，佣金 {yuan(amount)} 已冲回",
                               {"deal_id": deal.id}) for consultant_id, amount in sorted(owed_by.items())], now=now)
    return posted

