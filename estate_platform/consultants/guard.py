"""The one check every consultant feature runs first (DESIGN §2).

Only an active consultant who has signed the current agreement may register
clients, share invites, receive handoffs or earn.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from ..contracts.services import signature_of_current
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
