"""Sensitive personal information at rest (个人敏感信息): bank account and ID numbers.

Encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under ``PAYOUT_ENCRYPTION_KEY``; in
development the key is derived from SECRET_KEY, production refuses to start without its
own (config.check_config). Shown masked everywhere; every full read is logged
(``SensitiveRead``) by the service that decrypts for a person.
"""
from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.orm import Session

from .models import SensitiveRead


def derive_key(secret_key: str) -> str:
    """A development key from SECRET_KEY (never used in production)."""
    return base64.urlsafe_b64encode(hashlib.sha256(b"payout-accounts:" + secret_key.encode()).digest()).decode()


def encrypt(key: str, value: str) -> str:
    return Fernet(key.encode()).encrypt(value.encode()).decode()


def decrypt(key: str, token: str) -> str:
    try:
        return Fernet(key.encode()).decrypt(token.encode()).decode()
    except InvalidToken as exc:  # a wrong key is a deployment error, not bad input
        raise RuntimeError("payout data cannot be decrypted with the configured PAYOUT_ENCRYPTION_KEY") from exc


def mask(last4: str | None) -> str | None:
    return None if last4 is None else f"****{last4}"


def mask_id_number(last4: str | None) -> str | None:
    return None if last4 is None else f"**************{last4}"


# --- 身份证号 (GB 11643-1999) ---------------------------------------------------------------

_ID = re.compile(r"[1-9]\d{5}(18|19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\d{3}[\dX]")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def id_number_valid(value: str) -> bool:
    """18 characters, a plausible birth date, and the ISO 7064 MOD 11-2 check character."""
    if not _ID.fullmatch(value):
        return False
    total = sum(int(c) * w for c, w in zip(value[:17], _WEIGHTS))
    return _CHECK[total % 11] == value[17]


def normalise_id_number(raw: str) -> str:
    return raw.strip().upper().replace(" ", "")


def log_read(session: Session, *, actor_type: str, actor_id: int | None, subject_type: str, subject_id: int,
             what: str, now: datetime, ip: str | None = None) -> None:
    session.add(SensitiveRead(actor_type=actor_type, actor_id=actor_id, subject_type=subject_type,
                              subject_id=subject_id, what=what, ip=ip, created_at=now))
