"""Publishing and signing the platform agreement."""
from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..consultants.models import Consultant
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from .models import AgreementSignature, AgreementVersion


class AgreementNotPublished(NotFound):
    code, message = "agreement_not_published", "平台协议尚未发布"


class AgreementOutdated(Conflict):
    code, message = "agreement_outdated", "协议已更新，请阅读最新版本后再签署"


class SigningNotAllowed(Forbidden):
    code, message = "signing_not_allowed", "当前账号状态不能签署协议"


def text_sha256(text: str) -> str:
    """The fingerprint of the exact agreement text a consultant saw (UTF-8 bytes)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def current_agreement(session: Session) -> AgreementVersion:
    agreement = session.scalar(select(AgreementVersion).order_by(AgreementVersion.version.desc()).limit(1))
    if agreement is None:
        raise AgreementNotPublished()
    return agreement


def list_agreements(session: Session) -> list[AgreementVersion]:
    return list(session.scalars(select(AgreementVersion).order_by(AgreementVersion.version.desc())))


def publish_agreement(session: Session, *, title: str, text: str, staff_id: int | None,
                      now: datetime) -> AgreementVersion:
    """Publish a new version; every consultant must sign it before his next registration."""
    errors = {}
    if not title.strip():
        errors["title"] = ["请填写协议标题"]
    if len(text.strip()) < 20:
        errors["text"] = ["协议正文过短"]
    if errors:
        raise ValidationFailed(errors)
    latest = session.scalar(select(func.max(AgreementVersion.version))) or 0
    agreement = AgreementVersion(version=latest + 1, title=title.strip(), text=text,
                                 sha256=text_sha256(text), published_at=now, published_by_id=staff_id)
    session.add(agreement)
    session.flush()
    return agreement


def sign_agreement(session: Session, consultant: Consultant, *, version: int, sha256: str,
                   ip: str, user_agent: str, now: datetime) -> AgreementSignature:
    """Record the consultant's signature of the current version. Signing twice is a no-op."""
    if consultant.status not in ("pending", "active", "suspended"):
        raise SigningNotAllowed()
    agreement = current_agreement(session)
    if version != agreement.version or sha256.lower() != agreement.sha256:
        raise AgreementOutdated(details={"current_version": agreement.version,
                                         "current_sha256": agreement.sha256})
    existing = session.scalar(select(AgreementSignature).where(
        AgreementSignature.consultant_id == consultant.id,
        AgreementSignature.agreement_version_id == agreement.id))
    if existing is not None:
        return existing
    signature = AgreementSignature(consultant_id=consultant.id, agreement_version_id=agreement.id,
                                   version=agreement.version, text_sha256=agreement.sha256,
                                   signed_at=now, ip=ip[:64], user_agent=(user_agent or "")[:500])
    session.add(signature)
    session.flush()
    return signature


def signature_of_current(session: Session, consultant_id: int) -> AgreementSignature | None:
    """The consultant's signature on the current version, if any."""
    agreement = session.scalar(select(AgreementVersion).order_by(AgreementVersion.version.desc()).limit(1))
    if agreement is None:
        return None
    return session.scalar(select(AgreementSignature).where(
        AgreementSignature.consultant_id == consultant_id,
        AgreementSignature.agreement_version_id == agreement.id))


def signatures_of(session: Session, consultant_id: int) -> list[AgreementSignature]:
    return list(session.scalars(select(AgreementSignature)
                                .where(AgreementSignature.consultant_id == consultant_id)
                                .order_by(AgreementSignature.version.desc())))
