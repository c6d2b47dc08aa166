"""Signed bearer tokens and password hashing.

A token is ``{kind, sub, ver, exp}`` signed with the app secret. It expires at
``exp`` and is revoked by bumping the owner's ``token_version`` ("sign out
everywhere"). ``now`` is passed in so expiry is testable without sleeping.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.security import check_password_hash, generate_password_hash

from .errors import Unauthorized

# "wechat_session" is the consultant pages' long-lived refresh credential (an HttpOnly
# cookie): it only ever buys a short "wechat" token and never works as a bearer token.
TOKEN_KINDS = ("wechat", "buyer", "staff", "wechat_session")


class TokenMissing(Unauthorized):
    code, message = "token_missing", "请先登录"


class TokenInvalid(Unauthorized):
    code, message = "token_invalid", "登录凭证无效，请重新登录"


class TokenExpired(Unauthorized):
    code, message = "token_expired", "登录已过期，请重新登录"


class TokenRevoked(Unauthorized):
    code, message = "token_revoked", "登录凭证已失效，请重新登录"


@dataclass(frozen=True)
class TokenClaims:
    kind: str
    subject_id: int
    version: int
    expires_at: int


@lru_cache(maxsize=8)
def _serializer(secret: str) -> URLSafeSerializer:
    """One serializer per secret (it holds nothing but the secret and the salt): every request reads a
    token, and building the serializer with its signer each time was ~1 % of a registration's CPU."""
    return URLSafeSerializer(secret, salt="estate-platform.bearer-token")


def issue_token(secret: str, *, kind: str, subject_id: int, version: int,
                now: datetime, ttl_seconds: int) -> tuple[str, datetime]:
    if kind not in TOKEN_KINDS:
        raise ValueError(kind)
    expires = int(now.timestamp()) + ttl_seconds
    token = _serializer(secret).dumps({"k": kind, "sub": subject_id, "v": version, "exp": expires})
    return token, datetime.fromtimestamp(expires, tz=now.tzinfo)


def read_token(secret: str, token: str, *, now: datetime) -> TokenClaims:
    """Check signature and expiry; revocation is checked against the owner's row."""
    try:
        data = _serializer(secret).loads(token)
        claims = TokenClaims(kind=str(data["k"]), subject_id=int(data["sub"]),
                             version=int(data["v"]), expires_at=int(data["exp"]))
    except (BadSignature, KeyError, TypeError, ValueError) as exc:
        raise TokenInvalid() from exc
    if claims.kind not in TOKEN_KINDS:
        raise TokenInvalid()
    if claims.expires_at <= int(now.timestamp()):
        raise TokenExpired()
    return claims


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def verify_password(password_hash: str, password: str) -> bool:
    return check_password_hash(password_hash, password)
