"""Attachments of a visit: the signed 来访确认单 photo or scan (DESIGN §2, §4 evidence).

Only JPEG, PNG and PDF, recognised by their magic bytes (a declared type is
checked against the content, never trusted alone), at most 5 MiB each. Every
check runs before anything is written, so a refused upload stores nothing.
Content is stored by sha256 (``storage``); the row records name, type, size
and hash, and the visit's evidence chain records the upload.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..consultants.models import Consultant
from ..errors import Conflict, DomainError, NotFound, ValidationFailed
from ..evidence import services as evidence
from ..evidence.services import Actor
from ..identity.models import StaffUser
from . import storage
from .models import Visit, VisitAttachment
from .services import VisitClosed, VisitNotFound, own_visit, staff_visit

MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
MAX_ATTACHMENTS_PER_VISIT = 10


class AttachmentNotFound(NotFound):
    code, message = "attachment_not_found", "附件不存在"


class AttachmentTooLarge(DomainError):
    code, status, message = "attachment_too_large", 413, "文件过大，单个附件不能超过 5 MB"


class AttachmentTypeNotAllowed(DomainError):
    code, status, message = "attachment_type_not_allowed", 422, "仅支持 JPG、PNG 图片或 PDF 文件"


class AttachmentLimitReached(Conflict):
    code, message = "attachment_limit_reached", f"每次带看最多上传 {MAX_ATTACHMENTS_PER_VISIT} 个附件"


@dataclass
class Upload:
    """A file as the web layer received it; the service reads at most the limit plus one byte."""
    filename: str | None
    content_type: str | None
    stream: BinaryIO


def attach_by_consultant(session: Session, consultant: Consultant, visit_id: int, upload: Upload | None, *,
                         storage_dir: str, now: datetime) -> VisitAttachment:
    visit = own_visit(session, consultant.id, visit_id)
    return _attach(session, visit, upload, Actor("consultant", consultant.id), storage_dir, now)


def attach_by_staff(session: Session, staff: StaffUser, visit_id: int, upload: Upload | None, *,
                    storage_dir: str, now: datetime) -> VisitAttachment:
    visit = staff_visit(session, staff, visit_id)
    return _attach(session, visit, upload, Actor("staff", staff.id), storage_dir, now)


def _read_checked(upload: Upload | None) -> tuple[bytes, str]:
    """The content and its real type, or a refusal; nothing is stored before this passes."""
    if upload is None:
        raise ValidationFailed({"file": ["请选择要上传的文件（表单字段 file）"]})
    content = upload.stream.read(MAX_ATTACHMENT_BYTES + 1)
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise AttachmentTooLarge(details={"max_bytes": MAX_ATTACHMENT_BYTES})
    if not content:
        raise ValidationFailed({"file": ["文件是空的"]})
    sniffed = storage.sniff_type(content)
    declared = (upload.content_type or "").split(";")[0].strip().lower()
    if sniffed is None or (declared not in storage.GENERIC_TYPES and declared != sniffed):
        raise AttachmentTypeNotAllowed(details={"allowed": list(storage.ALLOWED_TYPES)})
    return content, sniffed


read_checked = _read_checked  # the same checks for a dispute statement's attachments


def _attach(session: Session, visit: Visit, upload: Upload | None, actor: Actor, storage_dir: str,
            now: datetime) -> VisitAttachment:
    content, content_type = _read_checked(upload)
    if visit.status == "cancelled":
        raise VisitClosed(details={"status": visit.status})
    count = session.scalar(select(func.count()).select_from(VisitAttachment)
                           .where(VisitAttachment.visit_id == visit.id))
    if count >= MAX_ATTACHMENTS_PER_VISIT:
        raise AttachmentLimitReached(details={"limit": MAX_ATTACHMENTS_PER_VISIT})
    # Written before the commit: if the commit then fails, an unreferenced file remains
    # (harmless, content-addressed); the reverse order could leave a row without content.
    digest = storage.save(storage_dir, content)
    attachment = VisitAttachment(visit_id=visit.id, filename=storage.sanitise_filename(upload.filename),
                                 content_type=content_type, size_bytes=len(content), sha256=digest,
                                 uploaded_by_type=actor.type, uploaded_by_id=actor.id, created_at=now)
    session.add(attachment)
    session.flush()
    evidence.append(session, "visit", visit.id, "attachment_added", actor, now=now, attachment_id=attachment.id,
                    filename=attachment.filename, content_type=content_type, size_bytes=len(content),
                    sha256=digest)
    return attachment


def own_attachments(session: Session, consultant_id: int, visit_id: int) -> list[VisitAttachment]:
    return attachments_of(session, own_visit(session, consultant_id, visit_id))


def attachments_of(session: Session, visit: Visit) -> list[VisitAttachment]:
    return list(session.scalars(select(VisitAttachment).where(VisitAttachment.visit_id == visit.id)
                                .order_by(VisitAttachment.id)))


def _stored(attachment: VisitAttachment | None, storage_dir: str) -> VisitAttachment:
    if attachment is None or not storage.exists(storage_dir, attachment.sha256):
        raise AttachmentNotFound()
    return attachment


def consultant_attachment(session: Session, consultant_id: int, visit_id: int, attachment_id: int, *,
                          storage_dir: str) -> VisitAttachment:
    visit = own_visit(session, consultant_id, visit_id)
    attachment = session.get(VisitAttachment, attachment_id)
    return _stored(attachment if attachment is not None and attachment.visit_id == visit.id else None, storage_dir)


def staff_attachment(session: Session, staff: StaffUser, attachment_id: int, *,
                     storage_dir: str) -> VisitAttachment:
    attachment = session.get(VisitAttachment, attachment_id)
    if attachment is None:
        raise AttachmentNotFound()
    try:
        staff_visit(session, staff, attachment.visit_id)
    except VisitNotFound:
        raise AttachmentNotFound() from None
    return _stored(attachment, storage_dir)


def attachment_path(storage_dir: str, attachment: VisitAttachment) -> Path:
    return storage.path_for(storage_dir, attachment.sha256)
