"""WeChat mini-program login: exchange a ``wx.login`` code for the user's openid."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Protocol

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
