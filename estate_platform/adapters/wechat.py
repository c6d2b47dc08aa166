"""WeChat sign-in: the mini-program's ``wx.login`` code, and the Official Account's web
authorisation (网页授权) code for pages opened inside WeChat, each exchanged for an openid.

The two apps give the same person different openids; the ``unionid`` (both apps bound to
one WeChat Open Platform account) is the same in both (identity.services links them).
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote, urlencode

import requests

from ..errors import Unauthorized, UpstreamUnavailable

log = logging.getLogger(__name__)


class WechatCodeInvalid(Unauthorized):
    code, message = "wechat_code_invalid", "微信登录凭证无效或已过期，请重新进入小程序"


class WechatUnavailable(UpstreamUnavailable):
    code, message = "wechat_unavailable", "微信服务暂时不可用，请稍后重试"


@dataclass(frozen=True)
class WechatSession:
    openid: str
    unionid: str | None = None


class WechatAuth(Protocol):
    def code_to_session(self, code: str) -> WechatSession: ...


class LocalWechatAuth:
    """Deterministic stand-in: ``dev:<openid>`` signs in as that openid.

    Any other code maps to a stable fake openid derived from it, so the same
    code always means the same user.
    """

    def code_to_session(self, code: str) -> WechatSession:
        if code.startswith("dev:") and 1 < len(code) - 4 <= 64:
            return WechatSession(openid=code[4:])
        if code.startswith("invalid"):
            raise WechatCodeInvalid()
        return WechatSession(openid="local-" + hashlib.sha256(code.encode()).hexdigest()[:26])


class HttpWechatAuth:
    """The real ``jscode2session`` call (auth.code2Session)."""

    # errcodes that mean the code itself is bad, not that WeChat is down.
    CODE_ERRORS = {40029, 40163, 40226}

    def __init__(self, app_id: str, app_secret: str, *, base_url: str = "https://api.weixin.qq.com",
                 timeout: float = 5.0):
        self.app_id, self.app_secret = app_id, app_secret
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def code_to_session(self, code: str) -> WechatSession:
        try:
            response = requests.get(
                f"{self.base_url}/sns/jscode2session",
                params={"appid": self.app_id, "secret": self.app_secret,
                        "js_code": code, "grant_type": "authorization_code"},
                timeout=self.timeout,
            )
            response.raise_for_status()
            data = response.json()
            if not isinstance(data, dict):
                raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        except (requests.RequestException, ValueError) as exc:
            # Not ``exc`` itself: requests puts the full URL, app secret included, in its messages.
            status = getattr(getattr(exc, "response", None), "status_code", None)
            log.warning("wechat code2session failed: %s (HTTP status %s)", type(exc).__name__, status)
            raise WechatUnavailable() from None
        errcode = int(data.get("errcode") or 0)
        if errcode in self.CODE_ERRORS:
            raise WechatCodeInvalid()
        if errcode or not data.get("openid"):
            log.warning("wechat code2session errcode=%s errmsg=%s", errcode, data.get("errmsg"))
            raise WechatUnavailable()
        return WechatSession(openid=data["openid"], unionid=data.get("unionid"))


# --- web authorisation (网页授权) of the Official Account -----------------------------------------

WEB_SCOPES = ("snsapi_base", "snsapi_userinfo")


class WechatWebCodeInvalid(Unauthorized):
    code, message = "wechat_code_invalid", "微信授权已失效，请重新打开页面登录"


class WechatWebAuth(Protocol):
    def authorize_url(self, redirect_uri: str, state: str) -> str: ...

    def code_to_identity(self, code: str) -> WechatSession: ...


class LocalWechatWebAuth:
    """Stand-in for the web flow: "authorising" sends the browser straight back with the
    code ``dev:wechat-web``; ``dev:<name>`` is the Official Account openid ``oa-<name>``
    (no unionid, so such a user is linked to a consultant through his phone)."""

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        separator = "&" if "?" in redirect_uri else "?"
        return f"{redirect_uri}{separator}{urlencode({'code': 'dev:wechat-web', 'state': state})}"

    def code_to_identity(self, code: str) -> WechatSession:
        if code.startswith("dev:") and 1 < len(code) - 4 <= 60:
            return WechatSession(openid="oa-" + code[4:])
        if code.startswith("invalid"):
            raise WechatCodeInvalid()
        return WechatSession(openid="oa-local-" + hashlib.sha256(code.encode()).hexdigest()[:26])


class HttpWechatWebAuth:
    """The real OAuth2 web flow: the browser is sent to ``open.weixin.qq.com`` to authorise
    under the Official Account's appid, comes back with a code, and ``sns/oauth2/access_token``
    exchanges it for the openid (and the unionid, which WeChat gives for ``snsapi_userinfo``
    and for users the Open Platform account already knows). ``sns/userinfo`` is not needed."""

    CODE_ERRORS = {40029, 40163, 41008}  # invalid, already used, missing code

    def __init__(self, app_id: str, app_secret: str, *, scope: str = "snsapi_base",
                 base_url: str = "https://api.weixin.qq.com",
                 authorize_base: str = "https://open.weixin.qq.com", timeout: float = 5.0):
        if scope not in WEB_SCOPES:
            raise ValueError(f"scope must be one of {WEB_SCOPES}, got {scope!r}")
        self.app_id, self.app_secret, self.scope = app_id, app_secret, scope
        self.base_url = base_url.rstrip("/")
        self.authorize_base = authorize_base.rstrip("/")
        self.timeout = timeout

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        # WeChat wants exactly these parameters in this order, and the fragment.
        query = (f"appid={quote(self.app_id, safe='')}&redirect_uri={quote(redirect_uri, safe='')}"
                 f"&response_type=code&scope={self.scope}&state={quote(state, safe='')}")
        return f"{self.authorize_base}/connect/oauth2/authorize?{query}#wechat_redirect"

    def code_to_identity(self, code: str) -> WechatSession:
        try:
            response = requests.get(
                f"{self.base_url}/sns/oauth2/access_token",
                params={"appid": self.app_id, "secret": self.app_secret, "code": code,
                        "grant_type": "authorization_code"},
                timeout=self.timeout,
            )
            response.raise_for_status()
            data = response.json()
            if not isinstance(data, dict):
                raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        except (requests.RequestException, ValueError) as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            log.warning("wechat oauth2/access_token failed: %s (HTTP status %s)", type(exc).__name__, status)
            raise WechatUnavailable() from None
        errcode = int(data.get("errcode") or 0)
        if errcode in self.CODE_ERRORS:
            raise WechatWebCodeInvalid()
        if errcode or not data.get("openid"):
            log.warning("wechat oauth2/access_token errcode=%s errmsg=%s", errcode, data.get("errmsg"))
            raise WechatUnavailable()
        return WechatSession(openid=data["openid"], unionid=data.get("unionid") or None)
