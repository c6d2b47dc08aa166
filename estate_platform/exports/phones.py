"""Full-phone export (完整号码导出, issue 13 §3, issue 15 §1, DESIGN §7.6).

Exports show masked phones. Staff whose role may call buyers (the reveal rule's platform
revealers, :data:`estate_platform.privacy.reveals.PLATFORM_REVEALERS`) may export a kind
that holds buyers' phones (``ExportKind.full_phone_rows``) with the numbers in full, as a
separate action naming its purpose. Each such export writes one ``phone_export_reveals``
row (kind, filters, row count, purpose), whether downloaded at once or written by a job.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db import paginate
from ..errors import Forbidden, ValidationFailed
from ..identity.models import StaffUser
from ..privacy.reveals import PLATFORM_REVEALERS, PURPOSE_MAX_LENGTH
from . import ExportKind, get_kind, parse_filters
from .models import PhoneExportReveal


class FullPhoneExportForbidden(Forbidden):
    code, message = "full_phone_export_forbidden", "您的角色不能导出完整手机号"


def may_export_full_phones(role: str) -> bool:
    """The roles allowed to call buyers: the same rule as a single reveal."""
    return role in PLATFORM_REVEALERS


def check(staff: StaffUser, kind: ExportKind, purpose: str | None) -> str:
    """The purpose (trimmed) if ``staff`` may export ``kind`` with full phones; else 403 or 422."""
    if kind.full_phone_rows is None:
        raise ValidationFailed({"full_phones": [f"{kind.title}不含客户手机号，无需完整号码导出"]})
    if not may_export_full_phones(staff.role):
        raise FullPhoneExportForbidden(details={"allowed_roles": list(PLATFORM_REVEALERS)})
    text = (purpose or "").strip()
    if not text or len(text) > PURPOSE_MAX_LENGTH or any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in text):
        raise ValidationFailed({"purpose": [f"请填写导出完整号码的用途（1–{PURPOSE_MAX_LENGTH} 个字）"]})
    return text


def stored_filters(filters: dict) -> dict:
    """Parsed filters as JSON (days as ISO strings): what a job and the log keep."""
    return {name: value.isoformat() if isinstance(value, date) else value for name, value in sorted(filters.items())}


def log_export(session: Session, staff_user_id: int, kind: ExportKind, filters: dict, *, rows: int, purpose: str,
               now: datetime, job_id: int | None = None) -> PhoneExportReveal:
    record = PhoneExportReveal(staff_user_id=staff_user_id, kind=kind.name, filters=stored_filters(filters),
                               row_count=rows, purpose=purpose, job_id=job_id, created_at=now)
    session.add(record)
    session.flush()
    return record


def full_phone_export(session: Session, staff: StaffUser, name: str, raw_filters: dict, *, purpose: str | None,
                      now: datetime):
    """The direct download with full phones: checked, written, and logged in the caller's unit of work.
    The caller has checked the kind's own roles (as for any export)."""
    from .writer import export  # the writer imports this package's registry
    kind = get_kind(name)
    text = check(staff, kind, purpose)
    filters = parse_filters(kind, raw_filters)
    result = export(session, name, raw_filters, now=now, full_phones=True)
    log_export(session, staff.id, kind, filters, rows=result.rows, purpose=text, now=now)
    return result


def list_exports(session: Session, *, staff_user_id: int | None = None, page: int = 1,
                 per_page: int = 50) -> tuple[list[PhoneExportReveal], int]:
    query = select(PhoneExportReveal)
    if staff_user_id:
        query = query.where(PhoneExportReveal.staff_user_id == staff_user_id)
    return paginate(session, query, PhoneExportReveal.created_at.desc(), PhoneExportReveal.id.desc(), page=page,
                    per_page=per_page)


def counts_by_staff(session: Session) -> list[tuple[StaffUser, int, int]]:
    """(staff member, exports, rows exported) for everyone who exported full phones, most first."""
    query = (select(StaffUser, func.count(PhoneExportReveal.id), func.coalesce(func.sum(PhoneExportReveal.row_count), 0))
             .join(PhoneExportReveal, PhoneExportReveal.staff_user_id == StaffUser.id).group_by(StaffUser.id)
             .order_by(func.count(PhoneExportReveal.id).desc(), StaffUser.id).limit(200))
    return [(staff, exported, rows) for staff, exported, rows in session.execute(query).all()]
