"""Export kinds of collections (回款记录) and receivables (应收明细), DESIGN §5a: each one SELECT of
plain columns streamed with ``yield_per``, filtered like its list page."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..clock import local_date
from ..db import utcnow
from ..deals.models import Deal
from ..exports import Column, ExportKind, Filter, register
from ..projects.models import Developer, Project
from . import stakes
from .models import Collection, CollectionAllocation, DeveloperInvoice

BATCH = 2000
FINANCE = ("admin", "finance")


def _applied_by_collection():
    return (select(CollectionAllocation.collection_id, func.sum(CollectionAllocation.amount_cents).label("applied"))
            .group_by(CollectionAllocation.collection_id).subquery())


def _collection_rows(session: Session, filters: dict):
    applied = _applied_by_collection()
    query = (select(Collection.id, Developer.name, Collection.received_on, Collection.bank_reference,
                    Collection.amount_cents, func.coalesce(applied.c.applied, 0), Collection.source,
                    DeveloperInvoice.number, Collection.reversed_at, Collection.reverse_reason, Collection.created_at)
             .join(Developer, Developer.id == Collection.developer_id)
             .outerjoin(applied, applied.c.collection_id == Collection.id)
             .outerjoin(DeveloperInvoice, DeveloperInvoice.id == Collection.invoice_id))
    if "developer_id" in filters:
        query = query.where(Collection.developer_id == filters["developer_id"])
    if filters.get("status") == "standing":
        query = query.where(Collection.reversed_at.is_(None))
    elif filters.get("status") == "reversed":
        query = query.where(Collection.reversed_at.is_not(None))
    if "received_from" in filters:
        query = query.where(Collection.received_on >= filters["received_from"])
    if "received_to" in filters:
        query = query.where(Collection.received_on <= filters["received_to"])
    query = query.order_by(Collection.received_on.desc(), Collection.id.desc())
    for (cid, developer, received_on, reference, amount, applied_cents, source, invoice, reversed_at, reason,
         created_at) in session.execute(query.execution_options(yield_per=BATCH)):
        yield (cid, developer, received_on, reference, amount, applied_cents,
               0 if reversed_at else amount - applied_cents, "Stripe" if source == "stripe" else "财务登记",
               invoice, "已撤销" if reversed_at else "有效", reason, created_at)


def _deal_receivables(session: Session, filters: dict, today):
    standing = (select(CollectionAllocation.deal_id, func.sum(CollectionAllocation.amount_cents).label("applied"))
                .join(Collection, Collection.id == CollectionAllocation.collection_id)
                .where(Collection.reversed_at.is_(None), CollectionAllocation.deal_id.is_not(None))
                .group_by(CollectionAllocation.deal_id).subquery())
    due = func.coalesce(Deal.due_on, Deal.trigger_reached_on, Deal.subscribed_on)
    applied = func.coalesce(standing.c.applied, 0)
    query = (select(Deal.id, Developer.name, Project.name, Deal.unit, due, Deal.commission_cents, applied)
             .join(Project, Project.id == Deal.project_id).join(Developer, Developer.id == Project.developer_id)
             .outerjoin(standing, standing.c.deal_id == Deal.id)
             .where(Deal.recognised.is_(True), Deal.commission_cents > 0))
    if "developer_id" in filters:
        query = query.where(Developer.id == filters["developer_id"])
    if filters.get("open") == "open":
        query = query.where(Deal.commission_cents > applied)
    query = query.order_by(Developer.name, due, Deal.id)
    for deal_id, developer, project, unit, due_on, commission, paid in session.execute(
            query.execution_options(yield_per=BATCH)):
        yield _receivable_row(f"成交 #{deal_id}", developer, project, unit, due_on, commission, paid, today)


def _stake_receivables(session: Session, filters: dict, today):
    """A stake upheld against the developer (争议 #id) is owed like a deal's commission."""
    owed = stakes.stakes(session, developer_id=filters.get("developer_id"))
    paid = stakes.applied_by_dispute(session, owed)
    names = dict(session.execute(select(Project.id, Project.name).where(
        Project.id.in_({stake.project_id for stake in owed.values()}))).all()) if owed else {}
    developers = dict(session.execute(select(Developer.id, Developer.name).where(
        Developer.id.in_({stake.developer_id for stake in owed.values()}))).all()) if owed else {}
    for stake in sorted(owed.values(), key=lambda st: (developers[st.developer_id], st.due_on, st.dispute_id)):
        applied = paid.get(stake.dispute_id, 0)
        if filters.get("open") == "open" and applied >= stake.cents:
            continue
        yield _receivable_row(f"争议 #{stake.dispute_id}", developers[stake.developer_id], names.get(stake.project_id),
                              None, stake.due_on, stake.cents, applied, today)


def _receivable_row(source: str, developer, project, unit, due_on, commission: int, paid: int, today) -> tuple:
    owed = commission - paid
    return (source, developer, project, unit, due_on, commission, paid, owed,
            max(0, (today - due_on).days) if owed > 0 else 0)


def _receivable_rows(session: Session, filters: dict):
    """Deals' receivables, then the disputes' stakes: together what the developer owes in the ledger."""
    today = local_date(utcnow())
    yield from _deal_receivables(session, filters, today)
    yield from _stake_receivables(session, filters, today)


register(ExportKind(
    name="collections", title="回款记录", roles=FINANCE,
    columns=(Column("回款编号", "int", 10), Column("开发商", "text", 20), Column("到账日期", "date"),
             Column("银行流水号", "text", 22), Column("金额（元）", "cents"), Column("已核销（元）", "cents"),
             Column("未核销（元）", "cents"), Column("来源", "text", 10), Column("发票号码", "text", 18),
             Column("状态", "text", 8), Column("撤销原因", "text", 24), Column("登记时间", "datetime", 18)),
    filters=(Filter("developer_id", "int", "开发商"), Filter("status", "choice", "状态", ("standing", "reversed")),
             Filter("received_from", "date", "到账开始日期"), Filter("received_to", "date", "到账结束日期")),
    rows=_collection_rows, description="开发商回款及核销情况（与回款列表的筛选相同）"))

register(ExportKind(
    name="receivables", title="应收明细", roles=FINANCE,
    columns=(Column("来源", "text", 12), Column("开发商", "text", 20), Column("楼盘", "text", 18),
             Column("房号", "text", 12), Column("约定付款日", "date"), Column("应收佣金（元）", "cents"),
             Column("已回款（元）", "cents"), Column("未回款（元）", "cents"), Column("逾期天数", "int", 10)),
    filters=(Filter("developer_id", "int", "开发商"), Filter("open", "choice", "只看未回款", ("open",))),
    rows=_receivable_rows, description="每笔已确认佣金（成交）及争议裁定开发商应付佣金（争议）的应收、已回款与逾期天数（上海日期）"))

