"""Payout gateway: Stripe Connect transfers (DESIGN §5, issue 12 §3).

Two implementations behind one small interface (STYLE §10):

* ``StripeConnectGateway``: HTTP to Stripe. A connected account per payee, a transfer per
  payout item with the item's stored idempotency key as the ``Idempotency-Key`` header
  (Stripe answers a retry with the first result, so a retry never pays twice) and the
  batch's ``transfer_group``. A 4xx is a decline (the money returns); a 5xx or a network
  error is "unknown, try again with the same key".
* ``LocalPayoutGateway``: the embedded default. It remembers every transfer by idempotency
  key in a JSON-lines file under the instance folder, so a worker killed mid-batch and
  restarted sends nothing twice either.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import requests

from ..errors import UpstreamUnavailable

log = logging.getLogger(__name__)


class GatewayUnavailable(UpstreamUnavailable):
    code, message = "payout_gateway_unavailable", "支付通道暂时不可用，稍后将以同一幂等键重试"


@dataclass(frozen=True)
class TransferResult:
    ok: bool
    reference: str | None = None
    failure_reason: str | None = None


class PayoutGateway(Protocol):
    def connected_account(self, *, payout_account_id: int, holder_name: str, kind: str) -> str: ...

    def transfer(self, *, idempotency_key: str, amount_cents: int, destination: str, transfer_group: str,
                 description: str) -> TransferResult: ...


class LocalPayoutGateway:
    """A fake gateway that pays once per idempotency key, remembered across processes."""

    def __init__(self, store: str | os.PathLike | None = None, *, delay_ms: int = 0):
        self.path = Path(store) if store else None
        self.delay = delay_ms / 1000
        self.declined_destinations: set[str] = set()
        self._lock = threading.Lock()
        self._seen: dict[str, dict] = {}
        self._loaded_size = 0
        self.calls = 0

    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        size = self.path.stat().st_size
        if size == self._loaded_size:
            return
        with open(self.path, "rb") as handle:
            handle.seek(self._loaded_size)
            chunk = handle.read()
        complete = chunk[:chunk.rfind(b"\n") + 1]
        for line in complete.splitlines():
            row = json.loads(line)
            self._seen.setdefault(row["key"], row)
        self._loaded_size += len(complete)

    def connected_account(self, *, payout_account_id: int, holder_name: str, kind: str) -> str:
        return f"acct_local_{payout_account_id}"

    def decline(self, destination: str) -> None:
        """Tests and demos: transfers to this account are declined."""
        self.declined_destinations.add(destination)

    def transfers(self) -> dict[str, dict]:
        with self._lock:
            self._load()
            return dict(self._seen)

    def transfer(self, *, idempotency_key: str, amount_cents: int, destination: str, transfer_group: str,
                 description: str) -> TransferResult:
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self._load()
            earlier = self._seen.get(idempotency_key)
            if earlier is None:
                ok = destination not in self.declined_destinations
                earlier = {"key": idempotency_key, "id": f"tr_local_{len(self._seen) + 1}_{os.getpid()}",
                           "amount": amount_cents, "destination": destination, "group": transfer_group, "ok": ok}
                self._seen[idempotency_key] = earlier
                if self.path is not None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    line = (json.dumps(earlier) + "\n").encode()
                    with open(self.path, "ab") as handle:
                        handle.write(line)
                        handle.flush()
                        os.fsync(handle.fileno())
        if not earlier["ok"]:
            return TransferResult(False, failure_reason="收款账户被银行拒绝（本地模拟）")
        return TransferResult(True, reference=earlier["id"])


class StripeConnectGateway:
    """Stripe's REST API over ``requests`` (form-encoded, bearer key, Idempotency-Key)."""

    def __init__(self, api_key: str, *, base_url: str = "https://api.stripe.com", currency: str = "cny",
                 timeout: float = 10.0):
        self.api_key, self.base_url, self.currency, self.timeout = api_key, base_url.rstrip("/"), currency, timeout

    def _post(self, path: str, data: dict, idempotency_key: str) -> requests.Response:
        try:
            return requests.post(f"{self.base_url}{path}", data=data, timeout=self.timeout,
                                 headers={"Authorization": f"Bearer {self.api_key}",
                                          "Idempotency-Key": idempotency_key})
        except requests.RequestException as exc:
            log.warning("stripe %s failed: %s", path, exc)
            raise GatewayUnavailable() from exc

    @staticmethod
    def _error(response: requests.Response) -> str:
        try:
            return str(response.json()["error"].get("message") or response.status_code)
        except (ValueError, KeyError, TypeError, AttributeError):
            return f"HTTP {response.status_code}"

    def connected_account(self, *, payout_account_id: int, holder_name: str, kind: str) -> str:
        response = self._post("/v1/accounts", {
            "type": "custom", "business_type": "company" if kind == "corporate" else "individual",
            "capabilities[transfers][requested]": "true", "metadata[payout_account_id]": str(payout_account_id)},
            idempotency_key=f"payout-account-{payout_account_id}")
        if response.status_code >= 400:
            log.warning("stripe account refused: %s", self._error(response))
            raise GatewayUnavailable()
        return response.json()["id"]

    def transfer(self, *, idempotency_key: str, amount_cents: int, destination: str, transfer_group: str,
                 description: str) -> TransferResult:
        response = self._post("/v1/transfers", {
            "amount": str(amount_cents), "currency": self.currency, "destination": destination,
            "transfer_group": transfer_group, "description": description,
            "metadata[idempotency_key]": idempotency_key}, idempotency_key=idempotency_key)
        if response.status_code >= 500 or response.status_code in (409, 429):
            # 409: the same key is still being processed at Stripe; 429: rate limited. Retry later, same key.
            raise GatewayUnavailable()
        if response.status_code >= 400:
            return TransferResult(False, failure_reason=self._error(response))
        try:
            return TransferResult(True, reference=response.json()["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise GatewayUnavailable() from exc


def build_gateway(config: dict) -> PayoutGateway:
    if config.get("STRIPE_ADAPTER") == "http":
        return StripeConnectGateway(config["STRIPE_API_KEY"], base_url=config.get("STRIPE_API_BASE")
                                    or "https://api.stripe.com")
    instance = config.get("INSTANCE_PATH")
    return LocalPayoutGateway(Path(instance) / "local-gateway" / "transfers.jsonl" if instance else None,
                              delay_ms=int(config.get("LOCAL_GATEWAY_DELAY_MS") or 0))
