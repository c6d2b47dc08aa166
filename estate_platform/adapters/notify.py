"""WeChat subscribe messages (订阅消息) to consultants.

The real sender calls ``cgi-bin/message/subscribe/send`` with an access token
from ``cgi-bin/token`` (cached in memory until shortly before it expires); the
local one logs and keeps an outbox. Both answer with a ``SendOutcome``: sent, or
a permanent reason not to try again (the user refused the subscription, no
template is configured for the kind). Anything worth retrying raises
``NotificationUnavailable``.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Protocol

import requests

from ..clock import SHANGHAI
from ..errors import UpstreamUnavailable

log = logging.getLogger(__name__)


class NotificationUnavailable(UpstreamUnavailable):
    """WeChat is down, refused the token, or answered an error worth retrying later."""
    code, message = "notification_unavailable", "消息推送服务暂时不可用，请稍后重试"


@dataclass(frozen=True)
class SendOutcome:
    delivered: bool
    reason: str | None = None  # why it was not delivered and never will be


SENT = SendOutcome(True)
USER_NOT_SUBSCRIBED = SendOutcome(False, "user_not_subscribed")
TEMPLATE_MISSING = SendOutcome(False, "template_missing")
#: Every ``reason`` an adapter may give: delivery does not retry these.
PERMANENT_REASONS = frozenset({USER_NOT_SUBSCRIBED.reason, TEMPLATE_MISSING.reason})


class NotificationSender(Protocol):
    def send(self, openid: str, kind: str, title: str, body: str, page: str, *,
             at: datetime | None = None) -> SendOutcome: ...


@dataclass
class LocalNotificationSender:
    """The embedded default: writes the message to the log and keeps the last ones."""
    outbox: list[dict] = field(default_factory=list)

    def send(self, openid: str, kind: str, title: str, body: str, page: str, *,
             at: datetime | None = None) -> SendOutcome:
        log.info("[local notification] to %s (%s): %s — %s [%s]", openid, kind, title, body, page)
        self.outbox.append({"openid": openid, "kind": kind, "title": title, "body": body, "page": page})
        del self.outbox[:-100]
        return SENT


# --- templates -------------------------------------------------------------------------

#: The default layout of a template: its title, its body and a time.
DEFAULT_FIELDS = {"title": "thing1", "body": "thing2", "time": "time3"}
#: WeChat's length limits per keyword type (characters); longer values are refused by WeChat.
LENGTH_LIMITS = {"thing": 20, "name": 10, "phrase": 5, "character_string": 32, "number": 32, "letter": 32,
                 "symbol": 5}


@dataclass(frozen=True)
class Template:
    """A subscribe-message template: its id and which keyword carries the title, body and time."""
    template_id: str
    fields: dict[str, str]

    @classmethod
    def parse(cls, setting: str) -> "Template":
        """``TEMPLATE_ID`` (default layout thing1/thing2/time3) or
        ``TEMPLATE_ID;title=thing5,body=thing2,time=date3`` for a template whose keywords differ."""
        template_id, _, layout = setting.strip().partition(";")
        if not template_id.strip():
            raise ValueError("a template setting needs a template id")
        fields = dict(DEFAULT_FIELDS)
        if layout.strip():
            fields = {}
            for part in layout.split(","):
                role, _, keyword = part.partition("=")
                role, keyword = role.strip(), keyword.strip()
                if role not in DEFAULT_FIELDS or not keyword:
                    raise ValueError(f"template layout part {part!r}: expected title|body|time=keyword")
                fields[role] = keyword
        return cls(template_id.strip(), fields)


def fit(keyword: str, value: str) -> str:
    """Cut ``value`` to what WeChat accepts for ``keyword``'s type (thing ≤ 20 characters …)."""
    kind = keyword.rstrip("0123456789")
    limit = LENGTH_LIMITS.get(kind)
    value = " ".join(value.split())  # WeChat refuses line breaks in a keyword
    if limit is None or len(value) <= limit:
        return value
    return value[:limit - 1] + "…" if limit > 5 else value[:limit]


def message_data(template: Template, title: str, body: str, at: datetime | None) -> dict:
    """The ``data`` of a subscribe message: every keyword filled (WeChat refuses an empty one)."""
    at = at or datetime.now(timezone.utc)
    values = {"title": title, "body": body, "time": at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")}
    return {keyword: {"value": fit(keyword, values[role])} for role, keyword in template.fields.items()}


# --- the real sender -------------------------------------------------------------------

class HttpWechatSubscribeSender:
    """``subscribeMessage.send`` of the mini-program's own app id."""

    TOKEN_ERRORS = {40001, 40014, 42001}  # token invalid or expired: fetch a new one once
    NOT_SUBSCRIBED = 43101  # the user refused (or has used up) the subscription
    TOKEN_MARGIN_SECONDS = 300

    def __init__(self, app_id: str, app_secret: str, templates: dict[str, str], *,
                 base_url: str = "https://api.weixin.qq.com", timeout: float = 5.0,
                 miniprogram_state: str = "formal", clock: Callable[[], float] = time.monotonic):
        self.app_id, self.app_secret = app_id, app_secret
        self.templates = {kind.lower(): Template.parse(setting) for kind, setting in templates.items() if setting}
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.miniprogram_state = miniprogram_state
        self._clock = clock
        self._token: str | None = None
        self._token_expires = 0.0
        self._lock = threading.Lock()

    # The token is a credential like the secret: neither is ever logged, nor is any
    # exception text from requests (it contains the full URL with its query string).

    def _fetch_token(self) -> str:
        try:
            response = requests.get(f"{self.base_url}/cgi-bin/token",
                                    params={"grant_type": "client_credential", "appid": self.app_id,
                                            "secret": self.app_secret},
                                    timeout=self.timeout)
            response.raise_for_status()
            data = response.json()
            if not isinstance(data, dict):
                raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        except (requests.RequestException, ValueError) as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            log.warning("wechat access token request failed: %s (HTTP status %s)", type(exc).__name__, status)
            raise NotificationUnavailable() from None
        token = data.get("access_token")
        if _errcode(data) or not isinstance(token, str) or not token:
            log.warning("wechat access token refused: errcode=%s errmsg=%s", data.get("errcode"), data.get("errmsg"))
            raise NotificationUnavailable()
        try:
            expires_in = int(data.get("expires_in") or 7200)
        except (TypeError, ValueError):
            expires_in = 7200
        self._token = token
        self._token_expires = self._clock() + max(expires_in - self.TOKEN_MARGIN_SECONDS, 0)
        return token

    def access_token(self, *, refresh: bool = False) -> str:
        with self._lock:
            if refresh or self._token is None or self._clock() >= self._token_expires:
                return self._fetch_token()
            return self._token

    def _post(self, token: str, payload: dict) -> dict:
        try:
            response = requests.post(f"{self.base_url}/cgi-bin/message/subscribe/send",
                                     params={"access_token": token}, json=payload, timeout=self.timeout)
            response.raise_for_status()
            data = response.json()
            if not isinstance(data, dict):
                raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        except (requests.RequestException, ValueError) as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            log.warning("wechat subscribe message failed: %s (HTTP status %s)", type(exc).__name__, status)
            raise NotificationUnavailable() from None
        return data

    def send(self, openid: str, kind: str, title: str, body: str, page: str, *,
             at: datetime | None = None) -> SendOutcome:
        template = self.templates.get(kind)
        if template is None:
            log.warning("no subscribe-message template configured for %s (WECHAT_TEMPLATE_%s)", kind, kind.upper())
            return TEMPLATE_MISSING
        payload = {"touser": openid, "template_id": template.template_id, "page": page,
                   "miniprogram_state": self.miniprogram_state, "lang": "zh_CN",
                   "data": message_data(template, title, body, at)}
        data = self._post(self.access_token(), payload)
        if _errcode(data) in self.TOKEN_ERRORS:
            data = self._post(self.access_token(refresh=True), payload)
        errcode = _errcode(data)
        if errcode == 0:
            return SENT
        if errcode == self.NOT_SUBSCRIBED:
            return USER_NOT_SUBSCRIBED
        log.warning("wechat subscribe message refused: errcode=%s errmsg=%s", errcode, data.get("errmsg"))
        raise NotificationUnavailable()


def _errcode(data: dict) -> int:
    try:
        return int(data.get("errcode") or 0)
    except (TypeError, ValueError):
        return -1  # unreadable: treated as a retryable failure


def build_sender(config: dict) -> NotificationSender:
    """The sender the configuration asks for (``NOTIFY_ADAPTER``: local | http)."""
    if config.get("NOTIFY_ADAPTER") == "http":
        return HttpWechatSubscribeSender(config["WECHAT_APP_ID"], config["WECHAT_APP_SECRET"],
                                         dict(config.get("WECHAT_TEMPLATES") or {}),
                                         base_url=config.get("WECHAT_API_BASE", "https://api.weixin.qq.com"))
    return LocalNotificationSender()
