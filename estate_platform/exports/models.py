"""Export jobs (后台导出) and the log of full-phone exports (issue 13 §3, issue 15 §1).

* ``ExportJob``: one XLSX written by a Celery task for a staff member, with its progress
  (``rows_done`` of ``rows_total``, counted first where the kind can count), its file under
  ``EXPORT_DIR`` (an unguessable token is the file's name) and the time the file expires.
* ``PhoneExportReveal``: one row per export that contained buyers' full phone numbers
  (完整号码导出), naming who, the kind, the filters, the row count and the stated purpose.
  ``phone_reveals`` holds one row per buyer read; a bulk export names no single buyer, so
  it has this companion table (the admin reveal page lists both).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UtcDateTime, db

JOB_STATUSES = ("queued", "running", "done", "failed", "expired")
STATUS_LABELS = {"queued": "排队中", "running": "导出中", "done": "已完成", "failed": "失败", "expired": "已过期"}


class ExportJob(db.Model):
    __tablename__ = "export_jobs"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed', 'expired')", name="status_known"),
        CheckConstraint("rows_done >= 0", name="rows_done_not_negative"),
        CheckConstraint("rows_total IS NULL OR (rows_total >= 0 AND rows_done <= rows_total)",
                        name="rows_done_within_total"),
        CheckConstraint("full_phones = (purpose IS NOT NULL)", name="full_phones_have_purpose"),
        CheckConstraint("status <> 'failed' OR error IS NOT NULL", name="failure_has_message"),
        CheckConstraint("status <> 'done' OR (finished_at IS NOT NULL AND expires_at IS NOT NULL)",
                        name="done_has_expiry"),
        Index("ix_export_jobs_staff_user_id_created_at", "staff_user_id", "created_at"),
        Index("ix_export_jobs_status_expires_at", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    kind: Mapped[str] = mapped_column(String(40))
    filters: Mapped[dict] = mapped_column(JSON)  # the parsed filters, dates as ISO strings
    full_phones: Mapped[bool] = mapped_column(Boolean, default=False)
    purpose: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10), default="queued")
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    rows_total: Mapped[int | None] = mapped_column(Integer)
    file_token: Mapped[str] = mapped_column(String(64), unique=True)  # the file's name in EXPORT_DIR
    filename: Mapped[str | None] = mapped_column(String(120))  # what the download is called (Chinese)
    error: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    staff_user = relationship("StaffUser")

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def percent(self) -> int | None:
        if self.status in ("done", "expired"):
            return 100
        if not self.rows_total:
            return None if self.rows_total is None else 0
        return min(100, self.rows_done * 100 // self.rows_total)


class PhoneExportReveal(db.Model):
    """A full-phone export (完整号码导出): the bulk counterpart of a ``phone_reveals`` row."""
    __tablename__ = "phone_export_reveals"
    __table_args__ = (
        CheckConstraint("row_count >= 0", name="row_count_not_negative"),
        Index("ix_phone_export_reveals_staff_user_id_created_at", "staff_user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    kind: Mapped[str] = mapped_column(String(40))
    filters: Mapped[dict] = mapped_column(JSON)
    row_count: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(100))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("export_jobs.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    staff_user = relationship("StaffUser")
