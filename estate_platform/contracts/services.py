"""Publishing and signing the platform agreement (合同, DESIGN §2)."""
from __future__ import annotations

import hashlib
import unicodedata
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..consultants.models import Consultant
from ..disputes.rules import PenaltyTerms
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..notifications.services import notify_active_consultants
from .models import AgreementSignature, AgreementVersion


class AgreementNotPublished(NotFound):
    code, message = "agreement_not_published", "平台协议尚未发布"


class AgreementOutdated(Conflict):
    code, message = "agreement_outdated", "协议已更新，请阅读最新版本后再签署"


class SigningNotAllowed(Forbidden):
    code, message = "signing_not_allowed", "当前账号状态不能签署协议"


class AgreementUnchanged(Conflict):
    """Publishing makes every consultant sign again: a version must change what they sign."""
    code, message = "agreement_unchanged", "协议正文与当前版本完全相同，无需发布新版本"


TITLE_MAX_LENGTH = 200
TEXT_MIN_LENGTH = 20
TEXT_MAX_LENGTH = 100_000


def _has_controls(value: str, *, multiline: bool) -> bool:
    """Control characters (Cc: C0, DEL, C1; a multi-line text keeps its newlines and
    tabs), line and paragraph separators in a one-line value, and lone surrogates, which
    cannot even be encoded to be hashed or stored."""
    for char in value:
        category = unicodedata.category(char)
        if category == "Cs" or (category == "Cc" and not (multiline and char in "\n\t")):
            return True
        if category in ("Zl", "Zp") and not multiline:
            return True
    return False


def normalise_line_breaks(text: str) -> str:
    """A browser's textarea submits CRLF, a JSON client usually LF: store (and hash) every
    line break as LF, so one text published either way is one text, and a lone CR
    (old Mac editors) is a line break too rather than a control character."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


PENALTY_CLAUSE_MARKER = "【违约金条款】"


def with_penalty_clause(text: str, terms: PenaltyTerms) -> str:
    """The agreement text with the platform's default penalty terms rendered at its end,
    so the SHA-256 a consultant signs covers them. A clause already there (a text copied
    from the current version) is replaced, never repeated."""
    body = text.split(PENALTY_CLAUSE_MARKER, 1)[0].rstrip()
    if not (terms.fixed_cents or terms.multiple_bps):
        return body
    return (f"{body}\n\n{PENALTY_CLAUSE_MARKER}顾问跑单、飞单、虚假报备或抢占其他顾问保护期内客户，经平台争议处理认定成立的，"
            f"应向平台支付违约金，{terms.text()}（佣金倍数按所涉佣金计算，四舍五入到分）。楼盘另有更严格条款的，"
            f"按报备时生效的更严格条款执行。违约金计入顾问欠款，从其后续佣金中扣除。")


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


def publish_agreement(session: Session, *, title: str, text: str, staff_id: int | None, now: datetime,
                      penalty_fixed_cents: int | None = None,
                      penalty_multiple_bps: int | None = None) -> AgreementVersion:
    """Publish a new version; every consultant must sign it before his next registration.

    The core refuses bad text itself (the admin API, the admin page and scripts all come
    here): a control character in the title (a one-line label: no newline or tab either)
    or in the text (which keeps its newlines and tabs; CR and CRLF are stored as LF, see
    :func:`normalise_line_breaks`) → 422 naming the field. A text identical to the
    current version's → 409 ``agreement_unchanged``: what a consultant signs is the
    SHA-256 of the text (:func:`text_sha256`), so a new version with the same text, even
    under another title, would make everyone sign the same fingerprint again.

    Penalty terms (DESIGN §2): the platform's default order-jumping penalty, a fixed
    amount per case and a multiple (bps) of the commission at stake, stored structured
    and rendered into the text (:func:`with_penalty_clause`); omitted ones keep the
    current version's. A change of terms alone is a changed text.
    """
    text = normalise_line_breaks(text)
    errors = {}
    if _has_controls(title, multiline=False):
        errors["title"] = ["协议标题不能包含控制字符（包括换行符和制表符）"]
    elif not title.strip():
        errors["title"] = ["请填写协议标题"]
    elif len(title.strip()) > TITLE_MAX_LENGTH:
        errors["title"] = [f"协议标题不能超过 {TITLE_MAX_LENGTH} 个字"]
    if _has_controls(text, multiline=True):
        errors["text"] = ["协议正文不能包含控制字符（换行符和制表符除外）"]
    elif len(text.strip()) < TEXT_MIN_LENGTH:
        errors["text"] = ["协议正文过短"]
    elif len(text) > TEXT_MAX_LENGTH:
        errors["text"] = [f"协议正文不能超过 {TEXT_MAX_LENGTH} 个字"]
    current = session.scalar(select(AgreementVersion).order_by(AgreementVersion.version.desc()).limit(1))
    if penalty_fixed_cents is None:
        penalty_fixed_cents = current.penalty_fixed_cents if current is not None else 0
    if penalty_multiple_bps is None:
        penalty_multiple_bps = current.penalty_multiple_bps if current is not None else 0
    try:
        terms = PenaltyTerms(penalty_fixed_cents, penalty_multiple_bps)
    except ValueError:
        errors["penalty_terms"] = ["违约金须为 0 到 100 亿元（分），佣金倍数须为 0 到 100 倍（基点）"]
    if errors:
        raise ValidationFailed(errors)
    text = with_penalty_clause(text, terms)
    # A version stored before line breaks were normalised may hold CRLF: it reads the same.
    if current is not None and normalise_line_breaks(current.text) == text:
        raise AgreementUnchanged(details={"current_version": current.version, "current_sha256": current.sha256})
    agreement = AgreementVersion(version=(current.version if current is not None else 0) + 1, title=title.strip(),
                                 text=text, sha256=text_sha256(text), published_at=now, published_by_id=staff_id,
                                 penalty_fixed_cents=terms.fixed_cents, penalty_multiple_bps=terms.multiple_bps)
    session.add(agreement)
    session.flush()
    notify_active_consultants(session, "agreement_published",
                              f"平台协议已更新为第 {agreement.version} 版《{agreement.title}》，请在小程序中阅读并签署，"
                              f"签署后方可继续报备", now=now, agreement_version=agreement.version)
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
