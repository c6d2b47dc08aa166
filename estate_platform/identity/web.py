"""Consultants signing in on the web pages (/m/): WeChat web authorisation and SMS.

One consultant stays one user whichever way he comes:

* inside WeChat the Official Account's web authorisation gives its own openid
  (``oa_openid``) and, when the apps share an Open Platform account, the ``unionid`` that
  the mini-program gives too: a user with that unionid is the same person;
* otherwise he proves the phone he applied with by an SMS code: the consultant holding
  that phone is him, and the web identity he arrived with is linked to that user.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..adapters.wechat import WechatWebAuth
from ..consultants.models import Consultant
from ..consultants.phone import PhoneUnverifiedSignIn, consultant_phone_verified
from ..errors import DomainError
from .models import WechatUser
from .services import consume_sms_code, unionid_taken

log = logging.getLogger(__name__)


class ConsultantPhoneUnknown(DomainError):
    code, status, message = "consultant_phone_unknown", 404, "该手机号还不是平台顾问；新顾问请在微信中打开本页面申请入驻"
    keep_changes = True  # the code is used up all the same

    def __init__(self):
        super().__init__(details={"fields": {"phone": [self.message]}})


def sign_in_wechat_web(session: Session, wechat_web: WechatWebAuth, code: str, *, now: datetime) -> WechatUser:
    """The user an Official Account authorisation code names, created on first sight."""
    wx = wechat_web.code_to_identity(code)
    user = session.scalar(select(WechatUser).where(WechatUser.oa_openid == wx.openid))
    if user is None and wx.unionid:
        user = session.scalar(select(WechatUser).where(WechatUser.unionid == wx.unionid))
        if user is not None:
            user.oa_openid = wx.openid  # the mini-program user, now on the web pages too
    if user is None:
        user = WechatUser(oa_openid=wx.openid, unionid=wx.unionid, created_at=now)
        session.add(user)
        session.flush()
    elif wx.unionid and not user.unionid:
        if unionid_taken(session, wx.unionid):
            log.warning("wechat user %s: unionid already held by another user, left unlinked", user.id)
        else:
            user.unionid = wx.unionid
    user.last_login_at = now
    return user


def sign_in_by_phone(session: Session, raw_phone: str, code: str, *, current: WechatUser | None, secret: str,
                     now: datetime, config: dict) -> WechatUser:
    """Sign in as the consultant whose phone the SMS code proves.

    ``current`` is the identity the browser already holds. When it is a WeChat web
    authorisation that matched nobody (an Official Account openid on a user of its own,
    who never applied), it is linked to the consultant's user, so next time WeChat alone
    signs him in. Any other identity is simply left: the browser changes user.
    """
    phone = consume_sms_code(session, raw_phone, code, secret=secret, now=now, config=config)
    consultant = session.scalar(select(Consultant).where(Consultant.phone == phone))
    if consultant is None:
        raise ConsultantPhoneUnknown()
    if not consultant_phone_verified(consultant):  # a typed-in number proves nothing (issue 15 §2)
        raise PhoneUnverifiedSignIn()
    user = session.get(WechatUser, consultant.wechat_user_id)
    if current is not None and current.id != user.id and _linkable(session, web_user=current, user=user):
        oa_openid, unionid = current.oa_openid, current.unionid
        session.delete(current)
        session.flush()  # the unique openid and unionid are free before they move
        user.oa_openid = oa_openid
        if unionid and not user.unionid:
            user.unionid = unionid
    user.last_login_at = now
    return user


def _linkable(session: Session, *, web_user: WechatUser, user: WechatUser) -> bool:
    """A web-only identity nobody applied with, and a consultant not yet on another WeChat."""
    if web_user.openid is not None or web_user.oa_openid is None or user.oa_openid is not None:
        return False
    if web_user.unionid and user.unionid and web_user.unionid != user.unionid:
        return False  # WeChat says these are two people
    return session.scalar(select(Consultant.id).where(Consultant.wechat_user_id == web_user.id)) is None
