"""Export kinds of payouts (付款明细: every settlement item) and statements (对账单: what each
payee was paid, per batch, with the withholding line), DESIGN §5a: one SELECT of plain columns
streamed with ``yield_per``, filtered like the settlement list and batch pages."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..consultants.models import Consultant
from ..exports import Column, ExportKind, Filter, register
from ..identity.models import Buyer
from .models import ITEM_STATUSES, SettlementBatch, SettlementItem

BATCH = 2000
FINANCE = ("admin", "finance")
STATUS_TEXT = {"ready": "待付款", "awaiting_invoice": "待发票", "awaiting_second_approval": "待二次审批",
               "sending": "付款中", "paid": "已付款", "failed": "付款失败", "held": "暂缓"}
WITHHELD_TEXT = {"platform": "平台代扣", "provider": "灵活用工平台代征", "none": "无需代扣"}
PARTY_TEXT = {"consultant": "顾问", "buyer": "老业主"}


def _items(session: Session, filters: dict):
    query = (select(SettlementItem, SettlementBatch.key, Consultant.name, Buyer.name)
             .join(SettlementBatch, SettlementBatch.id == SettlementItem.batch_id)
             .outerjoin(Consultant, (SettlementItem.party_type == "consultant")
                        & (Consultant.id == SettlementItem.party_id))
             .outerjoin(Buyer, (SettlementItem.party_type == "buyer") & (Buyer.id == SettlementItem.party_id)))
    if "batch_id" in filters:
        query = query.where(SettlementItem.batch_id == filters["batch_id"])
    if "status" in filters:
        query = query.where(SettlementItem.status == filters["status"])
    if "tax_month" in filters:
        query = query.where(SettlementItem.tax_month == filters["tax_month"])
    query = query.order_by(SettlementItem.batch_id.desc(), SettlementItem.id)
    for item, key, consultant_name, buyer_name in session.execute(query.execution_options(yield_per=BATCH)):
        yield item, key, consultant_name or buyer_name or f"#{item.party_id}"


def _payout_rows(session: Session, filters: dict):
    for item, key, name in _items(session, filters):
        yield (item.id, item.batch_id, key, PARTY_TEXT.get(item.party_type, item.party_type), item.party_id, name,
               item.gross_cents, item.owes_netted_cents, item.tax_cents, item.net_cents,
               WITHHELD_TEXT.get(item.withheld_by, item.withheld_by), STATUS_TEXT.get(item.status, item.status),
               item.gateway_ref, item.failure_reason or item.hold_reason, item.sent_at, item.settled_at)


def _statement_rows(session: Session, filters: dict):
    for item, key, name in _items(session, {**filters, "status": "paid"}):
        yield (item.batch_id, key, item.tax_month, PARTY_TEXT.get(item.party_type, item.party_type), name,
               item.gross_cents, item.owes_netted_cents, item.tax_cents,
               WITHHELD_TEXT.get(item.withheld_by, item.withheld_by), item.net_cents, item.settled_at)


STATUS_FILTER = Filter("status", "choice", "付款状态", ITEM_STATUSES)
BATCH_FILTER = Filter("batch_id", "int", "结算批次")
MONTH_FILTER = Filter("tax_month", "text", "计税月份（YYYY-MM）")

register(ExportKind(
    name="payouts", title="付款明细", roles=FINANCE,
    columns=(Column("明细编号", "int", 10), Column("批次编号", "int", 10), Column("批次号", "text", 22),
             Column("收款方类型", "text", 10), Column("收款方编号", "int", 10), Column("收款方", "text", 14),
             Column("应付（元）", "cents"), Column("抵扣欠款（元）", "cents"), Column("代扣个税（元）", "cents"),
             Column("实付（元）", "cents"), Column("扣税方", "text", 16), Column("状态", "text", 10),
             Column("付款流水", "text", 22), Column("失败或暂缓原因", "text", 24), Column("发出时间", "datetime", 18),
             Column("到账时间", "datetime", 18)),
    filters=(BATCH_FILTER, STATUS_FILTER, MONTH_FILTER),
    rows=_payout_rows, description="结算批次的每一笔付款（与结算列表、批次页的筛选相同）"))

register(ExportKind(
    name="statements", title="结算对账单", roles=FINANCE,
    columns=(Column("批次编号", "int", 10), Column("批次号", "text", 22), Column("计税月份", "text", 10),
             Column("收款方类型", "text", 10), Column("收款方", "text", 14), Column("应付（元）", "cents"),
             Column("抵扣欠款（元）", "cents"), Column("代扣个税（元）", "cents"), Column("扣税方", "text", 16),
             Column("实付（元）", "cents"), Column("到账时间", "datetime", 18)),
    filters=(BATCH_FILTER, MONTH_FILTER),
    rows=_statement_rows, description="已付款的对账单：每位收款方每批次的应付、抵扣、代扣个税与实付"))
