"""The export kinds that exist today (issue 13 §3): registrations (报备记录), deals (成交记录),
commission lines (佣金分配明细) and ledger postings (记账分录). Each is one SELECT of plain
columns streamed with ``yield_per`` (a server-side cursor on PostgreSQL), filtered like its
list page, phones masked."""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from typing import Iterator

from functools import partial
from typing import Callable

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from ..clock import SHANGHAI, end_of_local_day
from ..commissions.models import CommissionLine
from ..consultants.models import Consultant
from ..deals.models import DEAL_STAGES, Deal
from ..deals.services import STAGE_LABELS
from ..identity.models import Buyer
from ..ledger.models import ACCOUNT_KINDS, PARTY_TYPES, Account, LedgerTransaction, Posting
from ..phones import mask_phone, national
from ..projects.models import Project
from ..registrations.models import REGISTRATION_STATUSES, Registration
from . import Column, ExportKind, Filter, register

BATCH = 2000
FINANCE = ("admin", "finance")
OPERATIONS = ("admin", "operations")
REGISTRATION_LABELS = {"reported": "已报备", "visited": "已到访", "expired": "已过期", "lost": "已失效",
                       "cancelled": "已取消"}
LINE_ROLE_LABELS = {"platform_fee": "平台服务费", "referral": "转介人", "upline": "上级", "serving": "成交顾问",
                    "buyer_referral": "老带新推荐人"}
PARTY_LABELS = {"platform": "平台", "developer": "开发商", "consultant": "顾问", "buyer": "购房者"}
ACCOUNT_LABELS = {"receivable": "应收佣金", "revenue": "平台收入", "pending": "待结算佣金", "available": "可提现佣金",
                  "owes": "欠款", "cash": "资金", "unapplied": "未核销回款", "tax_payable": "应交税费",
                  "in_transit": "在途付款", "purchased": "已回购应收", "remainder": "回购尾款"}


def local_start(day: date) -> datetime:
    """The UTC instant at which a Shanghai day begins."""
    return datetime.combine(day, time(0), tzinfo=SHANGHAI).astimezone(timezone.utc)


def within(column, filters: dict, start: str, end: str, *, dates: bool = False) -> list:
    """``column`` inside the filters' [start, end] Shanghai days (a date column compares days)."""
    clauses = []
    if start in filters:
        clauses.append(column >= (filters[start] if dates else local_start(filters[start])))
    if end in filters:
        clauses.append(column <= (filters[end] if dates else end_of_local_day(filters[end])))
    return clauses


def masked(phone: str | None) -> str:
    if not phone:
        return ""
    try:
        return mask_phone(phone)
    except (ValueError, IndexError):
        return "****"


def full(phone: str | None) -> str:
    """The whole number: only in the logged full-phone export (exports.phones)."""
    return national(phone) if phone else ""


def stream(session: Session, query) -> Iterator:
    return session.execute(query.execution_options(yield_per=BATCH))


def counter(build: Callable[[dict], object]) -> Callable[[Session, dict], int]:
    """``count`` of a kind whose rows are ``build(filters)``: one COUNT over the same query."""
    def count(session: Session, filters: dict) -> int:
        query = build(filters).order_by(None)
        return session.scalar(select(func.count()).select_from(query.subquery()))
    return count


# --- 报备记录 -----------------------------------------------------------------------------------------

def registration_query(filters: dict):
    query = (select(Registration.id, Registration.created_at, Project.name, Project.city, Registration.consultant_id,
                    Consultant.name, Registration.buyer_name, Buyer.phone, Registration.status, Registration.binding,
                    Registration.protected_until, Registration.ended_at, Registration.end_reason)
             .join(Project, Project.id == Registration.project_id)
             .join(Consultant, Consultant.id == Registration.consultant_id)
             .join(Buyer, Buyer.id == Registration.buyer_id)
             .where(*within(Registration.created_at, filters, "created_from", "created_to")))
    for name, column in (("status", Registration.status), ("project_id", Registration.project_id),
                         ("consultant_id", Registration.consultant_id)):
        if name in filters:
            query = query.where(column == filters[name])
    return query.order_by(Registration.id)


def registration_rows(session: Session, filters: dict, phone=masked) -> Iterator[tuple]:
    for r in stream(session, registration_query(filters)):
        yield (r[0], r[1], r[2], r[3], r[4], r[5], r[6], phone(r[7]), REGISTRATION_LABELS.get(r[8], r[8]), r[9],
               r[10], r[11], r[12] or "")


register(ExportKind(
    name="registrations", title="报备记录", roles=OPERATIONS, rows=registration_rows,
    count=counter(registration_query), full_phone_rows=partial(registration_rows, phone=full),
    description="报备记录（手机号已脱敏），筛选同报备列表页",
    columns=(Column("报备编号", "int", 10), Column("报备时间", "datetime", 17), Column("楼盘", "text", 18),
             Column("城市", "text", 8), Column("顾问编号", "int", 10), Column("顾问", "text", 12),
             Column("客户姓名", "text", 12), Column("手机号（脱敏）", "text", 14), Column("状态", "text", 8),
             Column("保护中", "bool", 8), Column("保护至", "datetime", 17), Column("结束时间", "datetime", 17),
             Column("结束原因", "text", 30)),
    filters=(Filter("status", "choice", "状态", REGISTRATION_STATUSES), Filter("project_id", "int", "楼盘"),
             Filter("consultant_id", "int", "顾问"), Filter("created_from", "date", "报备开始日期"),
             Filter("created_to", "date", "报备结束日期"))))


# --- 成交记录 -------------------------------------------------------------------------------------------

def deal_query(filters: dict):
    query = (select(Deal.id, Deal.subscribed_on, Project.name, Project.city, Deal.unit, Registration.buyer_name,
                    Buyer.phone, Deal.consultant_id, Consultant.name, Deal.price_cents, Deal.commission_cents,
                    Deal.stage, Deal.signed_on, Deal.completed_on, Deal.due_on, Deal.recognised, Deal.cancelled_at,
                    Deal.registration_id)
             .join(Project, Project.id == Deal.project_id)
             .join(Registration, Registration.id == Deal.registration_id)
             .join(Buyer, Buyer.id == Deal.buyer_id)
             .join(Consultant, Consultant.id == Deal.consultant_id)
             .where(*within(Deal.subscribed_on, filters, "subscribed_from", "subscribed_to", dates=True)))
    for name, column in (("stage", Deal.stage), ("project_id", Deal.project_id), ("consultant_id", Deal.consultant_id)):
        if name in filters:
            query = query.where(column == filters[name])
    return query.order_by(Deal.id)


def deal_rows(session: Session, filters: dict, phone=masked) -> Iterator[tuple]:
    for r in stream(session, deal_query(filters)):
        yield (*r[:6], phone(r[6]), *r[7:11], STAGE_LABELS.get(r[11], r[11]), *r[12:])


register(ExportKind(
    name="deals", title="成交记录", roles=FINANCE, rows=deal_rows,
    count=counter(deal_query), full_phone_rows=partial(deal_rows, phone=full),
    description="成交记录（金额单位元，手机号已脱敏），筛选同成交列表页",
    columns=(Column("成交编号", "int", 10), Column("认购日期", "date", 12), Column("楼盘", "text", 18),
             Column("城市", "text", 8), Column("房号", "text", 10), Column("客户姓名", "text", 12),
             Column("手机号（脱敏）", "text", 14), Column("顾问编号", "int", 10), Column("顾问", "text", 12),
             Column("成交价（元）", "cents", 16), Column("佣金（元）", "cents", 14), Column("阶段", "text", 8),
             Column("网签日期", "date", 12), Column("放款/全款日期", "date", 13), Column("预计回款日", "date", 12),
             Column("佣金已确认", "bool", 10), Column("退房时间", "datetime", 17), Column("报备编号", "int", 10)),
    filters=(Filter("stage", "choice", "阶段", DEAL_STAGES), Filter("project_id", "int", "楼盘"),
             Filter("consultant_id", "int", "顾问"), Filter("subscribed_from", "date", "认购开始日期"),
             Filter("subscribed_to", "date", "认购结束日期"))))


# --- 佣金分配明细 -----------------------------------------------------------------------------------------

def commission_line_query(filters: dict):
    """The lines in force (the deal's ``lines_version``), each with the party's name."""
    party_consultant, party_buyer = aliased(Consultant), aliased(Buyer)
    query = (select(CommissionLine.id, CommissionLine.deal_id, Deal.subscribed_on, Project.name, Deal.unit,
                    Deal.stage, CommissionLine.seq, CommissionLine.role, CommissionLine.level,
                    CommissionLine.party_type, CommissionLine.party_id, party_consultant.name, party_buyer.name,
                    CommissionLine.amount_cents, CommissionLine.reason, CommissionLine.created_at)
             .join(Deal, and_(Deal.id == CommissionLine.deal_id, Deal.lines_version == CommissionLine.version))
             .join(Project, Project.id == Deal.project_id)
             .outerjoin(party_consultant, and_(CommissionLine.party_type == "consultant",
                                               party_consultant.id == CommissionLine.party_id))
             .outerjoin(party_buyer, and_(CommissionLine.party_type == "buyer",
                                          party_buyer.id == CommissionLine.party_id))
             .where(*within(Deal.subscribed_on, filters, "subscribed_from", "subscribed_to", dates=True)))
    for name, column in (("project_id", Deal.project_id), ("deal_id", CommissionLine.deal_id),
                         ("role", CommissionLine.role), ("party_type", CommissionLine.party_type),
                         ("consultant_id", party_consultant.id)):
        if name in filters:
            query = query.where(column == filters[name])
    return query.order_by(CommissionLine.deal_id, CommissionLine.seq)


def commission_line_rows(session: Session, filters: dict) -> Iterator[tuple]:
    for r in stream(session, commission_line_query(filters)):
        party = "平台" if r[9] == "platform" else (r[11] if r[9] == "consultant" else r[12]) or f"#{r[10]}"
        yield (r[0], r[1], r[2], r[3], r[4], STAGE_LABELS.get(r[5], r[5]), r[6], LINE_ROLE_LABELS.get(r[7], r[7]),
               r[8], PARTY_LABELS.get(r[9], r[9]), r[10], party, r[13], r[14], r[15])


register(ExportKind(
    name="commission-lines", title="佣金分配明细", roles=FINANCE, rows=commission_line_rows,
    count=counter(commission_line_query),
    description="现行佣金分配明细（每笔成交现行版本的各行，金额单位元）",
    columns=(Column("明细编号", "int", 10), Column("成交编号", "int", 10), Column("认购日期", "date", 12),
             Column("楼盘", "text", 18), Column("房号", "text", 10), Column("成交阶段", "text", 10),
             Column("序号", "int", 6), Column("角色", "text", 12), Column("上级层级", "int", 8),
             Column("参与方类型", "text", 10), Column("参与方编号", "int", 10), Column("参与方", "text", 12),
             Column("金额（元）", "cents", 14), Column("计算说明", "text", 40), Column("生成时间", "datetime", 17)),
    filters=(Filter("project_id", "int", "楼盘"), Filter("deal_id", "int", "成交"),
             Filter("consultant_id", "int", "顾问"),
             Filter("role", "choice", "角色", tuple(LINE_ROLE_LABELS)),
             Filter("party_type", "choice", "参与方类型", ("platform", "consultant", "buyer")),
             Filter("subscribed_from", "date", "认购开始日期"), Filter("subscribed_to", "date", "认购结束日期"))))


# --- 记账分录 -------------------------------------------------------------------------------------------

def posting_query(filters: dict):
    query = (select(Posting.id, LedgerTransaction.id, LedgerTransaction.created_at, LedgerTransaction.kind,
                    LedgerTransaction.description, LedgerTransaction.deal_id, Account.party_type, Account.party_id,
                    Account.kind, Posting.amount_cents, Posting.memo)
             .join(LedgerTransaction, LedgerTransaction.id == Posting.transaction_id)
             .join(Account, Account.id == Posting.account_id)
             .where(*within(LedgerTransaction.created_at, filters, "from", "to")))
    for name, column in (("account_kind", Account.kind), ("party_type", Account.party_type),
                         ("party_id", Account.party_id), ("deal_id", LedgerTransaction.deal_id),
                         ("transaction_id", LedgerTransaction.id)):
        if name in filters:
            query = query.where(column == filters[name])
    return query.order_by(Posting.id)


def posting_rows(session: Session, filters: dict) -> Iterator[tuple]:
    for r in stream(session, posting_query(filters)):
        amount = r[9]
        yield (r[0], r[1], r[2], r[3], r[4], r[5], PARTY_LABELS.get(r[6], r[6]), r[7], ACCOUNT_LABELS.get(r[8], r[8]),
               amount if amount > 0 else None, -amount if amount < 0 else None, amount, r[10] or "")


register(ExportKind(
    name="postings", title="记账分录", roles=FINANCE, rows=posting_rows,
    count=counter(posting_query),
    description="总账分录（借方为正、贷方为负，金额单位元）；全部分录的金额合计为 0",
    columns=(Column("分录编号", "int", 10), Column("交易编号", "int", 10), Column("记账时间", "datetime", 17),
             Column("业务类型", "text", 18), Column("摘要", "text", 40), Column("成交编号", "int", 10),
             Column("参与方类型", "text", 10), Column("参与方编号", "int", 10), Column("科目", "text", 12),
             Column("借方（元）", "cents", 14), Column("贷方（元）", "cents", 14), Column("金额（元，借正贷负）", "cents", 16),
             Column("备注", "text", 30)),
    filters=(Filter("account_kind", "choice", "科目", ACCOUNT_KINDS),
             Filter("party_type", "choice", "参与方类型", PARTY_TYPES), Filter("party_id", "int", "参与方编号"),
             Filter("deal_id", "int", "成交"), Filter("transaction_id", "int", "交易"),
             Filter("from", "date", "开始日期"), Filter("to", "date", "结束日期"))))
