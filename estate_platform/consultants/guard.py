"""The one check every consultant feature runs first (DESIGN §2).

Only an active consultant who has signed the current agreement may register
clients, share invites, receive handoffs or earn.
"""
from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from ..contracts.models import AgreementSignature, AgreementVersion
from ..contracts.services import signature_of_current
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


def operating_caller(session: Session, wechat_user_id: int):
    """(wechat user, his consultant or None, signed the current agreement) in one SELECT: the
    request path's guard costs one round trip (issue 16 §1). The current version is a
    subquery on the unique ``version`` index (a backward index scan of one entry), so a
    newly published agreement takes effect on the next request in every process, with no
    cache to invalidate."""
    current = select(AgreementVersion.id).order_by(AgreementVersion.version.desc()).limit(1).scalar_subquery()
    signed = exists().where(AgreementSignature.consultant_id == Consultant.id,
                            AgreementSignature.agreement_version_id == current)
    row = session.execute(select(WechatUser, Consultant, signed.label("signed"))
                          .outerjoin(Consultant, Consultant.wechat_user_id == WechatUser.id)
                          .where(WechatUser.id == wechat_user_id)).first()
    return (None, None, False) if row is None else (row[0], row[1], bool(row[2]))


def require_operating_signed(consultant: Consultant, signed: bool) -> Consultant:
    """``require_operating`` on a signature already looked up (``operating_caller``)."""
    if consultant.status != "active":
        raise ConsultantInactive(details={"status": consultant.status})
    if not signed:
        raise ContractUnsigned()
    return consultant
