"""Export jobs (后台导出, issue 13 §3): a large export written by a Celery task, with progress.

A staff member starts a job for a kind and the list page's filters (the kind's own roles,
and for full phones the full-phone rule of :mod:`.phones`); the task counts the rows first
(``rows_total``, where the kind can count), writes the XLSX to ``EXPORT_DIR`` under an
unguessable name, reporting ``rows_done`` every ``EXPORT_PROGRESS_ROWS`` rows, and marks the
job ``done`` with an expiry (``EXPORT_FILE_TTL_HOURS``) or ``failed`` with a message. A job
is visible to the staff member who started it and to admins. A failed job can be retried:
the task rewrites the file whole, so running it twice is harmless. The sweep (beat) deletes
expired files (the job becomes ``expired``), fails jobs whose worker died, and re-sends
queued jobs whose task was lost while the broker was down.

Progress is written on its own short transaction while the rows stream from the session's
server-side cursor. On SQLite an open reader blocks every writer, so there the job shows
its progress only when done; PostgreSQL shows it every N rows.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Mapping

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from ..db import paginate
from ..errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from ..identity.models import StaffUser
from . import get_kind, parse_filters
from . import phones
from .models import ExportJob
from .writer import file_names, full_phone_columns, write_xlsx

FAILED_MESSAGE = "导出时出错，请重试；仍然失败请联系技术支持"
STALE_MESSAGE = "导出中断（后台进程已退出），请重试"


class ExportJobNotFound(NotFound):
    code, message = "export_job_not_found", "没有这个导出任务"


class ExportJobNotReady(Conflict):
    code, message = "export_job_not_ready", "导出尚未完成，请稍后再下载"


class ExportFileExpired(DomainError):
    code, status, message = "export_file_expired", 410, "导出文件已过期并已删除，请重新导出"


class ExportJobNotRetryable(Conflict):
    code, message = "export_job_not_retryable", "只有失败的导出任务可以重试"


class ExportRoleForbidden(Forbidden):
    """The kind's own roles (``ExportKind.roles``) decide, as for a direct download."""
    code, message = "role_forbidden", "您的角色无权导出这类数据"


@dataclass(frozen=True)
class JobSettings:
    directory: Path
    ttl: timedelta
    progress_rows: int
    stale_after: timedelta
    resend_after: timedelta = timedelta(minutes=15)

    @classmethod
    def from_config(cls, config: Mapping) -> "JobSettings":
        directory = config.get("EXPORT_DIR") or os.path.join(config["INSTANCE_PATH"], "exports")
        return cls(directory=Path(directory), ttl=timedelta(hours=config.get("EXPORT_FILE_TTL_HOURS", 24)),
                   progress_rows=max(1, config.get("EXPORT_PROGRESS_ROWS", 2000)),
                   stale_after=timedelta(minutes=config.get("EXPORT_JOB_STALE_MINUTES", 60)))

    def path(self, job: ExportJob) -> Path:
        return self.directory / f"{job.file_token}.xlsx"


def start_job(session: Session, staff: StaffUser, kind_name: str, raw_filters: Mapping, *, full_phones: bool = False,
              purpose: str | None = None, now: datetime) -> ExportJob:
    """Queue an export (the caller sends the task after the commit). Refusals as for a download:
    unknown kind 404, role 403 ``role_forbidden``, filters 422, full phones 403/422."""
    kind = get_kind(kind_name)
    if staff.role not in kind.roles:
        raise ExportRoleForbidden(details={"allowed_roles": list(kind.roles)})
    text = phones.check(staff, kind, purpose) if full_phones else None
    try:
        filters = parse_filters(kind, dict(raw_filters))
    except ValidationFailed as exc:  # the request names them inside ``filters``
        raise ValidationFailed({f"filters.{name}": problems for name, problems in exc.details["fields"].items()}) \
            from None
    job = ExportJob(staff_user_id=staff.id, kind=kind.name, filters=phones.stored_filters(filters),
                    full_phones=bool(full_phones), purpose=text, status="queued", rows_done=0, attempts=0,
                    file_token=secrets.token_urlsafe(32), created_at=now)
    session.add(job)
    session.flush()
    return job


def visible_job(session: Session, staff: StaffUser, job_id: int) -> ExportJob:
    """The job if ``staff`` started it or is an admin; anyone else is told it does not exist."""
    job = session.get(ExportJob, job_id)
    if job is None or (job.staff_user_id != staff.id and staff.role != "admin"):
        raise ExportJobNotFound()
    return job


def list_jobs(session: Session, staff: StaffUser, *, page: int = 1, per_page: int = 20) -> tuple[list[ExportJob], int]:
    """Newest first: one's own jobs (an admin sees everyone's)."""
    query = select(ExportJob)
    if staff.role != "admin":
        query = query.where(ExportJob.staff_user_id == staff.id)
    return paginate(session, query, ExportJob.created_at.desc(), ExportJob.id.desc(), page=page, per_page=per_page)


def file_of(session: Session, staff: StaffUser, job_id: int, settings: JobSettings, *, now: datetime) -> tuple[ExportJob, Path]:
    job = visible_job(session, staff, job_id)
    if job.status == "expired" or (job.status == "done" and job.expires_at <= now):
        raise ExportFileExpired(details={"expired_at": job.expires_at.isoformat() if job.expires_at else None})
    if job.status != "done":
        raise ExportJobNotReady(details={"status": job.status})
    path = settings.path(job)
    if not path.is_file():
        raise ExportFileExpired()
    return job, path


def retry_job(session: Session, staff: StaffUser, job_id: int) -> ExportJob:
    """A failed job goes back to the queue (the caller sends the task after the commit)."""
    job = visible_job(session, staff, job_id)
    if job.status != "failed":
        raise ExportJobNotRetryable(details={"status": job.status})
    job.status, job.error, job.rows_done, job.rows_total = "queued", None, 0, None
    session.flush()
    return job


# --- the task's work -------------------------------------------------------------------------------------

def progress_writer(session: Session) -> Callable[[int, int], None]:
    """``write(job_id, rows_done)`` on a short transaction of its own (the session is streaming)."""
    engine = session.get_bind()
    if engine.dialect.name == "sqlite":  # a writer would wait for the open reader: see the module docstring
        return lambda job_id, rows_done: None

    def write(job_id: int, rows_done: int) -> None:
        with engine.begin() as connection:
            connection.execute(update(ExportJob).where(ExportJob.id == job_id, ExportJob.status == "running")
                               .values(rows_done=rows_done))
    return write


def run_job(session: Session, job_id: int, settings: JobSettings, *, now: datetime,
            checkpoint: Callable[[], None], clock: Callable[[], datetime],
            write_progress: Callable[[int, int], None] | None = None) -> ExportJob | None:
    """Write the job's file (again, whole, if a worker died); ``checkpoint`` commits the start."""
    claimed = session.execute(
        update(ExportJob).where(ExportJob.id == job_id, or_(
            ExportJob.status == "queued",
            and_(ExportJob.status == "running", ExportJob.started_at <= now - settings.stale_after)))
        .values(status="running", started_at=now, error=None, rows_done=0, rows_total=None,
                attempts=ExportJob.attempts + 1)
        .execution_options(synchronize_session=False)).rowcount
    job = session.get(ExportJob, job_id, populate_existing=True)
    if not claimed:  # done, expired, failed, or another worker is writing it now
        return job
    kind = get_kind(job.kind)
    filters = parse_filters(kind, job.filters)
    job.rows_total = total = kind.count(session, filters) if kind.count is not None else None
    checkpoint()
    write = write_progress or progress_writer(session)

    def report(rows_done: int) -> None:
        write(job_id, min(rows_done, total) if total is not None else rows_done)

    settings.directory.mkdir(parents=True, exist_ok=True)
    path = settings.path(job)
    part = path.with_suffix(f".{secrets.token_hex(4)}.part")  # each run its own: the rename is atomic
    rows = (kind.full_phone_rows if job.full_phones else kind.rows)(session, filters)
    try:
        with open(part, "wb") as handle:
            count = write_xlsx(kind, rows, handle, columns=full_phone_columns(kind) if job.full_phones else None,
                               progress=report, every=settings.progress_rows)
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    finished = clock()
    job.status, job.rows_done, job.rows_total = "done", count, count
    job.finished_at, job.expires_at = finished, finished + settings.ttl
    job.filename = file_names(kind, finished, full_phones=job.full_phones)[0]
    if job.full_phones:
        phones.log_export(session, job.staff_user_id, kind, filters, rows=count, purpose=job.purpose, now=finished,
                          job_id=job.id)
    session.flush()
    return job


def mark_failed(session: Session, job_id: int, message: str, *, now: datetime) -> None:
    job = session.get(ExportJob, job_id)
    if job is not None and job.status in ("queued", "running"):
        job.status, job.error, job.finished_at = "failed", message, now
        if job.rows_total is not None and job.rows_done > job.rows_total:
            job.rows_done = job.rows_total
        session.flush()


def sweep(session: Session, settings: JobSettings, *, now: datetime, limit: int = 200) -> dict:
    """Expire files past their time, fail jobs whose worker died, and return the queued jobs whose
    task was lost (the caller sends them again after the commit). Safe to run twice."""
    expired = session.scalars(select(ExportJob).where(ExportJob.status == "done", ExportJob.expires_at <= now)
                              .order_by(ExportJob.id).limit(limit)).all()
    for job in expired:
        settings.path(job).unlink(missing_ok=True)
        job.status = "expired"
    stale = session.scalars(select(ExportJob).where(ExportJob.status == "running",
                                                    ExportJob.started_at <= now - settings.stale_after)
                            .order_by(ExportJob.id).limit(limit)).all()
    for job in stale:
        mark_failed(session, job.id, STALE_MESSAGE, now=now)
        for part in settings.directory.glob(f"{job.file_token}.*.part"):
            part.unlink(missing_ok=True)
    lost = session.scalars(select(ExportJob).where(ExportJob.status == "queued",
                                                   ExportJob.created_at <= now - settings.resend_after)
                           .order_by(ExportJob.id).limit(limit)).all()
    session.flush()
    return {"expired": len(expired), "failed": len(stale), "resend": [job.id for job in lost]}
