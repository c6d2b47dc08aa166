"""Eligibility and quotes for a buy-back (垫付报价, DESIGN §5, issue 13 §1).

A consultant may sell his own recognised, still-pending commission lines of signed, live
deals while he is operating, has credit at or above the threshold and no open dispute
(on those deals, or against him), within the exposure limits per developer, per consultant
and for the whole book. Each refusal has its own code (``errors.REFUSALS``). A quote prices
every line (``pricing.price``) and is valid for ``quote_valid_minutes``.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ..clock import SHANGHAI, local_date
from ..commissions.models import CommissionLine
from ..consultants.guard import is_operating
from ..consultants.models import Consultant
from ..db import among
from ..errors import DomainError
from ..deals.models import Deal
from ..disputes.models import Dispute
from ..models import metadata
from ..money import yuan
from ..projects.models import Project
from . import pricing
from . import settings as buyback_settings
from .errors import (BookLimit, ConsultantLimit, ConsultantNotOperating, CreditTooLow, DealNotLive, DeveloperLimit,
                     LineNotFound, LineNotPending, LineTaken, OpenDispute)
from .models import LIVE_LINE_STATUSES, BuybackLine, BuybackQuote, BuybackQuoteLine, BuybackSettings

SIGNED_LIVE = ("signed", "loan_disbursed", "paid_in_full")
OPEN_DISPUTE = ("open", "investigating")


@dataclass
class Eligible:
    line: CommissionLine
    deal: Deal
    developer_id: int


def _collected_deal_ids(session: Session, deal_ids: list[int]) -> set[int]:
    """Deals the developer has started paying (collections, DESIGN §5a): their lines are no longer pending."""
    if "collection_allocations" not in metadata.tables:
        return set()
    from ..receivables.models import Collection, CollectionAllocation
    return set(session.scalars(select(CollectionAllocation.deal_id).join(Collection)
                               .where(among(session, CollectionAllocation.deal_id, deal_ids),
                                      Collection.reversed_at.is_(None))))


def average_lateness(session: Session, developer_ids) -> dict[int, int]:
    """Each developer's average days late (amount-weighted, whole days) over its collections."""
    ids = sorted(set(developer_ids))
    result = {i: 0 for i in ids}
    if not ids or "collection_allocations" not in metadata.tables:
        return result
    from ..receivables.models import Collection, CollectionAllocation
    rows = session.execute(
        select(Project.developer_id, Collection.received_on, Deal.due_on, CollectionAllocation.amount_cents)
        .join(Deal, Deal.id == CollectionAllocation.deal_id).join(Project, Project.id == Deal.project_id)
        .join(Collection, Collection.id == CollectionAllocation.collection_id)
        .where(among(session, Project.developer_id, ids), Collection.reversed_at.is_(None),
               Deal.due_on.is_not(None)))
    weighted, amounts = defaultdict(int), defaultdict(int)
    for developer_id, received_on, due_on, amount in rows:
        weighted[developer_id] += max(0, (received_on - due_on).days) * amount
        amounts[developer_id] += amount
    for developer_id, amount in amounts.items():
        if amount:
            result[developer_id] = pricing.div_half_up(weighted[developer_id], amount)
    return result


def exposure(session: Session, *, developer_ids=(), consultant_id: int | None = None) -> dict:
    """Live exposure (reserved or bought, less what the developer paid): per developer asked, the
    consultant's and the whole book's."""
    live = BuybackLine.status.in_(LIVE_LINE_STATUSES)
    amount = func.coalesce(func.sum(BuybackLine.face_cents - BuybackLine.collected_cents), 0)
    per_developer = dict(session.execute(select(BuybackLine.developer_id, amount).where(
        live, among(session, BuybackLine.developer_id, sorted(set(developer_ids))))
        .group_by(BuybackLine.developer_id)).all()) if developer_ids else {}
    mine = int(session.scalar(select(amount).where(live, BuybackLine.consultant_id == consultant_id)) or 0) \
        if consultant_id else 0
    book = int(session.scalar(select(amount).where(live)) or 0)
    return {"developers": {d: int(per_developer.get(d, 0)) for d in developer_ids}, "consultant": mine, "book": book}


def check_consultant(session: Session, consultant: Consultant, settings: BuybackSettings) -> None:
    if not is_operating(session, consultant):
        raise ConsultantNotOperating(details={"status": consultant.status})
    if consultant.rating < settings.credit_threshold:
        raise CreditTooLow(f"您的信用分 {consultant.rating} 低于垫付要求的 {settings.credit_threshold} 分",
                           details={"score": consultant.rating, "threshold": settings.credit_threshold})


@dataclass
class Screened:
    """One pass of the line rules over some of a consultant's commission lines (by line id)."""
    lines: dict[int, CommissionLine]
    deals: dict[int, Deal]
    developers: dict[int, int]  # project id -> developer id
    not_live: list[int]  # lines not of a recognised, signed, live deal's lines in force
    deal_disputes: dict[int, list[int]]  # deal id -> its open disputes
    own_disputes: list[int]  # open disputes against the consultant himself
    collected: set[int]  # deals the developer has started paying
    taken: set[int]  # lines in a live reservation or already bought

    def dispute_ids(self) -> list[int]:
        return sorted(set(self.own_disputes).union(*self.deal_disputes.values()))

    def sellable(self, line: CommissionLine) -> bool:
        return (line.id not in self.not_live and line.deal_id not in self.deal_disputes
                and line.deal_id not in self.collected and line.id not in self.taken)

    def eligible(self, line_id: int) -> Eligible:
        line = self.lines[line_id]
        deal = self.deals[line.deal_id]
        return Eligible(line, deal, self.developers[deal.project_id])


def screen(session: Session, consultant_id: int, lines: list[CommissionLine]) -> Screened:
    """Every line rule at once, so a quote (which refuses) and the list of sellable lines (which
    leaves out) read the same rules (DESIGN §5: signed and live, no open dispute, developer not
    yet paying, not already reserved or bought)."""
    by_id = {line.id: line for line in lines}
    ids = sorted(by_id)
    deals = {d.id: d for d in session.scalars(select(Deal).where(
        among(session, Deal.id, sorted({line.deal_id for line in lines}))))} if lines else {}
    not_live = [i for i, line in sorted(by_id.items())
                if not (deals[line.deal_id].recognised and deals[line.deal_id].stage in SIGNED_LIVE
                        and deals[line.deal_id].lines_version == line.version)]
    deal_ids = sorted(deals)
    deal_disputes: dict[int, list[int]] = defaultdict(list)
    own: list[int] = []
    for dispute_id, deal_id, respondent in session.execute(
            select(Dispute.id, Dispute.deal_id, Dispute.respondent_consultant_id).where(
                Dispute.status.in_(OPEN_DISPUTE),
                or_(among(session, Dispute.deal_id, deal_ids), Dispute.respondent_consultant_id == consultant_id))
            .order_by(Dispute.id)):
        if deal_id in deals:
            deal_disputes[deal_id].append(dispute_id)
        if respondent == consultant_id:
            own.append(dispute_id)
    taken = set(session.scalars(select(BuybackLine.commission_line_id).where(
        among(session, BuybackLine.commission_line_id, ids), BuybackLine.status != "released"))) if ids else set()
    developers = dict(session.execute(select(Project.id, Project.developer_id).where(
        among(session, Project.id, sorted({d.project_id for d in deals.values()})))).all()) if deals else {}
    return Screened(by_id, deals, developers, not_live, dict(deal_disputes), own,
                    _collected_deal_ids(session, deal_ids) if deal_ids else set(), taken)


def eligible_lines(session: Session, consultant: Consultant, line_ids: list[int]) -> list[Eligible]:
    """The asked lines, or the first rule they break as a refusal (``errors.REFUSALS``)."""
    ids = sorted(set(line_ids))
    lines = list(session.scalars(select(CommissionLine).where(
        among(session, CommissionLine.id, ids), CommissionLine.party_type == "consultant",
        CommissionLine.party_id == consultant.id)))
    missing = sorted(set(ids) - {line.id for line in lines})
    if missing:
        raise LineNotFound(details={"line_ids": missing})
    s = screen(session, consultant.id, lines)
    if s.not_live:
        raise DealNotLive(details={"line_ids": s.not_live})
    if s.dispute_ids():
        raise OpenDispute(details={"dispute_ids": s.dispute_ids()})
    if s.collected:
        raise LineNotPending(details={"line_ids": sorted(i for i, l in s.lines.items() if l.deal_id in s.collected)})
    if s.taken:
        raise LineTaken(details={"line_ids": sorted(s.taken)})
    return [s.eligible(i) for i in ids]


SELLABLE_LIMIT = 100  # newest first; a quote takes at most 50 lines


@dataclass
class Sellable:
    """What /m/buyback offers: the lines a quote would take now, and why no quote would be given
    at all (not operating, credit too low, an open dispute against him) when that is so."""
    lines: list[Eligible]
    project_names: dict[int, str]
    refusal: DomainError | None


def sellable_lines(session: Session, consultant: Consultant, *, now: datetime) -> Sellable:
    """The consultant's own lines that pass the quote's line rules (``screen``), newest deal first.
    The SQL already leaves out lines that are not live and lines sold or reserved, so a consultant
    who has sold many lines still sees his sellable ones within the limit."""
    taken = select(BuybackLine.id).where(BuybackLine.commission_line_id == CommissionLine.id,
                                         BuybackLine.status != "released").exists()
    lines = list(session.scalars(
        select(CommissionLine).join(Deal, Deal.id == CommissionLine.deal_id)
        .where(CommissionLine.party_type == "consultant", CommissionLine.party_id == consultant.id,
               Deal.recognised.is_(True), Deal.stage.in_(SIGNED_LIVE), Deal.lines_version == CommissionLine.version,
               ~taken)
        .order_by(Deal.id.desc(), CommissionLine.seq).limit(SELLABLE_LIMIT)))
    s = screen(session, consultant.id, lines)
    refusal: DomainError | None = None
    try:
        check_consultant(session, consultant, buyback_settings.current(session, now=now))
    except (ConsultantNotOperating, CreditTooLow) as refused:
        refusal = refused
    if refusal is None and s.own_disputes:
        refusal = OpenDispute(details={"dispute_ids": s.own_disputes})
    found = [s.eligible(line.id) for line in lines if s.sellable(line)]
    names = dict(session.execute(select(Project.id, Project.name).where(
        among(session, Project.id, sorted({e.deal.project_id for e in found})))).all()) if found else {}
    return Sellable(found, names, refusal)


def check_limits(session: Session, consultant_id: int, faces: list[tuple[int, int]], settings: BuybackSettings) -> None:
    """``faces``: (developer id, face cents) of the lines asked for, on top of live exposure."""
    adding = defaultdict(int)
    for developer_id, face in faces:
        adding[developer_id] += face
    terms = buyback_settings.developer_terms(session, adding, settings)
    now_exposed = exposure(session, developer_ids=sorted(adding), consultant_id=consultant_id)
    for developer_id, amount in sorted(adding.items()):
        limit = terms[developer_id].exposure_limit_cents
        if now_exposed["developers"][developer_id] + amount > limit:
            raise DeveloperLimit(details={"developer_id": developer_id, "limit_cents": limit,
                                          "available_cents": max(0, limit - now_exposed["developers"][developer_id])})
    total = sum(adding.values())
    if now_exposed["consultant"] + total > settings.consultant_limit_cents:
        raise ConsultantLimit(details={"limit_cents": settings.consultant_limit_cents, "available_cents": max(
            0, settings.consultant_limit_cents - now_exposed["consultant"])})
    if now_exposed["book"] + total > settings.book_limit_cents:
        raise BookLimit(details={"available_cents": max(0, settings.book_limit_cents - now_exposed["book"])})


def terms_text(quote_totals: dict, valid_until: datetime, settings: BuybackSettings) -> str:
    """The plain-language terms the consultant accepts (条款), recourse included."""
    annual = quote_totals["equivalent_annual_bps"]
    return "\n".join([
        f"1. 平台以 {yuan(quote_totals['face_cents'])} 的面值购买您所选佣金的应收权利，"
        f"折价（手续费）{yuan(quote_totals['discount_cents'])}，折合年化约 {annual // 100}.{annual % 100:02d}%。",
        f"2. 审核通过后平台先垫付 {yuan(quote_totals['advance_cents'])}，随下一次结算打款到您的收款账户。",
        f"3. 尾款 {yuan(quote_totals['remainder_cents'])} 在开发商回款后按回款比例支付给您，平台不会截留。",
        "4. 折价按 面值 × 年化费率 × 预计回款天数 ÷ 365 + 开发商风险溢价 计算，"
        f"每笔不低于 {yuan(settings.min_fee_cents)}；垫付金额不超过面值的 {settings.advance_cap_bps // 100}%。",
        "5. 追索：若该成交退房或被撤销，已垫付的金额及已付尾款将成为您对平台的欠款，"
        "从您以后的佣金中抵扣，您可在“我的垫付”中查看。",
        f"6. 本报价有效期至 {valid_until.astimezone(SHANGHAI).strftime('%Y-%m-%d %H:%M')}（北京时间），"
        "过期须重新报价；财务审核前您可随时取消申请。",
    ])


def create_quote(session: Session, consultant: Consultant, line_ids: list[int], *, now: datetime) -> BuybackQuote:
    settings = buyback_settings.current(session, now=now)
    check_consultant(session, consultant, settings)
    found = eligible_lines(session, consultant, line_ids)
    check_limits(session, consultant.id, [(e.developer_id, e.line.amount_cents) for e in found], settings)
    developer_ids = {e.developer_id for e in found}
    terms = buyback_settings.developer_terms(session, developer_ids, settings)
    late = average_lateness(session, developer_ids)
    today = local_date(now)
    priced = []
    for e in found:
        premium = terms[e.developer_id].risk_premium_bps
        expected = pricing.expected_payment_on(today, e.deal.due_on, late[e.developer_id],
                                               fallback_days=settings.fallback_days)
        price = pricing.price(e.line.amount_cents, (expected - today).days, pricing.Terms(
            settings.annual_rate_bps, premium, settings.min_fee_cents, settings.advance_cap_bps))
        priced.append((e, premium, expected, price))
    sums = pricing.totals([p for *_, p in priced])
    expires = now + timedelta(minutes=settings.quote_valid_minutes)
    quote = BuybackQuote(consultant_id=consultant.id, **sums, annual_rate_bps=settings.annual_rate_bps,
                         advance_cap_bps=settings.advance_cap_bps, min_fee_cents=settings.min_fee_cents,
                         terms_text=terms_text(sums, expires, settings), created_at=now, expires_at=expires)
    quote.lines = [BuybackQuoteLine(
        commission_line_id=e.line.id, deal_id=e.deal.id, developer_id=e.developer_id, face_cents=p.face_cents,
        days=p.days, expected_on=expected, risk_premium_bps=premium, time_discount_cents=p.time_discount_cents,
        premium_cents=p.premium_cents, discount_cents=p.discount_cents, advance_cents=p.advance_cents,
        remainder_cents=p.remainder_cents, equivalent_annual_bps=p.equivalent_annual_bps)
        for e, premium, expected, p in priced]
    session.add(quote)
    session.flush()
    return quote
