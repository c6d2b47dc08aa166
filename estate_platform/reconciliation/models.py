"""What a reconciliation (对账) keeps: the uploaded list, one result per row, and each
developer's remembered column mapping (DESIGN §4, §5a).

A row keeps no full phone number: only the masked form (前三后四) and the ids of the
buyer, registration, deal and dispute it was matched to. The original file is kept on
disk by its SHA-256 (``reconciliation.storage``) for operations to download.
"""
from __future__ import annotations

import json

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, \
    UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UtcDateTime, db

UPLOAD_STATUSES = ("queued", "running", "done", "failed")
# In the order the result page lists them: what needs a person first.
CATEGORIES = ("jumped", "poached", "unit_mismatch", "price_mismatch", "ambiguous", "unreadable", "unmatched", "ok")
MATCH_KINDS = ("exact", "masked", "ambiguous", "none")
CATEGORY_LABELS = {"ok": "已成交（一致）", "jumped": "跑单", "poached": "撬单", "price_mismatch": "价格不符",
                   "unit_mismatch": "房号不符", "unmatched": "未匹配", "ambiguous": "无法确定客户",
                   "unreadable": "无法读取"}
MATCH_LABELS = {"exact": "号码一致", "masked": "打码号码+姓名", "ambiguous": "多个候选", "none": "无"}
STATUS_LABELS = {"queued": "排队中", "running": "处理中", "done": "已完成", "failed": "失败"}



def _one_of(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{value}'" for value in values)


class SalesListUpload(db.Model):
    """One developer's sales list (销售台账) for one project and period, as uploaded.

    The same file (same SHA-256) for the same project is one upload: uploading it again
    returns this one and opens nothing.
    """
    __tablename__ = "sales_list_uploads"
    __table_args__ = (
        UniqueConstraint("project_id", "content_sha256"),
        CheckConstraint(f"status IN ({_one_of(UPLOAD_STATUSES)})", name="status_known"),
        CheckConstraint("period_from <= period_to", name="period_ordered"),
        CheckConstraint("rows_done >= 0 AND (rows_total IS NULL OR rows_total >= 0)", name="progress_non_negative"),
        CheckConstraint("file_format IN ('csv', 'xlsx')", name="file_format_known"),
        Index("ix_sales_list_uploads_created_at", "created_at"),
        Index("ix_sales_list_uploads_developer_id", "developer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    developer_id: Mapped[int] = mapped_column(ForeignKey("developers.id"))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    period_from: Mapped[date] = mapped_column(Date)
    period_to: Mapped[date] = mapped_column(Date)
    filename: Mapped[str] = mapped_column(String(200))
    file_format: Mapped[str] = mapped_column(String(10))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    content_sha256: Mapped[str] = mapped_column(String(64))
    # ColumnMapping.as_dict() plus the sheet of a workbook: {"columns", "price_unit", "direct_channels", "sheet"}
    mapping: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    rows_total: Mapped[int | None] = mapped_column(Integer)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))  # category → rows, once done
    disputes_opened: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)  # why it failed, for people
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    project = relationship("Project")
    developer = relationship("Developer")
    uploaded_by = relationship("StaffUser")


class SalesListRow(db.Model):
    """The result of one row of a sales list, by the line or row number a person sees."""
    __tablename__ = "sales_list_rows"
    __table_args__ = (
        UniqueConstraint("upload_id", "line"),
        CheckConstraint(f"category IN ({_one_of(CATEGORIES)})", name="category_known"),
        CheckConstraint(f"match_kind IN ({_one_of(MATCH_KINDS)})", name="match_kind_known"),
        CheckConstraint("channel IS NULL OR channel IN ('direct', 'agency')", name="channel_known"),
        CheckConstraint("line > 0", name="line_positive"),
        Index("ix_sales_list_rows_upload_id_category_line", "upload_id", "category", "line"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    upload_id: Mapped[int] = mapped_column(ForeignKey("sales_list_uploads.id"))
    line: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(20))
    match_kind: Mapped[str] = mapped_column(String(10))
    # What the row was matched to, as plain ids: a result row is a report of what was found
    # then (buyers, registrations and deals are never deleted), and foreign-key checks on
    # these three doubled the time to store a 100k-row list (benchmarks/reconciliation.py).
    buyer_id: Mapped[int | None] = mapped_column(Integer)
    registration_id: Mapped[int | None] = mapped_column(Integer)
    deal_id: Mapped[int | None] = mapped_column(Integer)
    dispute_id: Mapped[int | None] = mapped_column(ForeignKey("disputes.id"))
    phone_masked: Mapped[str | None] = mapped_column(String(100))  # 138****5678; never the whole number
    buyer_name: Mapped[str | None] = mapped_column(String(100))
    unit: Mapped[str | None] = mapped_column(String(100))
    price_cents: Mapped[int | None] = mapped_column(BigInteger)
    sale_date: Mapped[date | None] = mapped_column(Date)
    channel: Mapped[str | None] = mapped_column(String(10))
    agency: Mapped[str | None] = mapped_column(String(200))
    stake_cents: Mapped[int | None] = mapped_column(BigInteger)  # commission at stake (跑单/撬单)
    reason: Mapped[str] = mapped_column(Text)
    # An unreadable row's cells as a JSON array of text, phones masked (Text: rows travel
    # through db.bulk_insert as arrays, which a json[] cast of Python lists cannot take).
    raw: Mapped[str | None] = mapped_column(Text)

    upload = relationship("SalesListUpload")

    @property
    def raw_cells(self) -> list[str] | None:
        return json.loads(self.raw) if self.raw else None


class DeveloperColumnMapping(db.Model):
    """The column mapping last confirmed for a developer's lists: next month's file
    from the same sales office reads without asking again."""
    __tablename__ = "developer_column_mappings"

    id: Mapped[int] = mapped_column(primary_key=True)
    developer_id: Mapped[int] = mapped_column(ForeignKey("developers.id"), unique=True)
    mapping: Mapped[dict] = mapped_column(JSON)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
