"""Developer statements (对账函) and receivables aging (账龄) (issue 12 §1).

A statement covers one developer and a period (Shanghai dates): the balance owed at its start,
each deal whose commission was recognised in it (a receivable) and each stake of a dispute upheld
against the developer in it (a receivable with no deal), each payment received in it,
and the balance at its end. What finance records of the developer's answer (confirmed or
objected, with the date and a note) is kept beside it. Aging puts what is still owed on each
deal in a bucket by days past its due date, per developer and project.
"""
from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..clock import local_date
from ..commissions.models import CommissionLine
from ..deals.models import Deal
from ..errors import ValidationFailed
from ..identity.models import StaffUser
from ..projects.models import Developer, Project
from . import releases
from .allocation import AGING_BUCKETS, AGING_LABELS, aging_bucket
from .models import STATEMENT_RESPONSES, Collection, DeveloperStatementResponse

RESPONSE_LABELS = {"confirmed": "已确认", "objected": "有异议"}


@dataclass
class StatementDeal:
    deal_id: int
    project: str
    unit: str
    recognised_on: date
    due_on: date | None
    commission_cents: int
    applied_cents: int  # by now, from every standing payment


@dataclass
class StatementStake:
    """The stake of a dispute upheld against the developer: a receivable with no deal."""
    dispute_id: int
    project: str
    subject: str
    recognised_on: date
    due_on: date
    commission_cents: int
    applied_cents: int


@dataclass
class StatementPayment:
    collection_id: int
    received_on: date
    bank_reference: str
    amount_cents: int
    reversed: bool


@dataclass
class Statement:
    developer: Developer
    period_from: date
    period_to: date
    opening_cents: int
    deals: list[StatementDeal] = field(default_factory=list)
    stakes: list[StatementStake] = field(default_factory=list)
    payments: list[StatementPayment] = field(default_factory=list)
    responses: list[DeveloperStatementResponse] = field(default_factory=list)
    # The developer's payments not applied to any receivable now (overpayments, and money taken
    # back off cancelled deals): part of the closing balance, shown so it can be applied.
    unapplied_cents: int = 0

    @property
    def receivable_cents(self) -> int:
        return sum(d.commission_cents for d in self.deals) + sum(s.commission_cents for s in self.stakes)

    @property
    def paid_cents(self) -> int:
        return sum(p.amount_cents for p in self.payments if not p.reversed)

    @property
    def closing_cents(self) -> int:
        return self.opening_cents + self.receivable_cents - self.paid_cents


def _check_period(period_from: date | None, period_to: date | None) -> None:
    errors = {}
    if period_from is None:
        errors["period_from"] = ["请选择对账起始日"]
    if period_to is None:
        errors["period_to"] = ["请选择对账截止日"]
    if period_from and period_to and period_to < period_from:
        errors["period_to"] = ["截止日不能早于起始日"]
    if errors:
        raise ValidationFailed(errors)


def statement(session: Session, developer_id: int, period_from: date, period_to: date) -> Statement:
    from .services import DeveloperNotFound
    _check_period(period_from, period_to)
    developer = session.get(Developer, developer_id)
    if developer is None:
        raise DeveloperNotFound()
    recognised = (select(CommissionLine.deal_id, func.min(CommissionLine.created_at).label("at"))
                  .join(Deal, (Deal.id == CommissionLine.deal_id) & (Deal.lines_version == CommissionLine.version))
                  .group_by(CommissionLine.deal_id).subquery())
    rows = session.execute(select(Deal, Project.name, recognised.c.at)
                           .join(Project, Project.id == Deal.project_id)
                           .join(recognised, recognised.c.deal_id == Deal.id)
                           .where(Project.developer_id == developer_id, Deal.recognised.is_(True),
                                  Deal.commission_cents > 0)).all()
    applied = releases.applied_by_deal(session, [deal.id for deal, _, _ in rows])
    opening = 0
    result = Statement(developer, period_from, period_to, 0)
    for deal, project_name, at in sorted(rows, key=lambda r: (r[2], r[0].id)):
        on = local_date(at)
        if on < period_from:
            opening += deal.commission_cents
        elif on <= period_to:
            result.deals.append(StatementDeal(deal.id, project_name, deal.unit, on, deal.due_on,
                                              deal.commission_cents, applied.get(deal.id, 0)))
    from . import stakes as stake_receivables
    owed = stake_receivables.stakes(session, developer_id=developer_id)
    stake_applied = stake_receivables.applied_by_dispute(session, list(owed))
    names = _project_names(session, {stake.project_id for stake in owed.values()})
    for dispute_id, stake in sorted(owed.items(), key=lambda kv: (kv[1].decided_at, kv[0])):
        on = local_date(stake.decided_at)
        if on < period_from:
            opening += stake.cents
        elif on <= period_to:
            result.stakes.append(StatementStake(dispute_id, names.get(stake.project_id, ""), stake.subject, on,
                                                stake.due_on, stake.cents, stake_applied.get(dispute_id, 0)))
    for collection in session.scalars(select(Collection).where(Collection.developer_id == developer_id,
                                                               Collection.received_on <= period_to)
                                      .order_by(Collection.received_on, Collection.id)):
        if collection.received_on < period_from:
            opening -= collection.amount_cents if collection.reversed_at is None else 0
        else:
            result.payments.append(StatementPayment(collection.id, collection.received_on, collection.bank_reference,
                                                    collection.amount_cents, collection.reversed_at is not None))
    result.opening_cents = opening
    from .services import unapplied_of
    result.unapplied_cents = sum(unapplied_of(session, [developer_id]).get(developer_id, {}).values())
    result.responses = list(session.scalars(select(DeveloperStatementResponse).where(
        DeveloperStatementResponse.developer_id == developer_id,
        DeveloperStatementResponse.period_from == period_from, DeveloperStatementResponse.period_to == period_to)
        .order_by(DeveloperStatementResponse.id)))
    return result


def _project_names(session: Session, ids: set[int]) -> dict[int, str]:
    return dict(session.execute(select(Project.id, Project.name).where(Project.id.in_(sorted(ids)))).all()) if ids else {}


def record_response(session: Session, staff: StaffUser, developer_id: int, *, period_from: date, period_to: date,
                    response: str, responded_on: date, note: str | None, now: datetime) -> DeveloperStatementResponse:
    """The developer confirmed or objected to the statement (recorded by finance)."""
    errors = {}
    if response not in STATEMENT_RESPONSES:
        errors["response"] = ["请选择 已确认 或 有异议"]
    if responded_on is None or responded_on > local_date(now):
        errors["responded_on"] = ["回函日期不能晚于今天"]
    note = (note or "").strip() or None
    if response == "objected" and not note:
        errors["note"] = ["有异议时请写明异议内容"]
    if note and len(note) > 1000:
        errors["note"] = ["说明不超过 1000 字"]
    if errors:
        raise ValidationFailed(errors)
    current = statement(session, developer_id, period_from, period_to)
    row = DeveloperStatementResponse(developer_id=developer_id, period_from=period_from, period_to=period_to,
                                     response=response, responded_on=responded_on, balance_cents=current.closing_cents,
                                     note=note, recorded_by_id=staff.id, created_at=now)
    session.add(row)
    session.flush()
    return row


def statement_xlsx(st: Statement) -> bytes:
    """The statement as XLSX: Chinese headers, amounts as numbers shown with two decimals."""
    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet("对账函")
    bold = book.add_format({"bold": True})
    head = book.add_format({"bold": True, "bg_color": "#EEF0F3", "border": 1})
    money = book.add_format({"num_format": "#,##0.00"})
    day = book.add_format({"num_format": "yyyy-mm-dd"})

    def yuan(cents: int) -> Decimal:
        return Decimal(cents).scaleb(-2)

    def when(value: date | None):
        return datetime(value.year, value.month, value.day) if value else None

    sheet.set_column(0, 0, 12)
    sheet.set_column(1, 7, 16)
    sheet.write(0, 0, f"对账函：{st.developer.name}", bold)
    sheet.write(1, 0, "对账期间")
    sheet.write(1, 1, f"{st.period_from.isoformat()} 至 {st.period_to.isoformat()}")
    sheet.write(2, 0, "期初应收余额（元）")
    sheet.write_number(2, 1, yuan(st.opening_cents), money)
    row = 4
    sheet.write_row(row, 0, ["成交编号", "楼盘", "房号", "佣金确认日", "约定付款日", "应收佣金（元）", "已回款（元）"], head)
    for d in st.deals:
        row += 1
        sheet.write_number(row, 0, d.deal_id)
        sheet.write_string(row, 1, d.project)
        sheet.write_string(row, 2, d.unit)
        sheet.write_datetime(row, 3, when(d.recognised_on), day)
        if d.due_on:
            sheet.write_datetime(row, 4, when(d.due_on), day)
        sheet.write_number(row, 5, yuan(d.commission_cents), money)
        sheet.write_number(row, 6, yuan(d.applied_cents), money)
    if st.stakes:
        row += 2
        sheet.write_row(row, 0, ["争议编号", "楼盘", "事由", "裁定日", "约定付款日", "应收涉及佣金（元）", "已回款（元）"], head)
        for s in st.stakes:
            row += 1
            sheet.write_number(row, 0, s.dispute_id)
            sheet.write_string(row, 1, s.project)
            sheet.write_string(row, 2, s.subject)
            sheet.write_datetime(row, 3, when(s.recognised_on), day)
            sheet.write_datetime(row, 4, when(s.due_on), day)
            sheet.write_number(row, 5, yuan(s.commission_cents), money)
            sheet.write_number(row, 6, yuan(s.applied_cents), money)
    row += 2
    sheet.write_row(row, 0, ["回款编号", "到账日期", "银行流水号", "金额（元）", "状态"], head)
    for p in st.payments:
        row += 1
        sheet.write_number(row, 0, p.collection_id)
        sheet.write_datetime(row, 1, when(p.received_on), day)
        sheet.write_string(row, 2, p.bank_reference)
        sheet.write_number(row, 3, yuan(p.amount_cents), money)
        sheet.write_string(row, 4, "已撤销" if p.reversed else "有效")
    row += 2
    for label, cents in (("本期应收（元）", st.receivable_cents), ("本期回款（元）", st.paid_cents),
                         ("期末应收余额（元）", st.closing_cents), ("其中未核销回款（当前，元）", st.unapplied_cents)):
        sheet.write_string(row, 0, label, bold)
        sheet.write_number(row, 1, yuan(cents), money)
        row += 1
    book.close()
    return out.getvalue()


# --- aging -------------------------------------------------------------------------------------

@dataclass
class AgingRow:
    developer_id: int
    developer_name: str
    project_id: int
    project_name: str
    buckets: dict[str, int]

    @property
    def total_cents(self) -> int:
        return sum(self.buckets.values())


def aging(session: Session, *, now: datetime, developer_id: int | None = None) -> list[AgingRow]:
    """What is still owed per developer and project, by days overdue on the Shanghai date."""
    today = local_date(now)
    query = (select(Deal.id, Deal.due_on, Deal.trigger_reached_on, Deal.subscribed_on, Deal.commission_cents,
                    Project.id, Project.name, Developer.id, Developer.name)
             .join(Project, Project.id == Deal.project_id).join(Developer, Developer.id == Project.developer_id)
             .where(Deal.recognised.is_(True), Deal.commission_cents > 0))
    if developer_id is not None:
        query = query.where(Developer.id == developer_id)
    rows = session.execute(query).all()
    applied = releases.applied_by_deal(session, [r[0] for r in rows])
    table: dict[tuple[int, int], AgingRow] = {}
    names: dict[tuple[int, int], tuple[str, str]] = {}
    sums: dict[tuple[int, int], dict[str, int]] = defaultdict(lambda: {b: 0 for b in AGING_BUCKETS})
    for deal_id, due_on, trigger_on, subscribed_on, commission, project_id, project, dev_id, dev in rows:
        owed = commission - applied.get(deal_id, 0)
        if owed <= 0:
            continue
        key = (dev_id, project_id)
        names[key] = (dev, project)
        sums[key][aging_bucket(due_on or trigger_on or subscribed_on, today)] += owed
    from . import stakes as stake_receivables
    owed_stakes = stake_receivables.stakes(session, developer_id=developer_id)
    stake_applied = stake_receivables.applied_by_dispute(session, list(owed_stakes))
    if owed_stakes:
        labels = {(p, d): (dn, pn) for p, pn, d, dn in session.execute(
            select(Project.id, Project.name, Developer.id, Developer.name).join(Developer, Developer.id == Project.developer_id)
            .where(Project.id.in_(sorted({s.project_id for s in owed_stakes.values()}))))}
        for dispute_id, stake in owed_stakes.items():
            owed = stake.cents - stake_applied.get(dispute_id, 0)
            if owed <= 0:
                continue
            key = (stake.developer_id, stake.project_id)
            names[key] = labels.get((stake.project_id, stake.developer_id), ("", ""))
            sums[key][aging_bucket(stake.due_on, today)] += owed
    for key, buckets in sums.items():
        table[key] = AgingRow(key[0], names[key][0], key[1], names[key][1], dict(buckets))
    return sorted(table.values(), key=lambda r: (r.developer_name, r.project_name, r.project_id))


@dataclass
class UnappliedRow:
    developer_id: int
    developer_name: str
    unapplied_cents: int


def aging_unapplied(session: Session, *, developer_id: int | None = None) -> list[UnappliedRow]:
    """Each developer's unapplied cash beside its aging (overpayments, money back from cancelled deals)."""
    from .services import unapplied_of
    rests = unapplied_of(session, None if developer_id is None else [developer_id])
    names = dict(session.execute(select(Developer.id, Developer.name).where(Developer.id.in_(list(rests)))).all()) \
        if rests else {}
    return sorted((UnappliedRow(d, names.get(d, ""), sum(r.values())) for d, r in rests.items()),
                  key=lambda r: (r.developer_name, r.developer_id))


def aging_totals(rows: list[AgingRow]) -> dict[str, int]:
    return {b: sum(r.buckets[b] for r in rows) for b in AGING_BUCKETS}


__all__ = ["AGING_BUCKETS", "AGING_LABELS", "RESPONSE_LABELS", "aging", "aging_totals", "aging_unapplied", "record_response",
           "statement", "statement_xlsx"]
