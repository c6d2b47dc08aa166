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

    def send_notice(self, phone: str, template: str, params: dict) -> None: ...


@dataclass
class LocalSmsSender:
    """Writes the code to the log (and keeps the last ones for tests and demos)."""
    outbox: list[tuple[str, str]] = field(default_factory=list)

    def send_code(self, phone: str, code: str) -> None:
        log.warning("[local SMS] verification code for %s: %s", phone, code)
        self.outbox.append((phone, code))
        del self.outbox[:-100]

    notices: list[tuple[str, str, dict]] = field(default_factory=list)

    def send_notice(self, phone: str, template: str, params: dict) -> None:
        """A notice to a buyer (issue 15 §1: told of his registration), logged and kept."""
        log.warning("[local SMS] notice %s to %s: %s", template, phone, params)
        self.notices.append((phone, template, params))
        del self.notices[:-100]

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
        self._post(phone, self.template_code, {"code": code})

    def send_notice(self, phone: str, template: str, params: dict) -> None:
        """A templated notice (the gateway's template ``template``, e.g. SMS_REGISTRATION_NOTICE)."""
        self._post(phone, template, params)

    def _post(self, phone: str, template: str, params: dict) -> None:
        try:
            response = requests.post(
                self.url,
                json={"phone": phone, "sign_name": self.sign_name,
                      "template_code": template, "params": params},
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
