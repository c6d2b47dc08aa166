"""SMS verification codes."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

import requests

from ..errors import UpstreamUnavailable

log = logging.getLogger(__name__)


class SmsUnavailable(UpstreamUnavailable):
    code, message = "sms_unavailable", "短信服务暂时不可用，请稍后重试"


class SmsSender(Protocol):
    def send_code(self, phone: str, code: str) -> None: ...


@dataclass
class LocalSmsSender:
    """Writes the code to the log (and keeps the last ones for tests and demos)."""
    outbox: list[tuple[str, str]] = field(default_factory=list)

    def send_code(self, phone: str, code: str) -> None:
        log.warning("[local SMS] verification code for %s: %s", phone, code)
        self.outbox.append((phone, code))
        del self.outbox[:-100]

    def last_code(self, phone: str) -> str | None:
        for sent_phone, code in reversed(self.outbox):
            if sent_phone == phone:
                return code
        return None


class HttpSmsSender:
    """A JSON-over-HTTP SMS gateway: POST {phone, sign_name, template_code, params}."""

    def __init__(self, url: str, api_key: str, *, sign_name: str, template_code: str,
                 timeout: float = 5.0):
        self.url, self.api_key = url, api_key
        self.sign_name, self.template_code = sign_name, template_code
        self.timeout = timeout

    def send_code(self, phone: str, code: str) -> None:
        try:
            response = requests.post(
                self.url,
                json={"phone": phone, "sign_name": self.sign_name,
                      "template_code": self.template_code, "params": {"code": code}},
                headers={"Authorization": f"Bearer {self.api_key}"},
                timeout=self.timeout,
            )
            response.raise_for_status()
            body = response.json()
            if not isinstance(body, dict):
                raise ValueError(f"expected a JSON object, got {type(body).__name__}")
        except (requests.RequestException, ValueError) as exc:
            log.warning("sms gateway failed: %s", exc)
            raise SmsUnavailable() from exc
        if str(body.get("code", "OK")).upper() != "OK":
            log.warning("sms gateway refused: %s", body)
            raise SmsUnavailable()
