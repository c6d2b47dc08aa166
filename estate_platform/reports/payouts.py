"""Payouts per month (每月打款, issue 13 §2): settlement items paid, by the Asia/Shanghai month
they were settled in: gross income, owes set off, tax withheld and net money sent; and the
items by status now. Aggregate SQL only (``estate_platform.settlement`` owns the rows)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..settlement.models import SettlementItem
from .funnel import local_month, within_period

STATUS_LABELS = {"ready": "待打款", "awaiting_invoice": "待发票", "awaiting_second_approval": "待二次审批",
                 "sending": "打款中", "paid": "已到账", "failed": "失败", "held": "暂缓"}


@dataclass
class PayoutMonth:
    month: str  # YYYY-MM
    items: int
    gross_cents: int
    owes_netted_cents: int
    tax_cents: int
    net_cents: int


@dataclass
class PayoutStatus:
    status: str
    label: str
    items: int
    net_cents: int


def payouts_by_month(session: Session, *, start: date | None = None, end: date | None = None) -> list[PayoutMonth]:
    month = local_month(session, SettlementItem.settled_at, is_date=False)
    query = (select(month, func.count(), func.coalesce(func.sum(SettlementItem.gross_cents), 0),
                    func.coalesce(func.sum(SettlementItem.owes_netted_cents), 0),
                    func.coalesce(func.sum(SettlementItem.tax_cents), 0),
                    func.coalesce(func.sum(SettlementItem.net_cents), 0))
             .where(SettlementItem.status == "paid", SettlementItem.settled_at.is_not(None),
                    *within_period(SettlementItem.settled_at, start, end, is_date=False))
             .group_by(month).order_by(month))
    return [PayoutMonth(month=m, items=int(n), gross_cents=int(g), owes_netted_cents=int(o), tax_cents=int(t),
                        net_cents=int(net)) for m, n, g, o, t, net in session.execute(query)]


def payouts_by_status(session: Session) -> list[PayoutStatus]:
    rows = dict((status, (int(n), int(net))) for status, n, net in session.execute(
        select(SettlementItem.status, func.count(), func.coalesce(func.sum(SettlementItem.net_cents), 0))
        .group_by(SettlementItem.status)))
    return [PayoutStatus(status=s, label=label, items=rows.get(s, (0, 0))[0], net_cents=rows.get(s, (0, 0))[1])
            for s, label in STATUS_LABELS.items()]
