"""A consultant's phone, proven by SMS code (issue 15 §2).

``apply`` used to trust whatever number was typed, yet SMS sign-in on the consultant
pages and payout-account changes trust the phone. So a phone counts only once he
proved it is his: by the code at apply (``phone_code``) or later here. Consultants
who joined before have ``phone_verified_at`` NULL; the mini-program asks them at their
next sign-in (``phone_verified: false`` in their profile). Until then:

* the identity service refuses SMS sign-in to that phone (``consultant_phone_verified``);
* a payout-account change cannot be approved by it (``require_verified_phone``).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from ..adapters.sms import SmsSender
from ..errors import Forbidden
from ..identity.services import consume_sms_code, send_sms_code
from .models import Consultant


class PhoneUnverified(Forbidden):
    code, message = "phone_unverified", "您的手机号尚未验证，请先在小程序中完成短信验证"


class PhoneUnverifiedSignIn(PhoneUnverified):
    message = "该手机号尚未通过顾问验证，暂不能用短信登录；请先在微信小程序中登录并完成手机号验证"
    keep_changes = True  # the SMS code is used up all the same


def consultant_phone_verified(consultant: Consultant | None) -> bool:
    """The one test every use of a consultant's phone as proof of identity runs."""
    return consultant is not None and consultant.phone_verified_at is not None


def require_verified_phone(consultant: Consultant) -> Consultant:
    if not consultant_phone_verified(consultant):
        raise PhoneUnverified()
    return consultant


def send_code(session: Session, sms: SmsSender, consultant: Consultant, *, ip: str, secret: str, now: datetime,
              config: dict) -> int:
    """A code to the phone on his profile (the usual SMS rate limits apply); its lifetime in seconds."""
    return send_sms_code(session, sms, consultant.phone, ip=ip, secret=secret, now=now, config=config)


def verify(session: Session, consultant: Consultant, code: str, *, secret: str, now: datetime,
           config: dict) -> Consultant:
    """The code sent to his phone proves it; verifying again keeps the first time."""
    consume_sms_code(session, consultant.phone, code, secret=secret, now=now, config=config)
    if consultant.phone_verified_at is None:
        consultant.phone_verified_at = now
    consultant.updated_at = now
    return consultant
