"""Signing in on the consultant pages, and the page's bearer token (/m/session/…).

The token model (README, "Consultant app"):

* Signing in (WeChat web authorisation, the SMS code to the consultant's phone, or the
  local ``dev:<openid>`` in development) sets one long-lived credential: a signed
  ``wechat_session`` token in an HttpOnly, SameSite=Strict cookie (Secure over HTTPS)
  whose path is ``/m/session``, so no page, script or API request ever carries it.
* The page's script buys a short-lived ``wechat`` bearer token with it
  (``POST /m/session/token``), keeps it in memory only, and calls ``/api/mp/v1`` with it
  like the mini-program does; on a 401 it buys another.
* CSRF: every POST here needs the ``X-Requested-With: fetch`` header (a form or an image
  on another site cannot send one, and a cross-site fetch that sets it needs a CORS
  preflight this app never grants) and, when the browser sends ``Origin``, our own origin;
  SameSite=Strict keeps the cookie off any request another site starts.
* Revocation is the existing one: signing out (or "sign out everywhere" in the
  mini-program) bumps the user's ``token_version``, and every cookie and token issued
  before stops working.
"""
from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, jsonify, redirect, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from marshmallow import ValidationError, fields, validate
from sqlalchemy import select

from estate_platform.adapters.wechat import LocalWechatAuth
from estate_platform.consultants.guard import is_operating
from estate_platform.consultants.models import Consultant
from estate_platform.db import db, utcnow
from estate_platform.errors import DomainError, Forbidden, NotFound, ValidationFailed
from estate_platform.identity import services as identity
from estate_platform.identity import web as web_identity
from estate_platform.identity.models import WechatUser
from estate_platform.phones import PHONE_INPUT_MAX_LENGTH
from estate_platform.security import TokenMissing
from web_common.api import InputSchema

bp = Blueprint("m_session", __name__, url_prefix="/m/session")

SESSION_COOKIE = "ep_m_session"
SESSION_PATH = "/m/session"
OAUTH_COOKIE = "ep_m_oauth"
OAUTH_PATH = "/m/session/wechat"
OAUTH_MAX_AGE = 600
CSRF_HEADER = "X-Requested-With"
CSRF_VALUE = "fetch"


class CsrfRefused(Forbidden):
    code, message = "csrf_refused", "请求来源无效，请刷新页面后重试"


class DevSignInUnavailable(NotFound):
    code, message = "dev_sign_in_unavailable", "开发环境登录仅在本地微信适配器下可用"


class WechatWebUnavailable(NotFound):
    code, message = "wechat_web_unavailable", "暂未开通微信网页登录，请使用手机验证码登录"


class DevSignInSchema(InputSchema):
    openid = fields.String(required=True, validate=[validate.Length(min=1, max=60),
                                                    validate.Regexp(r"^[A-Za-z0-9_.:-]+$", error="只能包含字母、数字和 _ . : -")])


class SmsSignInSchema(InputSchema):
    phone = fields.String(required=True, validate=validate.Length(min=1, max=PHONE_INPUT_MAX_LENGTH))
    code = fields.String(required=True, validate=validate.Regexp(r"^\s*[0-9０-９]{6}\s*$", error="请输入 6 位验证码"))


# --- the guard on every POST ---------------------------------------------------------------------

@bp.before_request
def _refuse_cross_site_posts():
    if request.method != "POST":
        return
    if request.headers.get(CSRF_HEADER) != CSRF_VALUE:
        raise CsrfRefused()
    origin = request.headers.get("Origin")
    if origin is not None and _origin(origin) != _origin(request.host_url):
        raise CsrfRefused()  # another site's page ("null" included: a sandboxed frame)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


@bp.after_request
def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _load(schema_class) -> dict:
    try:
        return schema_class().load(g.get("json_body") or {})
    except ValidationError as exc:
        fields_ = {key: value if isinstance(value, list) else [str(value)] for key, value in exc.messages.items()}
        raise ValidationFailed(fields_) from None


# --- the cookie ---------------------------------------------------------------------------------

def _secure() -> bool:
    return request.is_secure or current_app.config.get("APP_ENV") == "production"


def _set_session_cookie(response, user: WechatUser, now) -> None:
    days = current_app.config["CONSULTANT_SESSION_DAYS"]
    signed = identity.issue_wechat_token(user, secret=current_app.config["SECRET_KEY"], now=now,
                                         ttl_seconds=days * 86400, kind="wechat_session")
    response.set_cookie(SESSION_COOKIE, signed.token, max_age=days * 86400, path=SESSION_PATH, httponly=True,
                        secure=_secure(), samesite="Strict")


def _clear_session_cookie(response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=SESSION_PATH, httponly=True, secure=_secure(), samesite="Strict")


def _session_user(required: bool = True) -> WechatUser | None:
    """The user the session cookie names (401 when it is missing, forged, expired or revoked)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        if required:
            raise TokenMissing()
        return None
    try:
        return identity.authenticate(db.session, cookie, kind="wechat_session",
                                     secret=current_app.config["SECRET_KEY"], now=utcnow())
    except DomainError:
        if required:
            raise
        return None


def _user_summary(user: WechatUser) -> dict:
    consultant = db.session.scalar(select(Consultant).where(Consultant.wechat_user_id == user.id))
    return {"id": user.id,
            "consultant_id": consultant.id if consultant else None,
            "consultant_name": consultant.name if consultant else None,
            "consultant_status": consultant.status if consultant else None,
            "operating": bool(consultant and is_operating(db.session, consultant))}


def _signed_in(user: WechatUser, status: int = 200):
    """The answer to every sign-in: the session cookie and a first bearer token."""
    now = utcnow()
    token = identity.issue_wechat_token(user, secret=current_app.config["SECRET_KEY"], now=now,
                                        ttl_seconds=current_app.config["CONSULTANT_ACCESS_TTL_SECONDS"])
    response = jsonify({"token": token.token, "expires_at": token.expires_at.isoformat(),
                        "user": _user_summary(user)})
    response.status_code = status
    _set_session_cookie(response, user, now)
    return response


# --- endpoints ------------------------------------------------------------------------------------

@bp.post("/token")
def token():
    """A short-lived bearer token for the page, bought with the session cookie; the cookie's
    lifetime starts again (a consultant who uses the app every month stays signed in)."""
    return _signed_in(_session_user())


@bp.post("/sign-out")
def sign_out():
    """Sign out: the cookie is cleared and every token of the user, here and in the
    mini-program, stops working (the platform's one revocation: ``token_version``)."""
    user = _session_user(required=False)
    if user is not None:
        identity.revoke_tokens(user)
    response = jsonify({"signed_out": True})
    _clear_session_cookie(response)
    return response


@bp.post("/dev")
def dev_sign_in():
    """Development only: sign in as ``dev:<openid>`` through the local WeChat adapter, exactly
    as the mini-program's ``POST /api/mp/v1/auth/wechat`` does."""
    if not dev_sign_in_available():
        raise DevSignInUnavailable()
    body = _load(DevSignInSchema)
    signed = identity.sign_in_wechat(db.session, current_app.extensions["adapters"].wechat, f"dev:{body['openid']}",
                                     secret=current_app.config["SECRET_KEY"], now=utcnow(),
                                     ttl_seconds=current_app.config["CONSULTANT_ACCESS_TTL_SECONDS"])
    return _signed_in(signed.subject)


@bp.post("/sms")
def sms_sign_in():
    """Sign in with the code sent to the consultant's phone (``POST /api/mp/v1/auth/sms/send``).
    A WeChat web identity the browser already holds is linked to that consultant."""
    body = _load(SmsSignInSchema)
    user = web_identity.sign_in_by_phone(db.session, body["phone"], body["code"], current=_session_user(False),
                                         secret=current_app.config["SECRET_KEY"], now=utcnow(),
                                         config=current_app.config)
    return _signed_in(user)


def dev_sign_in_available() -> bool:
    return (current_app.config.get("APP_ENV") != "production"
            and isinstance(current_app.extensions["adapters"].wechat, LocalWechatAuth))


def wechat_web_available() -> bool:
    return current_app.extensions["adapters"].wechat_web is not None


# --- WeChat web authorisation ---------------------------------------------------------------------

def _oauth_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="consultant-app.wechat-oauth")


def safe_next(value: str | None) -> str:
    """Only our own pages: ``/m/…``, never ``//host`` or ``/m/session/…``."""
    if (not value or not value.startswith("/m/") or value.startswith("//") or "\\" in value
            or value.startswith(SESSION_PATH)):
        return "/m/"
    return value


@bp.get("/wechat/start")
def wechat_start():
    """Send the browser to WeChat to authorise under the Official Account's appid. A random
    state goes along and into a short-lived cookie (SameSite=Lax: it must come back on
    WeChat's redirect), so a code someone else obtained cannot sign this browser in."""
    if not wechat_web_available():
        return redirect(url_for("m_pages.signin", error=WechatWebUnavailable.code))
    state = secrets.token_urlsafe(16)
    target = current_app.extensions["adapters"].wechat_web.authorize_url(
        url_for("m_session.wechat_callback", _external=True), state)
    response = redirect(target)
    saved = _oauth_serializer().dumps({"state": state, "next": safe_next(request.args.get("next"))})
    response.set_cookie(OAUTH_COOKIE, saved, max_age=OAUTH_MAX_AGE, path=OAUTH_PATH, httponly=True,
                        secure=_secure(), samesite="Lax")
    return response


@bp.get("/wechat/callback")
def wechat_callback():
    """WeChat sends the browser back here with ``code`` and our ``state``."""
    try:
        saved = _oauth_serializer().loads(request.cookies.get(OAUTH_COOKIE, ""), max_age=OAUTH_MAX_AGE)
    except BadSignature:
        saved = None
    state = request.args.get("state", "")
    if not saved or not state or not secrets.compare_digest(str(saved.get("state", "")), state):
        return _back_to_signin("wechat_state_invalid")
    code = request.args.get("code", "")
    if not code or len(code) > 128:
        return _back_to_signin("wechat_denied")  # he declined, or WeChat sent nothing usable
    if not wechat_web_available():
        return _back_to_signin(WechatWebUnavailable.code)
    try:
        user = web_identity.sign_in_wechat_web(db.session, current_app.extensions["adapters"].wechat_web, code,
                                               now=utcnow())
    except DomainError as exc:
        return _back_to_signin(exc.code)
    response = redirect(saved.get("next") or "/m/")
    _set_session_cookie(response, user, utcnow())
    response.delete_cookie(OAUTH_COOKIE, path=OAUTH_PATH, httponly=True, secure=_secure(), samesite="Lax")
    return response


def _back_to_signin(code: str):
    response = redirect(url_for("m_pages.signin", error=code))
    response.delete_cookie(OAUTH_COOKIE, path=OAUTH_PATH, httponly=True, secure=_secure(), samesite="Lax")
    return response
