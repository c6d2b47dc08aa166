"""Personal data kept out of the evidence chain (证据链去标识化, DESIGN §7.9, issue 15 §1).

A payload names a buyer by his id, the masked phone (前三后四 ``138****5678``) and keyed
hashes (HMAC-SHA256) of his phone and name under a key that belongs to him alone and lives
outside the chain (``buyers.evidence_key``). While the key exists, the platform can prove a
record was about this phone by recomputing the hash; once the buyer is erased the key is
destroyed (set NULL) and the hashes can no longer be linked to anybody, yet every record and
every chain hash stays byte for byte as it was, so the chain still verifies.

A hash under one global key would still be personal information (the key holder can test
any number against it); a per-buyer key can be destroyed for one person without touching
anyone else. Digests are base64url without padding (43 characters): a run of eleven digits
that looks like a mainland mobile has a probability below 10⁻⁸ per digest, and the scan
test (tests/integration/test_privacy_evidence.py) would catch it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from ..phones import mask_phone

KEY_BYTES = 32


def new_buyer_key() -> str:
    """A fresh per-buyer key (base64url, 43 characters), made with the buyer row."""
    return secrets.token_urlsafe(KEY_BYTES)


def keyed_hash(key: str, kind: str, value: str) -> str:
    """HMAC-SHA256 of ``kind:value`` under the buyer's key, base64url without padding."""
    digest = hmac.new(key.encode("ascii"), f"{kind}:{value}".encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def buyer_facts(key: str | None, phone: str, name: str | None = None) -> dict:
    """The payload fields that stand for a buyer: the masked phone and the keyed hashes.

    ``key`` None (an erased buyer) leaves only the masked phone."""
    facts = {"buyer_phone_masked": mask_phone(phone)}
    if key:
        facts["buyer_phone_hash"] = keyed_hash(key, "phone", phone)
        if name:
            facts["buyer_name_hash"] = keyed_hash(key, "name", name.strip())
    return facts


def matches(key: str | None, payload: dict, *, phone: str, name: str | None = None) -> bool:
    """Whether a record's payload is about this phone (and name): needs the buyer's key."""
    if not key or payload.get("buyer_phone_hash") != keyed_hash(key, "phone", phone):
        return False
    return name is None or payload.get("buyer_name_hash") == keyed_hash(key, "name", name.strip())
