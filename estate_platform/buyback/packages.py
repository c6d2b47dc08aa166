"""Collection packages (打包) and the buy-back book (垫付台账), issue 13 §1.

Finance bundles a developer's bought, not yet packaged receivables into a package with a
statement (XLSX and a printable page) to send to the developer; the package follows the
developer's payments line by line (paid / partly paid / outstanding). The book sums the
live purchases: outstanding face, cost (advances paid), expected yield (discount not yet
realised), exposure per developer, overdue lines and realised income.
"""
from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from ..db import paginate
from ..deals.models import Deal
from ..projects.models import Developer
from ..projects.services import DeveloperNotFound
from . import settings as buyback_settings
from .errors import NothingToPackage, PackageNotFound, PackageNotOpen
from .models import LIVE_LINE_STATUSES, BuybackLine, BuybackPackage

STATE_LABELS = {"paid": "已回款", "partly": "部分回款", "outstanding": "未回款"}
PACKAGE_LABELS = {"open": "待发送", "sent": "已发送", "closed": "已结清"}


def create_package(session: Session, developer_id: int, *, staff_id: int, note: str | None,
                   now: datetime) -> BuybackPackage:
    if session.get(Developer, developer_id) is None:
        raise DeveloperNotFound()
    lines = list(session.scalars(select(BuybackLine).where(
        BuybackLine.developer_id == developer_id, BuybackLine.status.in_(("purchased", "collected")),
        BuybackLine.package_id.is_(None)).with_for_update()))
    if not lines:
        raise NothingToPackage()
    package = BuybackPackage(developer_id=developer_id, status="open", note=note, created_by_id=staff_id,
                             created_at=now)
    session.add(package)
    session.flush()
    for line in lines:
        line.package_id, line.updated_at = package.id, now
    return package


def send(session: Session, package_id: int, *, now: datetime) -> BuybackPackage:
    package = session.scalar(select(BuybackPackage).where(BuybackPackage.id == package_id).with_for_update())
    if package is None:
        raise PackageNotFound()
    if package.status != "open":
        raise PackageNotOpen()
    package.status, package.sent_at = "sent", now
    return package


@dataclass
class Statement:
    package: BuybackPackage
    lines: list[BuybackLine]
    face_cents: int
    collected_cents: int
    outstanding_cents: int
    state: str


def statement(session: Session, package_id: int) -> Statement:
    package = session.scalar(select(BuybackPackage).where(BuybackPackage.id == package_id).options(
        selectinload(BuybackPackage.lines).selectinload(BuybackLine.deal).selectinload(Deal.project),
        selectinload(BuybackPackage.developer)))
    if package is None:
        raise PackageNotFound()
    lines = list(package.lines)
    face = sum(line.face_cents for line in lines)
    collected = sum(line.collected_cents for line in lines)
    state = "paid" if collected >= face else ("partly" if collected else "outstanding")
    return Statement(package, lines, face, collected, face - collected, state)


def packages(session: Session, *, developer_id: int | None, page: int, per_page: int):
    query = select(BuybackPackage).options(selectinload(BuybackPackage.lines), selectinload(BuybackPackage.developer))
    if developer_id:
        query = query.where(BuybackPackage.developer_id == developer_id)
    return paginate(session, query, BuybackPackage.created_at.desc(), BuybackPackage.id.desc(), page=page,
                    per_page=per_page)


def statement_xlsx(st: Statement) -> bytes:
    """The statement (对账单) as XLSX: Chinese headers, 元 with two decimals, a frozen header row."""
    import xlsxwriter
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet("回款包对账单")
    money = book.add_format({"num_format": "#,##0.00"})
    bold = book.add_format({"bold": True})
    sheet.write_row(0, 0, [f"回款包 #{st.package.id}", st.package.developer.name], bold)
    headers = ["成交编号", "楼盘", "房号", "网签日期", "预计回款日", "应收面值（元）", "已回款（元）", "未回款（元）", "状态"]
    sheet.write_row(2, 0, headers, bold)
    for row, line in enumerate(st.lines, start=3):
        deal = line.deal
        sheet.write_row(row, 0, [deal.id, deal.project.name, deal.unit,
                                 deal.signed_on.isoformat() if deal.signed_on else "", line.expected_on.isoformat()])
        for col, cents in ((5, line.face_cents), (6, line.collected_cents), (7, line.face_cents - line.collected_cents)):
            sheet.write_number(row, col, cents / 100, money)
        sheet.write(row, 8, STATE_LABELS[line.collection_state])
    total_row = 3 + len(st.lines)
    sheet.write(total_row, 0, "合计", bold)
    for col, cents in ((5, st.face_cents), (6, st.collected_cents), (7, st.outstanding_cents)):
        sheet.write_number(total_row, col, cents / 100, money)
    sheet.freeze_panes(3, 0)
    sheet.autofilter(2, 0, total_row - 1, len(headers) - 1)
    sheet.set_column(0, 8, 14)
    book.close()
    return out.getvalue()


# --- the book ------------------------------------------------------------------------------

@dataclass
class DeveloperExposure:
    developer_id: int
    name: str
    reserved_cents: int = 0
    outstanding_cents: int = 0
    limit_cents: int = 0


@dataclass
class Book:
    outstanding_face_cents: int
    cost_cents: int
    expected_yield_cents: int
    realised_income_cents: int
    recourse_cents: int
    reserved_cents: int
    developers: list[DeveloperExposure]
    overdue: list[BuybackLine]
    by_month: list[tuple[str, int]] = field(default_factory=list)


def book(session: Session, *, today: date, now: datetime) -> Book:
    settings = buyback_settings.current(session, now=now)
    rows = session.execute(select(
        BuybackLine.developer_id, BuybackLine.status, func.sum(BuybackLine.face_cents - BuybackLine.collected_cents),
        func.sum(BuybackLine.advance_cents), func.sum(BuybackLine.discount_cents - BuybackLine.discount_realised_cents),
        func.sum(BuybackLine.discount_realised_cents), func.sum(BuybackLine.advance_cents
                                                                + BuybackLine.remainder_paid_cents))
        .group_by(BuybackLine.developer_id, BuybackLine.status)).all()
    per_dev: dict[int, DeveloperExposure] = {}
    outstanding = cost = expected = realised = recourse = reserved = 0
    for developer_id, status, left, advance, unrealised, realised_part, recourse_part in rows:
        exp = per_dev.setdefault(developer_id, DeveloperExposure(developer_id, ""))
        realised += int(realised_part or 0)
        if status == "reserved":
            exp.reserved_cents += int(left or 0)
            reserved += int(left or 0)
        elif status == "purchased":
            exp.outstanding_cents += int(left or 0)
            outstanding += int(left or 0)
            cost += int(advance or 0)
            expected += int(unrealised or 0)
        elif status == "recourse":
            recourse += int(recourse_part or 0)
    names = dict(session.execute(select(Developer.id, Developer.name).where(Developer.id.in_(list(per_dev)))).all()) \
        if per_dev else {}
    terms = buyback_settings.developer_terms(session, per_dev, settings)
    for developer_id, exp in per_dev.items():
        exp.name, exp.limit_cents = names.get(developer_id, f"#{developer_id}"), terms[developer_id].exposure_limit_cents
    overdue = list(session.scalars(select(BuybackLine).where(
        BuybackLine.status == "purchased", BuybackLine.expected_on < today)
        .options(selectinload(BuybackLine.deal).selectinload(Deal.project), selectinload(BuybackLine.consultant))
        .order_by(BuybackLine.expected_on, BuybackLine.id).limit(200)))
    months: dict[str, int] = defaultdict(int)
    for expected_on, left in session.execute(select(BuybackLine.expected_on,
                                                    BuybackLine.face_cents - BuybackLine.collected_cents)
                                             .where(BuybackLine.status.in_(LIVE_LINE_STATUSES[1:]))):
        months[expected_on.strftime("%Y-%m")] += int(left)
    return Book(outstanding, cost, expected, realised, recourse, reserved,
                sorted(per_dev.values(), key=lambda e: -(e.outstanding_cents + e.reserved_cents)), overdue,
                sorted(months.items()))
