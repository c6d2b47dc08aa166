"""Statements (对账单) per party per batch, issue 12 §3: what was earned, netted, withheld
and by whom, and paid. One statement is one settlement item; the party sees only his own."""
from __future__ import annotations

import io
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..clock import SHANGHAI
from ..db import paginate
from ..errors import NotFound
from ..money import yuan
from . import secrets
from .models import PayoutAccount, SettlementBatch, SettlementItem

STATUS_LABELS = {"ready": "待审批", "awaiting_invoice": "待上传发票", "awaiting_second_approval": "待复核（首次付款到新账户）",
                 "sending": "付款中", "paid": "已付款", "failed": "付款失败，已退回余额", "held": "本期暂缓"}
WITHHELD_LABELS = {"platform": "平台代扣代缴（劳务报酬预扣预缴）", "provider": "灵活用工平台代征",
                   "none": "不代扣（公司或门店顾问凭发票结算）"}


class StatementNotFound(NotFound):
    code, message = "statement_not_found", "对账单不存在"


def own_item(session: Session, party_type: str, party_id: int, item_id: int) -> SettlementItem:
    item = session.get(SettlementItem, item_id)
    if item is None or (item.party_type, item.party_id) != (party_type, party_id):
        raise StatementNotFound()
    return item


def list_for(session: Session, party_type: str, party_id: int, *, page: int, per_page: int):
    query = select(SettlementItem).where(SettlementItem.party_type == party_type,
                                         SettlementItem.party_id == party_id)
    return paginate(session, query, SettlementItem.id.desc(), page=page, per_page=per_page)


@dataclass
class Statement:
    item: SettlementItem
    batch: SettlementBatch
    account: PayoutAccount

    @property
    def lines(self) -> list[tuple[str, int]]:
        item = self.item
        lines = [("本期结算佣金（应发）", item.gross_cents)]
        if item.owes_netted_cents:
            lines.append(("抵扣欠款（佣金冲回、违约金）", -item.owes_netted_cents))
        lines.append((f"代扣个人所得税（{WITHHELD_LABELS[item.withheld_by]}）", -item.tax_cents))
        lines.append(("实发金额", item.net_cents))
        return lines

    @property
    def withholding_note(self) -> str:
        item = self.item
        if item.withheld_by == "provider":
            tax = "" if item.provider_tax_cents is None else f"，该平台回传的代征税额 {yuan(item.provider_tax_cents)}"
            return "本笔通过灵活用工平台付款，个人所得税由该平台代征，本平台不代扣" + tax
        if item.withheld_by == "platform":
            return f"个人所得税由本平台按劳务报酬所得预扣预缴（{item.tax_month} 月合并计算），已代扣 {yuan(item.tax_cents)}"
        return "公司或门店顾问凭发票结算，本平台不代扣个人所得税"

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.item.status]

    @property
    def account_masked(self) -> str:
        return f"{self.account.bank_name} {secrets.mask(self.account.account_last4)}（{self.account.holder_name}）"


def statement(session: Session, party_type: str, party_id: int, item_id: int) -> Statement:
    item = own_item(session, party_type, party_id, item_id)
    return Statement(item=item, batch=session.get(SettlementBatch, item.batch_id),
                     account=session.get(PayoutAccount, item.payout_account_id))


def staff_statement(session: Session, item_id: int) -> Statement:
    item = session.get(SettlementItem, item_id)
    if item is None:
        raise StatementNotFound()
    return statement(session, item.party_type, item.party_id, item_id)


def xlsx(statement: Statement, party_name: str) -> bytes:
    import xlsxwriter

    item, batch = statement.item, statement.batch
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = workbook.add_worksheet("对账单")
    bold, money = workbook.add_format({"bold": True}), workbook.add_format({"num_format": "#,##0.00"})
    sheet.set_column(0, 0, 44)
    sheet.set_column(1, 1, 40)
    rows = [("对账单", ""), ("收款人", party_name), ("结算批次", f"#{batch.id}"),
            ("制单时间", batch.prepared_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")),
            ("收款账户", statement.account_masked), ("状态", statement.status_label)]
    for row, (label, value) in enumerate(rows):
        sheet.write_string(row, 0, label, bold)
        sheet.write_string(row, 1, value)
    start = len(rows) + 1
    sheet.write_row(start, 0, ("项目", "金额（元）"), bold)
    for offset, (label, cents) in enumerate(statement.lines, start=1):
        sheet.write_string(start + offset, 0, label)
        sheet.write_number(start + offset, 1, cents / 100, money)
    sheet.write_string(start + len(statement.lines) + 2, 0, "代扣说明", bold)
    sheet.write_string(start + len(statement.lines) + 2, 1, statement.withholding_note)
    if item.failure_reason:
        sheet.write_string(start + len(statement.lines) + 3, 0, "失败原因", bold)
        sheet.write_string(start + len(statement.lines) + 3, 1, item.failure_reason)
    workbook.close()
    return buffer.getvalue()
