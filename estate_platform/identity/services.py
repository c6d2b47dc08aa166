"""Sign-in for the three kinds of caller, and resolving a bearer token to one."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..adapters.sms import SmsSender
from ..adapters.wechat import WechatAuth
from ..errors import DomainError, TooManyRequests, Unauthorized, ValidationFailed
from ..phones import InvalidPhone, normalise_phone
from ..security import TokenInvalid, TokenRevoked, hash_password, issue_token, read_token, verify_password
from . import throttle
from .models import Buyer, LoginAttempt, SmsCode, StaffUser, WechatUser
from .throttle import LoginThrottled, ThrottleRules, normalise_username  # noqa: F401  (the web layers' names)


# --- refusals ---------------------------------------------------------------

class SmsRateLimited(TooManyRequests):
    code, message = "sms_rate_limited", "验证码发送过于频繁，请稍后再试"


class SmsCodeWrong(DomainError):
    code, status, message = "sms_code_invalid", 400, "验证码错误"
    keep_changes = True  # the failed attempt must be counted


class SmsCodeExpired(DomainError):
    code, status, message = "sms_code_expired", 400, "验证码已过期或未发送，请重新获取"


class SmsTooManyAttempts(TooManyRequests):
    code, message = "sms_too_many_attempts", "验证码错误次数过多，请重新获取验证码"
    keep_changes = True


class InvalidCredentials(Unauthorized):
    code, message = "invalid_credentials", "用户名或密码错误"
    keep_changes = True  # the failure is counted toward the throttle


@dataclass(frozen=True)
class SignedIn:
    token: str
    expires_at: datetime
    subject: object


def phone_or_error(raw: str, field: str = "phone") -> str:
    try:
        return normalise_phone(raw)
    except InvalidPhone:
        raise ValidationFailed({field: ["请输入有效的中国大陆手机号"]}) from None


# --- WeChat (mini-program) ----------------------------------------------------

def sign_in_wechat(session: Session, wechat: WechatAuth, code: str, *, secret: str,
                   now: datetime, ttl_seconds: int) -> SignedIn:
    wx = wechat.code_to_session(code)
    user = session.scalar(select(WechatUser).where(WechatUser.openid == wx.openid))
    if user is None and wx.unionid:
        # He came through the consultant pages first (Official Account): the same person.
        user = session.scalar(select(WechatUser).where(WechatUser.unionid == wx.unionid))
        if user is not None:
            user.openid = wx.openid
    if user is None:
        user = WechatUser(openid=wx.openid, unionid=wx.unionid, created_at=now)
        session.add(user)
        session.flush()
    elif wx.unionid and not user.unionid and not unionid_taken(session, wx.unionid):
        user.unionid = wx.unionid
    user.last_login_at = now
    token, expires = issue_token(secret, kind="wechat", subject_id=user.id,
                                 version=user.token_version, now=now, ttl_seconds=ttl_seconds)
    return SignedIn(token, expires, user)


def unionid_taken(session: Session, unionid: str) -> bool:
    return session.scalar(select(WechatUser.id).where(WechatUser.unionid == unionid)) is not None


def issue_wechat_token(user: WechatUser, *, secret: str, now: datetime, ttl_seconds: int,
                       kind: str = "wechat") -> SignedIn:
    """A bearer token (``wechat``) or the consultant pages' refresh credential (``wechat_session``)."""
    token, expires = issue_token(secret, kind=kind, subject_id=user.id, version=user.token_version, now=now,
                                 ttl_seconds=ttl_seconds)
    return SignedIn(token, expires, user)


# --- SMS (H5 buyers) -----------------------------------------------------------

def _hash_code(phone: str, code: str, secret: str) -> str:
    return hmac.new(secret.encode(), f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def send_sms_code(session: Session, sms: SmsSender, raw_phone: str, *, ip: str, secret: str,
                  now: datetime, config: dict) -> int:
    """Send a 6-digit code; return its lifetime in seconds. Rate-limited per phone and IP."""
    phone = phone_or_error(raw_phone)
    hour_ago = now - timedelta(hours=1)
    recent = session.scalars(
        select(SmsCode.created_at).where(SmsCode.phone == phone, SmsCode.created_at > hour_ago)
        .order_by(SmsCode.created_at.desc())
    ).all()
    interval = config["SMS_PHONE_INTERVAL_SECONDS"]
    if recent and (now - recent[0]).total_seconds() < interval:
        wait = interval - int((now - recent[0]).total_seconds())
        raise SmsRateLimited(retry_after=max(wait, 1))
    if len(recent) >= config["SMS_PHONE_HOURLY_LIMIT"]:
        wait = int((recent[-1] + timedelta(hours=1) - now).total_seconds())
        raise SmsRateLimited(retry_after=max(wait, 1))
    ip_count = session.scalar(
        select(func.count()).select_from(SmsCode).where(SmsCode.ip == ip, SmsCode.created_at > hour_ago)
    )
    if ip_count >= config["SMS_IP_HOURLY_LIMIT"]:
        oldest = session.scalar(select(func.min(SmsCode.created_at))
                                .where(SmsCode.ip == ip, SmsCode.created_at > hour_ago))
        wait = int((oldest + timedelta(hours=1) - now).total_seconds())
        raise SmsRateLimited(retry_after=max(wait, 1))

    code = f"{secrets.randbelow(10**6):06d}"
    ttl = config["SMS_CODE_TTL_SECONDS"]
    session.add(SmsCode(phone=phone, code_hash=_hash_code(phone, code, secret), ip=ip,
                        created_at=now, expires_at=now + timedelta(seconds=ttl)))
    session.flush()
    sms.send_code(phone, code)
    return ttl


def consume_sms_code(session: Session, raw_phone: str, code: str, *, secret: str, now: datetime,
                     config: dict) -> str:
    """Check the latest code sent to the phone and use it up; return the normalised phone.
    Wrong codes are counted (the refusal keeps that change)."""
    phone = phone_or_error(raw_phone)
    code = unicodedata.normalize("NFKC", code).strip()  # a code typed with full-width digits is the same code
    sms_code = session.scalar(
        select(SmsCode).where(SmsCode.phone == phone, SmsCode.consumed_at.is_(None))
        .order_by(SmsCode.created_at.desc(), SmsCode.id.desc()).limit(1)
    )
    if sms_code is None or sms_code.expires_at <= now:
        raise SmsCodeExpired()
    if sms_code.attempts >= config["SMS_MAX_ATTEMPTS"]:
        raise SmsTooManyAttempts()
    if not hmac.compare_digest(sms_code.code_hash, _hash_code(phone, code, secret)):
        sms_code.attempts += 1
        left = config["SMS_MAX_ATTEMPTS"] - sms_code.attempts
        if left <= 0:
            raise SmsTooManyAttempts()
        raise SmsCodeWrong(f"验证码错误，还可尝试 {left} 次", details={"attempts_left": left})
    sms_code.consumed_at = now
    return phone


def verify_sms_code(session: Session, raw_phone: str, code: str, *, secret: str, now: datetime,
                    config: dict) -> SignedIn:
    """Check the latest code for the phone; sign the buyer in (creating him on first use)."""
    phone = consume_sms_code(session, raw_phone, code, secret=secret, now=now, config=config)
    buyer = session.scalar(select(Buyer).where(Buyer.phone == phone))
    if buyer is None:
        buyer = Buyer(phone=phone, created_at=now)
        session.add(buyer)
        session.flush()
    buyer.last_login_at = now
    token, expires = issue_token(secret, kind="buyer", subject_id=buyer.id,
                                 version=buyer.token_version, now=now,
                                 ttl_seconds=config["TOKEN_TTL_SECONDS"])
    return SignedIn(token, expires, buyer)


def purge_expired_sms_codes(session: Session, *, now: datetime, keep_hours: int = 24) -> int:
    """Delete codes past use and past the rate-limit window. Safe to run twice."""
    cutoff = now - timedelta(hours=keep_hours)
    stale = session.scalars(select(SmsCode).where(SmsCode.expires_at < cutoff)).all()
    for row in stale:
        session.delete(row)
    return len(stale)


# --- staff ---------------------------------------------------------------------------------------

# Checked against when the username is unknown, so an unknown name costs the same
# password hash as a known one and timing does not tell them apart.
_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_urlsafe(24))
    return _DUMMY_HASH


def find_staff(session: Session, username: str) -> StaffUser | None:
    """The staff member a typed username names (case-insensitive, trimmed)."""
    return session.scalar(select(StaffUser).where(func.lower(StaffUser.username) == normalise_username(username))
                          .order_by(StaffUser.id).limit(1))


def sign_in_staff(session: Session, username: str, password: str, *, ip: str, now: datetime,
                  rules: ThrottleRules) -> StaffUser:
    """Check a staff password, throttled per username and per address (identity.throttle).

    Every refusal is the same for a known name, an unknown name and a deactivated
    member: 401 ``invalid_credentials`` after a password check, or 429
    ``login_throttled`` (no check at all, not even of the right password) while a key
    waits out its back-off. Every attempt is recorded.
    """
    counters = throttle.counters_for(session, username=username, ip=ip)
    user = find_staff(session, username)
    attempt = LoginAttempt(username=username[:50], staff_user_id=user.id if user else None,
                           succeeded=False, ip=ip[:64], created_at=now)
    session.add(attempt)
    wait = throttle.seconds_to_wait(counters, now)
    if wait:
        raise LoginThrottled(retry_after=wait)
    matches = verify_password(user.password_hash if user else _dummy_hash(), password)
    if user is None or not user.is_active or not matches:
        for counter in counters:
            throttle.count_failure(counter, rules, now)
        raise InvalidCredentials()
    for counter in counters:
        if counter.scope == "username":
            throttle.clear(counter)
    user.last_login_at = now
    attempt.succeeded = True
    return user


def issue_staff_token(user: StaffUser, *, secret: str, now: datetime, ttl_seconds: int) -> SignedIn:
    token, expires = issue_token(secret, kind="staff", subject_id=user.id,
                                 version=user.token_version, now=now, ttl_seconds=ttl_seconds)
    return SignedIn(token, expires, user)


# --- resolving and revoking tokens -------------------------------------------------

_SUBJECTS = {"wechat": WechatUser, "buyer": Buyer, "staff": StaffUser, "wechat_session": WechatUser}


def authenticate(session: Session, token: str, *, kind: str, secret: str, now: datetime):
    """Return the WechatUser, Buyer or StaffUser a token names, or raise 401."""
    claims = read_token(secret, token, now=now)
    if claims.kind != kind:
        raise TokenInvalid()
    subject = session.get(_SUBJECTS[kind], claims.subject_id)
    if subject is None or subject.token_version != claims.version:
        raise TokenRevoked()
    if kind == "staff" and not subject.is_active:
        raise TokenRevoked()
    return subject


def revoke_tokens(subject) -> None:
    """Sign out everywhere: every token issued so far stops working."""
    subject.token_version += 1
