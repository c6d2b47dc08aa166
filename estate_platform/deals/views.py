"""What a consultant may see of money (DESIGN §7.6): his own commission lines with their
reasons, never other people's amounts, and his earnings from the ledger."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..commissions.models import CommissionLine
from ..ledger import services as ledger
from . import recognition
from .models import Deal
from .services import DealNotFound

ROLE_LABELS = {"platform_fee": "平台服务费", "referral": "转介分成", "upline": "上级分成", "serving": "成交顾问佣金",
               "buyer_referral": "老带新奖励"}


@dataclass
class OwnLine:
    role: str
    role_label: str
    level: int | None
    amount_cents: int
    reason: str
    status: str  # recognised | reversed | expected
    id: int | None = None  # the commission line's id (None while only expected); buy-back quotes take it


@dataclass
class OwnCommission:
    deal_id: int
    project_name: str
    unit: str
    stage: str
    subscribed_on: object
    due_on: object
    recognised: bool
    lines: list[OwnLine]
    total_cents: int


def own_commission(session: Session, consultant_id: int, deal_id: int) -> OwnCommission:
    """The consultant's own line(s) on a deal he served or earns from; 404 for anyone else."""
    deal = session.get(Deal, deal_id)
    if deal is None:
        raise DealNotFound()
    mine = list(session.scalars(select(CommissionLine).where(
        CommissionLine.deal_id == deal_id, CommissionLine.party_type == "consultant",
        CommissionLine.party_id == consultant_id).order_by(CommissionLine.version, CommissionLine.seq)))
    if deal.consultant_id != consultant_id and not mine:
        raise DealNotFound()
    lines: list[OwnLine] = []
    if deal.lines_version:
        status = "recognised" if deal.recognised else "reversed"
        lines = [OwnLine(line.role, ROLE_LABELS[line.role], line.level, line.amount_cents, line.reason, status,
                         id=line.id)
                 for line in mine if line.version == deal.lines_version]
    elif deal.stage != "cancelled":
        context = recognition.load_context(session, [deal])
        lines = [OwnLine(line.role, ROLE_LABELS[line.role], line.level, line.amount_cents, line.reason, "expected")
                 for line in recognition.lines_for(context, deal)
                 if line.party_type == "consultant" and line.party_id == consultant_id]
    return OwnCommission(deal_id=deal.id, project_name=deal.project.name, unit=deal.unit, stage=deal.stage,
                         subscribed_on=deal.subscribed_on, due_on=deal.due_on, recognised=deal.recognised,
                         lines=lines, total_cents=sum(line.amount_cents for line in lines))


@dataclass
class HistoryItem:
    at: datetime
    kind: str
    description: str
    account: str
    amount_cents: int  # positive: money in the consultant's favour
    deal_id: int | None


@dataclass
class Earnings:
    pending_cents: int
    available_cents: int
    paid_cents: int
    owed_cents: int
    history: list[HistoryItem]
    total: int
    page: int
    per_page: int


def earnings(session: Session, party_type: str, party_id: int, *, page: int = 1, per_page: int = 20) -> Earnings:
    """Balances are sums of postings: pending (earned, developer not yet paid), available,
    paid (paid out), owed (clawbacks and penalties he owes)."""
    balances = ledger.balances(session, party_type, party_id)
    # Paid out: the gross of his settlement items the gateway or provider confirmed paid (issue 12);
    # one in flight or failed (its money back in available) is not paid.
    from ..settlement.models import SettlementItem
    paid = session.scalar(
        select(func.coalesce(func.sum(SettlementItem.gross_cents), 0))
        .where(SettlementItem.party_type == party_type, SettlementItem.party_id == party_id,
               SettlementItem.status == "paid"))
    rows, total = ledger.history(session, party_type, party_id, page=page, per_page=per_page)
    history = [HistoryItem(at=txn.created_at, kind=txn.kind, description=posting.memo or txn.description,
                           account=account.kind,
                           amount_cents=-posting.amount_cents,  # credits are in his favour; owing is a debit
                           deal_id=txn.deal_id) for posting, txn, account in rows]
    return Earnings(pending_cents=-balances["pending"], available_cents=-balances["available"],
                    paid_cents=int(paid or 0), owed_cents=balances["owes"], history=history, total=total,
                    page=page, per_page=per_page)
