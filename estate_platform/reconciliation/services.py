"""Reconciling a developer's sales list (销售台账对账, DESIGN §4, §5a): the upload, the run
and the results.

* :func:`preview` sniffs a file for the mapping step (headers, sample rows, suggested
  and remembered mapping) and stores nothing.
* :func:`create_upload` keeps the original file (content-addressed under the storage
  directory the caller passes) and an upload row in ``queued``; the caller sends the
  ``reconciliation.run`` task once the request commits. The same file for the same
  project (same SHA-256) is the same upload: it is returned with ``created=False`` and
  nothing new happens (a failed one is queued again instead, ``created=True``). The
  confirmed mapping is remembered for the developer.
* :func:`run_upload` reads the whole list, loads what it is matched against in bulk
  (``facts.load_facts``), then works through the rows in chunks: classify
  (``matching``), open a dispute for each 跑单/撬单 through ``disputes.open_dispute``
  (keyed ``reconciliation:registration:<id>``, so a second list covering the same sale
  opens nothing), store the rows with one bulk insert and move the progress; the caller's
  ``after_chunk`` commits. **Restart:** rows already stored are kept and skipped (the
  list is processed in file order and each chunk commits rows, disputes and progress
  together, so everything up to the last stored line is done); ``(upload_id, line)`` is
  unique and inserted with ON CONFLICT DO NOTHING, so even two workers on one upload
  store each line once.
"""
from __future__ import annotations

import gc
import hashlib
import json
import logging
import re
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Callable, Iterator

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..clock import local_date
from ..commissions import pricing
from ..commissions.models import CommissionRule
from ..commissions.services import terms_of
from ..consultants.models import Consultant
from ..db import bulk_insert, paginate
from ..disputes.services import open_dispute
from ..disputes.models import Dispute
from ..errors import DomainError, NotFound, ValidationFailed
from ..identity.models import Buyer, StaffUser
from ..money import yuan
from ..phones import mask_phone
from ..projects.models import Project
from ..projects.services import get_project
from ..registrations.models import Registration
from ..visits import storage
from .facts import load_facts
from .files import SalesListUnreadable, file_format
from .mapping import FIELD_LABELS, FIELDS, ColumnMapping, MappingInvalid, header_key
from .matching import Verdict
from .models import CATEGORIES, CATEGORY_LABELS, MATCH_LABELS, DeveloperColumnMapping, SalesListRow, \
    SalesListUpload
from .reading import ReadRow, RowError, SheetPreview, read_rows, sniff

log = logging.getLogger(__name__)
CHUNK_ROWS = 10_000
ALLOWED_EXTENSIONS = (".csv", ".xlsx")
SUSPECTS = ("jumped", "poached")
_MOBILE_RUN = re.compile(r"(?<![0-9])(1[3-9][0-9])([0-9]{4})([0-9]{4})(?![0-9])")


class UploadNotFound(NotFound):
    code, message = "reconciliation_not_found", "对账记录不存在"


class MappingRequired(DomainError):
    """The file's columns cannot be mapped without a person: the details carry what the
    mapping step shows (headers, samples, the suggestion, what is missing)."""
    code, status, message = "mapping_required", 422, "无法自动识别台账的列，请确认列对应关系后再上传"


class SalesListTypeNotAllowed(DomainError):
    code, status, message = "sales_list_type_not_allowed", 422, "只能上传 .xlsx 或 .csv 格式的销售台账"


# --- the mapping step ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Preview:
    sheet: SheetPreview
    remembered: dict | None  # the developer's mapping, when it fits this file's header
    proposed: dict | None  # what an upload without a mapping would use (remembered, else suggested)


def preview_details(found: SheetPreview) -> dict:
    return {"format": found.format, "sheet": found.sheet, "sheets": list(found.sheets),
            "header_line": found.header_line, "headers": list(found.headers),
            "samples": [{"line": line, "cells": list(cells)} for line, cells in found.samples],
            "suggested": {"columns": found.suggested_columns, "price_unit": found.suggested_price_unit},
            "missing": list(found.missing), "fields": {name: FIELD_LABELS[name] for name in FIELDS}}


def _check_type(content: bytes, filename: str) -> str:
    extension = Path(filename or "").suffix.lower()
    if extension not in ALLOWED_EXTENSIONS:
        raise SalesListTypeNotAllowed(details={"filename": filename})
    kind = file_format(content)  # SalesListUnreadable for .xls, web pages, binaries, an empty file
    if f".{kind}" != extension:
        raise SalesListTypeNotAllowed(f"文件扩展名是 {extension}，内容却是 {kind.upper()}，请确认文件后重新上传",
                                      details={"filename": filename})
    return kind


def _fits(mapping: dict | None, found: SheetPreview) -> bool:
    if not mapping:
        return False
    keys = {header_key(h) for h in found.headers}
    return all(header_key(h) in keys for h in (mapping.get("columns") or {}).values())


def remembered_mapping(session: Session, developer_id: int) -> dict | None:
    row = session.scalar(select(DeveloperColumnMapping).where(DeveloperColumnMapping.developer_id == developer_id))
    return dict(row.mapping) if row is not None else None


def preview(session: Session, project_id: int, content: bytes, filename: str) -> Preview:
    """What the mapping step shows for this file; stores nothing."""
    project = get_project(session, project_id)
    _check_type(content, filename)
    found = sniff(content, filename)
    remembered = remembered_mapping(session, project.developer_id)
    if not _fits(remembered, found):
        remembered = None
    proposed = remembered or (found.suggested.as_dict() if found.suggested else None)
    return Preview(found, remembered, proposed)


def _mapping_from(data: dict) -> ColumnMapping:
    try:
        return ColumnMapping.from_dict(data)
    except MappingInvalid as problem:
        raise ValidationFailed({"mapping": [f"{k}：{v}" for k, v in problem.problems.items()]}) from None
    except (AttributeError, TypeError):
        raise ValidationFailed({"mapping": ["列对应关系格式不正确"]}) from None


def _remember(session: Session, developer_id: int, mapping: dict, staff_id: int | None, now: datetime) -> None:
    row = session.scalar(select(DeveloperColumnMapping).where(DeveloperColumnMapping.developer_id == developer_id))
    if row is None:
        try:
            with session.begin_nested():
                session.add(DeveloperColumnMapping(developer_id=developer_id, mapping=mapping,
                                                   updated_by_id=staff_id, updated_at=now))
            return
        except IntegrityError:  # remembered by a concurrent upload a moment ago: update it
            row = session.scalar(select(DeveloperColumnMapping)
                                 .where(DeveloperColumnMapping.developer_id == developer_id))
    row.mapping, row.updated_by_id, row.updated_at = mapping, staff_id, now


# --- uploading -----------------------------------------------------------------------------------

def create_upload(session: Session, staff: StaffUser, *, project_id: int, period_from: date, period_to: date,
                  filename: str, content: bytes, mapping: dict | None, storage_dir: str,
                  now: datetime) -> tuple[SalesListUpload, bool]:
    """Keep the file and queue its reconciliation; ``(upload, created)``. Without a
    mapping the developer's remembered one is used when it fits the file's header, else
    the suggested one; MappingRequired when a required column cannot be found."""
    project = get_project(session, project_id)
    if period_from > period_to:
        raise ValidationFailed({"period_to": ["对账期间的结束日期不能早于开始日期"]})
    filename = storage.sanitise_filename(filename)
    kind = _check_type(content, filename)
    digest = hashlib.sha256(content).hexdigest()
    existing = session.scalar(select(SalesListUpload).where(SalesListUpload.project_id == project.id,
                                                            SalesListUpload.content_sha256 == digest))
    if existing is not None and existing.status == "failed":
        # The same file again after a failed run: run it again (it resumes after the stored lines).
        storage.save(storage_dir, content)
        existing.status, existing.error, existing.finished_at, existing.updated_at = "queued", None, None, now
        return existing, True
    if existing is not None:
        return existing, False
    found = sniff(content, filename)
    if mapping is not None:
        chosen = _mapping_from(mapping)
        if not _fits(chosen.as_dict(), found):
            missing = [h for h in chosen.columns.values() if header_key(h) not in {header_key(x) for x in found.headers}]
            raise MappingRequired("所选的列在文件表头中找不到：" + "、".join(missing),
                                  details={**preview_details(found), "missing_columns": missing})
    else:
        remembered = remembered_mapping(session, project.developer_id)
        if _fits(remembered, found):
            chosen = _mapping_from(remembered)
        elif found.suggested is not None:
            chosen = found.suggested
        else:
            raise MappingRequired(details=preview_details(found))
    stored_mapping = {**chosen.as_dict(), "sheet": found.sheet}
    storage.save(storage_dir, content)
    upload = SalesListUpload(developer_id=project.developer_id, project_id=project.id, period_from=period_from,
                             period_to=period_to, filename=filename, file_format=kind, size_bytes=len(content),
                             content_sha256=digest, mapping=stored_mapping, status="queued", rows_done=0,
                             disputes_opened=0, uploaded_by_id=staff.id, created_at=now, updated_at=now)
    try:
        with session.begin_nested():
            session.add(upload)
    except IntegrityError:  # the same file, uploaded by a concurrent request
        existing = session.scalar(select(SalesListUpload).where(SalesListUpload.project_id == project.id,
                                                                SalesListUpload.content_sha256 == digest))
        if existing is None:
            raise
        return existing, False
    _remember(session, project.developer_id, chosen.as_dict(), staff.id, now)
    return upload, True


def get_upload(session: Session, upload_id: int) -> SalesListUpload:
    upload = session.get(SalesListUpload, upload_id)
    if upload is None:
        raise UploadNotFound()
    return upload


def list_uploads(session: Session, *, project_id: int | None = None, page: int = 1,
                 per_page: int = 20) -> tuple[list[SalesListUpload], int]:
    query = select(SalesListUpload)
    if project_id is not None:
        query = query.where(SalesListUpload.project_id == project_id)
    return paginate(session, query, SalesListUpload.created_at.desc(), SalesListUpload.id.desc(), page=page,
                    per_page=per_page)


def list_rows(session: Session, upload_id: int, *, category: str | None = None, page: int = 1,
              per_page: int = 50) -> tuple[list[SalesListRow], int]:
    get_upload(session, upload_id)
    query = select(SalesListRow).where(SalesListRow.upload_id == upload_id)
    if category is not None:
        query = query.where(SalesListRow.category == category)
    return paginate(session, query, SalesListRow.line, page=page, per_page=per_page)


def original_file(session: Session, upload_id: int, storage_dir: str) -> tuple[SalesListUpload, Path]:
    upload = get_upload(session, upload_id)
    path = storage.path_for(storage_dir, upload.content_sha256)
    if not path.is_file():
        raise UploadNotFound("原始文件已不在存储中")
    return upload, path


# --- running -------------------------------------------------------------------------------------

def _masked_text(row: ReadRow) -> str | None:
    shown = [mask_phone(p) for p in row.phones] + [m.text for m in row.masked]
    return "/".join(shown)[:100] or None


def mask_cells(cells: tuple[str, ...]) -> list[str]:
    """An unreadable row's cells as stored and shown: every whole mobile number masked."""
    return [_MOBILE_RUN.sub(r"\1****\3", cell)[:200] for cell in cells]


class _Stakes:
    """The commission at stake for a sale (DESIGN §5a): the project's rule in force on the
    sale date applied to the listed price; zero when no rule applies. Rules loaded once."""

    def __init__(self, session: Session, project_id: int):
        rules = session.scalars(select(CommissionRule).where(CommissionRule.project_id == project_id)
                                .order_by(CommissionRule.effective_from.desc())).all()
        self.rules = [(rule.effective_from, terms_of(rule)) for rule in rules]

    def __call__(self, price_cents: int | None, on: date | None) -> int | None:
        if price_cents is None or on is None:
            return None
        terms = next((t for since, t in self.rules if since <= on), None)
        return pricing.price(terms, price_cents).commission_cents if terms is not None else 0


def _dispute_text(upload: SalesListUpload, project: Project, row: ReadRow, verdict: Verdict,
                  stake: int | None) -> tuple[str, str]:
    who = f"{row.buyer_name or '客户'}（{_masked_text(row) or '号码未知'}）"
    if verdict.category == "jumped":
        subject = f"跑单：{who}在{project.name}由开发商直接成交"
    else:
        subject = f"撬单：{who}在{project.name}经{row.agency}成交"
    facts = [f"销售台账“{upload.filename}”（对账 #{upload.id}）第 {row.line} 行",
             f"签约日期 {row.sale_date.isoformat()}",
             f"房号 {row.unit or '未列明'}",
             f"成交价 {yuan(row.price_cents) if row.price_cents is not None else '未列明'}",
             f"成交渠道 {row.agency or '自然到访/案场'}",
             verdict.reason]
    if stake is not None:
        facts.append(f"按签约日生效的佣金规则，所涉佣金 {yuan(stake)}")
    return subject[:200], "；".join(facts)


def _open_disputes(session: Session, upload: SalesListUpload, project: Project,
                   suspects: list[tuple[ReadRow, Verdict, int | None]], *, now: datetime) -> tuple[dict[int, int], int]:
    """Disputes for a chunk's 跑单/撬单 rows: registration id → dispute id, and how many
    were opened now. Keys already known are looked up in one query."""
    keys = {f"reconciliation:registration:{v.registration_id}": v.registration_id for _, v, _ in suspects}
    known = dict(session.execute(select(Dispute.source_key, Dispute.id)
                                 .where(Dispute.source_key.in_(list(keys)))).all()) if keys else {}
    by_registration = {keys[k]: i for k, i in known.items()}
    fresh = [(row, verdict, stake) for row, verdict, stake in suspects if verdict.registration_id not in by_registration]
    # What open_dispute looks up, loaded in three queries: it then finds them in the session.
    loaded = [*session.scalars(select(Registration).where(Registration.id.in_({v.registration_id for _, v, _ in fresh}))),
              *session.scalars(select(Buyer).where(Buyer.id.in_({v.buyer_id for _, v, _ in fresh}))),
              *session.scalars(select(Consultant).where(Consultant.id.in_({v.consultant_id for _, v, _ in fresh})))] \
        if fresh else []
    opened = 0
    today = local_date(now)
    for row, verdict, stake in fresh:
        if verdict.registration_id in by_registration:  # the same buyer twice in one chunk
            continue
        subject, summary = _dispute_text(upload, project, row, verdict, stake)
        priced = row.price_cents is not None and row.sale_date is not None and row.sale_date <= today
        dispute, created = open_dispute(
            session, source="reconciliation", source_key=f"reconciliation:registration:{verdict.registration_id}",
            project_id=project.id, buyer_id=verdict.buyer_id, registration_id=verdict.registration_id,
            respondent_kind="developer", protected_consultant_id=verdict.consultant_id, subject=subject,
            summary=summary, opened_by_staff_id=upload.uploaded_by_id,
            sale_price_cents=row.price_cents if priced else None, sold_on=row.sale_date if priced else None, now=now)
        by_registration[verdict.registration_id] = dispute.id
        opened += created
    del loaded
    return by_registration, opened


def _row_values(upload_id: int, item: ReadRow | RowError, verdict: Verdict, stake: int | None,
                dispute_id: int | None) -> dict:
    if isinstance(item, RowError):
        return {"upload_id": upload_id, "line": item.line, "category": "unreadable", "match_kind": "none",
                "buyer_id": None, "registration_id": None, "deal_id": None, "dispute_id": None, "phone_masked": None,
                "buyer_name": None, "unit": None, "price_cents": None, "sale_date": None, "channel": None,
                "agency": None, "stake_cents": None, "reason": item.reason_zh,
                "raw": json.dumps(mask_cells(item.raw), ensure_ascii=False)}
    return {"upload_id": upload_id, "line": item.line, "category": verdict.category, "match_kind": verdict.match_kind,
            "buyer_id": verdict.buyer_id, "registration_id": verdict.registration_id, "deal_id": verdict.deal_id,
            "dispute_id": dispute_id, "phone_masked": _masked_text(item),
            "buyer_name": (item.buyer_name or None) and item.buyer_name[:100], "unit": item.unit and item.unit[:100],
            "price_cents": item.price_cents, "sale_date": item.sale_date, "channel": item.channel,
            "agency": item.agency and item.agency[:200], "stake_cents": stake, "reason": verdict.reason, "raw": None}


def _fail(upload: SalesListUpload, message: str, now: datetime) -> SalesListUpload:
    upload.status, upload.error, upload.finished_at, upload.updated_at = "failed", message, now, now
    return upload


def run_upload(session: Session, upload_id: int, *, storage_dir: str, now: datetime,
               after_chunk: Callable[[], None] = lambda: None, chunk_rows: int = CHUNK_ROWS) -> SalesListUpload:
    """Reconcile an upload (see the module docstring); safe to run again: a done upload
    is left alone and an interrupted one resumes after its last stored line.

    The cyclic garbage collector is paused for the run: the list's 100k rows and the facts
    they are matched against live until the end, and each collection would walk them all
    again (about a third of the run's time, measured); one collection runs at the end."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _run_upload(session, upload_id, storage_dir=storage_dir, now=now, after_chunk=after_chunk,
                           chunk_rows=chunk_rows)
    finally:
        if enabled:
            gc.enable()
            gc.collect()


def _run_upload(session: Session, upload_id: int, *, storage_dir: str, now: datetime,
                after_chunk: Callable[[], None], chunk_rows: int) -> SalesListUpload:
    upload = get_upload(session, upload_id)
    if upload.status == "done":
        return upload
    project = session.get(Project, upload.project_id)
    path = storage.path_for(storage_dir, upload.content_sha256)
    if not path.is_file():
        return _fail(upload, "原始文件不在存储中，无法处理", now)
    upload.status, upload.started_at, upload.updated_at, upload.error = "running", upload.started_at or now, now, None
    spent: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        spent[name] = spent.get(name, 0.0) + time.perf_counter() - clock
        clock = time.perf_counter()

    try:
        stream = read_rows(path.read_bytes(), upload.filename, _mapping_from(upload.mapping),
                           sheet=upload.mapping.get("sheet"))
        items = list(stream)
    except SalesListUnreadable as problem:
        return _fail(upload, problem.message, now)
    done_through = session.scalar(select(func.max(SalesListRow.line)).where(SalesListRow.upload_id == upload.id)) or 0
    pending = [item for item in items if item.line > done_through]
    upload.rows_total = len(items)
    upload.rows_done = len(items) - len(pending)
    lap("read")
    after_chunk()
    lap("commit")

    facts = load_facts(session, project, (item for item in pending if isinstance(item, ReadRow)))
    stakes = _Stakes(session, project.id)
    lap("facts")
    today = local_date(now)
    unreadable = Verdict("unreadable", "none", "")
    for start in range(0, len(pending), chunk_rows):
        chunk = pending[start:start + chunk_rows]
        judged = []
        for item in chunk:
            if isinstance(item, RowError):
                judged.append((item, unreadable, None))
                continue
            verdict = facts.classify(item, today=today)
            stake = stakes(item.price_cents, item.sale_date) if verdict.category in SUSPECTS else None
            judged.append((item, verdict, stake))
        lap("classify")
        disputes, opened = _open_disputes(session, upload, project,
                                          [j for j in judged if j[1].category in SUSPECTS], now=now)
        lap("disputes")
        bulk_insert(session, SalesListRow.__table__,
                    [_row_values(upload.id, item, verdict, stake, disputes.get(verdict.registration_id)
                                 if verdict.category in SUSPECTS else None)
                     for item, verdict, stake in judged],
                    conflict_do_nothing=("upload_id", "line"))
        lap("store")
        upload.rows_done = min(upload.rows_done + len(chunk), upload.rows_total)
        upload.disputes_opened += opened
        upload.updated_at = now
        after_chunk()
        lap("commit")

    counts = dict(session.execute(select(SalesListRow.category, func.count())
                                  .where(SalesListRow.upload_id == upload.id)
                                  .group_by(SalesListRow.category)).all())
    upload.counts = {category: int(counts.get(category, 0)) for category in CATEGORIES}
    upload.status, upload.finished_at, upload.updated_at = "done", now, now
    lap("counts")
    log.info("reconciliation %s: %s rows, %s disputes opened; seconds: %s", upload.id, upload.rows_total,
             upload.disputes_opened, ", ".join(f"{k} {v:.2f}" for k, v in spent.items()))
    return upload


def mark_failed(session: Session, upload_id: int, message: str, *, now: datetime) -> None:
    upload = session.get(SalesListUpload, upload_id)
    if upload is not None and upload.status != "done":
        _fail(upload, message, now)


# --- the export ------------------------------------------------------------------------------------

EXPORT_HEADERS = ("行号", "核对结果", "匹配方式", "客户姓名", "电话（脱敏）", "房号", "成交价（元）", "签约日期", "成交渠道",
                  "经纪公司", "所涉佣金（元）", "说明", "客户编号", "报备编号", "成交编号", "争议编号")


def _yuan_number(cents: int) -> Decimal:
    """Cents as an exact 元 value for a number cell (the sheet shows two decimals)."""
    return Decimal(cents).scaleb(-2)


def export_rows(session: Session, upload_id: int, *, category: str | None = None) -> tuple[SalesListUpload, IO[bytes]]:
    """The upload's rows as an XLSX workbook with Chinese headers, in a temporary file
    (XlsxWriter's constant-memory mode: rows stream to disk as they are written)."""
    import xlsxwriter

    upload = get_upload(session, upload_id)
    handle = tempfile.TemporaryFile()
    workbook = xlsxwriter.Workbook(handle, {"constant_memory": True})
    sheet = workbook.add_worksheet("对账结果")
    money = workbook.add_format({"num_format": "#,##0.00"})
    day = workbook.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, EXPORT_HEADERS)
    sheet.set_column(0, 2, 12)
    sheet.set_column(3, 10, 14)
    sheet.set_column(11, 11, 60)
    query = select(SalesListRow).where(SalesListRow.upload_id == upload.id)
    if category is not None:
        query = query.where(SalesListRow.category == category)
    number = 1
    for row in session.scalars(query.order_by(SalesListRow.line).execution_options(yield_per=2000)):
        reason = row.reason if not row.raw else f"{row.reason}（原始内容：{' | '.join(row.raw_cells)}）"
        sheet.write_number(number, 0, row.line)
        sheet.write_string(number, 1, CATEGORY_LABELS[row.category])
        sheet.write_string(number, 2, MATCH_LABELS[row.match_kind])
        for column, value in ((3, row.buyer_name), (4, row.phone_masked), (5, row.unit), (9, row.agency)):
            if value:
                sheet.write_string(number, column, value)
        if row.price_cents is not None:
            sheet.write_number(number, 6, _yuan_number(row.price_cents), money)
        if row.sale_date is not None:
            sheet.write_datetime(number, 7, datetime(row.sale_date.year, row.sale_date.month, row.sale_date.day), day)
        if row.channel:
            sheet.write_string(number, 8, "无（自然到访/案场）" if row.channel == "direct" else "经纪公司")
        if row.stake_cents is not None:
            sheet.write_number(number, 10, _yuan_number(row.stake_cents), money)
        sheet.write_string(number, 11, reason)
        for column, value in ((12, row.buyer_id), (13, row.registration_id), (14, row.deal_id), (15, row.dispute_id)):
            if value is not None:
                sheet.write_number(number, column, value)
        number += 1
    workbook.close()
    handle.seek(0)
    return upload, handle


def status_of(upload: SalesListUpload) -> dict:
    """The progress the result page polls."""
    total = upload.rows_total
    percent = 100 if upload.status == "done" else (int(upload.rows_done * 100 / total) if total else 0)
    return {"id": upload.id, "status": upload.status, "rows_done": upload.rows_done, "rows_total": total,
            "percent": percent, "counts": upload.counts, "disputes_opened": upload.disputes_opened,
            "error": upload.error}


def iter_categories() -> Iterator[tuple[str, str]]:
    return ((c, CATEGORY_LABELS[c]) for c in CATEGORIES)


__all__ = ["CHUNK_ROWS", "MappingRequired", "Preview", "SalesListTypeNotAllowed", "UploadNotFound", "create_upload",
           "export_rows", "get_upload", "list_rows", "list_uploads", "mark_failed", "original_file", "preview",
           "preview_details", "remembered_mapping", "run_upload", "status_of"]


def pack_rows(session: Session, dispute) -> list[dict]:
    """The developer's sales-list rows about the dispute's buyer at its project, as plain values
    for the evidence pack's 开发商销售清单 section: which upload and line, what was listed (masked
    phone only) and how it was judged."""
    from .models import SalesListUpload
    rows = session.execute(
        select(SalesListRow, SalesListUpload.filename)
        .join(SalesListUpload, SalesListUpload.id == SalesListRow.upload_id)
        .where(SalesListUpload.project_id == dispute.project_id, SalesListRow.buyer_id == dispute.buyer_id)
        .order_by(SalesListRow.upload_id, SalesListRow.line))
    return [{"upload_id": row.upload_id, "file": filename, "line": row.line,
             "category": CATEGORY_LABELS[row.category], "buyer_name": row.buyer_name or "",
             "phone": row.phone_masked or "", "unit": row.unit or "",
             "price_cents": row.price_cents, "sale_date": row.sale_date.isoformat() if row.sale_date else "",
             "agency": row.agency or "", "reason": row.reason, "dispute_id": row.dispute_id}
            for row, filename in rows]
