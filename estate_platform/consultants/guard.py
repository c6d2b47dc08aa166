"""The one check every consultant feature runs first (DESIGN §2).

Only an active consultant who has signed the current agreement may register
clients, share invites, receive handoffs or earn.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, exists, select
from sqlalchemy.orm import Session

from ..contracts.models import AgreementSignature, AgreementVersion
from ..contracts.services import signature_of_current
from ..db import RawStatement
from ..identity.models import WechatUser
from ..errors import Forbidden
from .models import Consultant


class ConsultantInactive(Forbidden):
    code, message = "consultant_inactive", "您的顾问账号尚未激活或已被暂停"


class ContractUnsigned(Forbidden):
    code, message = "contract_unsigned", "请先阅读并签署最新版平台协议"


def is_operating(session: Session, consultant: Consultant) -> bool:
    return consultant.status == "active" and signature_of_current(session, consultant.id) is not None


def require_operating(session: Session, consultant: Consultant) -> Consultant:
    if consultant.status != "active":
        raise ConsultantInactive(details={"status": consultant.status})
    if signature_of_current(session, consultant.id) is None:
        raise ContractUnsigned()
    return consultant


def signed_current_agreement(consultant_id):
    """EXISTS a signature of ``consultant_id`` (a column or a bound parameter) on the current
    agreement version (the latest ``version``: a backward scan of one index entry)."""
    current = select(AgreementVersion.id).order_by(AgreementVersion.version.desc()).limit(1).scalar_subquery()
    return exists().where(AgreementSignature.consultant_id == consultant_id,
                          AgreementSignature.agreement_version_id == current)


def _operating_caller_statement(brief: bool):
    """(wechat user, his consultant, signed the current agreement) for ``:user_id``, built once.
    The current version is a subquery on the unique ``version`` index (a backward index scan of
    one entry), so a newly published agreement takes effect on the next request in every
    process, with no cache to invalidate."""
    signed = signed_current_agreement(Consultant.id).label("signed")
    if brief:
        user, consultant = WechatUser.__table__.c, Consultant.__table__.c
        columns = [user.id, user.token_version, consultant.id.label("consultant_id"), consultant.status,
                   consultant.phone, consultant.rating]  # BriefUser, BriefConsultant
        source = WechatUser.__table__.outerjoin(Consultant.__table__, consultant.wechat_user_id == user.id)
        return select(*columns, signed).select_from(source).where(user.id == bindparam("user_id"))
    return (select(WechatUser, Consultant, signed).outerjoin(Consultant, Consultant.wechat_user_id == WechatUser.id)
            .where(WechatUser.id == bindparam("user_id")))


@dataclass(frozen=True)
class BriefUser:
    id: int
    token_version: int


@dataclass(frozen=True)
class BriefConsultant:
    """A consultant as the registration path needs him: read, never changed."""
    id: int
    status: str
    phone: str
    rating: int


_OPERATING_CALLER = {brief: _operating_caller_statement(brief) for brief in (False, True)}
_BRIEF: dict[str, RawStatement] = {}


def _brief_statement(session: Session) -> RawStatement:
    """The brief variant as a ``db.RawStatement`` (the registration path: no SQLAlchemy execution
    Python per request, issue 16 §1), built once per dialect."""
    dialect = session.get_bind().dialect
    if dialect.name not in _BRIEF:
        _BRIEF[dialect.name] = RawStatement(_OPERATING_CALLER[True], dialect, ("user_id",))
    return _BRIEF[dialect.name]


def operating_caller(session: Session, wechat_user_id: int, *, brief: bool = False):
    """(wechat user, his consultant or None, signed the current agreement) in one SELECT: the
    request path's guard costs one round trip (issue 16 §1). ``brief``: the user and the
    consultant as small read-only records (``BriefUser``, ``BriefConsultant``) instead of
    entities, for a path that only reads them (registering a buyer)."""
    if not brief:
        row = session.execute(_OPERATING_CALLER[False], {"user_id": wechat_user_id}).first()
        return (None, None, False) if row is None else (row[0], row[1], bool(row[2]))
    row = _brief_statement(session).first(session.connection(), {"user_id": wechat_user_id})
    if row is None:
        return None, None, False
    user = BriefUser(row.id, row.token_version)
    found = None if row.consultant_id is None else BriefConsultant(row.consultant_id, row.status, row.phone,
                                                                   row.rating)
    return user, found, bool(row.signed)


@dataclass(frozen=True)
class TokenCaller:
    """A WeChat token whose signature, kind and expiry are checked (``security.read_token``) but
    not yet its owner: the registration path checks him inside its one SELECT
    (``registrations.path``, issue 16 §1) with ``operating_brief``."""
    user_id: int
    token_version: int


def check_operating(token_version: int, owner_version: int | None, consultant, signed: bool):
    """The operating-consultant guard on values already read, in its order: the token revoked or
    its user unknown (``owner_version`` None) 401, not yet applied 404, inactive 403, unsigned
    403. Every consultant route (``mini_program_api.callers.operating_consultant``) and the
    registration's own SELECT (``operating_brief``) answer through it."""
    from ..consultants.services import NotYetApplied
    from ..security import TokenRevoked
    if owner_version is None or owner_version != token_version:
        raise TokenRevoked()
    if consultant is None:
        raise NotYetApplied()
    return require_operating_signed(consultant, signed)


def operating_brief(caller: TokenCaller, row) -> BriefConsultant:
    """``check_operating`` on values read with the registration's SELECT (``row``:
    ``token_version``, ``consultant_id``, ``consultant_status``, ``consultant_phone``, ``rating``,
    ``signed``; None when the token's user does not exist)."""
    if row is None:
        return check_operating(caller.token_version, None, None, False)
    consultant = (None if row.consultant_id is None else
                  BriefConsultant(row.consultant_id, row.consultant_status, row.consultant_phone, row.rating))
    return check_operating(caller.token_version, row.token_version, consultant, bool(row.signed))


def require_operating_caller(session: Session, caller: TokenCaller) -> BriefConsultant:
    """``check_operating`` with the caller read alone (one SELECT): for a request refused before
    the registration's SELECT (its body is invalid), so a bad caller is still answered first."""
    user, found, signed = operating_caller(session, caller.user_id, brief=True)
    return check_operating(caller.token_version, user and user.token_version, found, signed)


def require_operating_signed(consultant: Consultant, signed: bool) -> Consultant:
    """``require_operating`` on a signature already looked up (``operating_caller``)."""
    if consultant.status != "active":
        raise ConsultantInactive(details={"status": consultant.status})
    if not signed:
        raise ContractUnsigned()
    return consultant
