"""Who is calling the mini-program API. Each resolver raises 401/403/404 or puts
the caller on ``flask.g`` for the handler."""
from __future__ import annotations

from functools import wraps

from flask import current_app, g
from werkzeug.exceptions import HTTPException

from estate_platform.consultants.guard import (TokenCaller, check_operating, operating_caller,
                                               require_operating_caller)
from estate_platform.consultants.services import consultant_of_user
from estate_platform.db import db, utcnow
from estate_platform.errors import ValidationFailed
from estate_platform.identity.services import authenticate
from estate_platform.security import TokenInvalid, read_token


def _authenticate(token: str, kind: str):
    return authenticate(db.session, token, kind=kind, secret=current_app.config["SECRET_KEY"], now=utcnow())


def wechat_user(token: str) -> None:
    g.wechat_user = _authenticate(token, "wechat")


def buyer(token: str) -> None:
    g.buyer = _authenticate(token, "buyer")


def consultant(token: str) -> None:
    """Any consultant, whatever his status (profile, signing)."""
    wechat_user(token)
    g.consultant = consultant_of_user(db.session, g.wechat_user.id)


def operating_consultant(token: str, *, brief: bool = False) -> None:
    """The guard of every consultant feature: active and signed the current agreement.
    The token's owner, his consultant row and the signature come in one SELECT
    (``consultants.guard.operating_caller``): the same checks as ``consultant`` followed by
    ``require_operating``, in the same order, for one round trip."""
    claims = _wechat_claims(token)
    user, found, signed = operating_caller(db.session, claims.subject_id, brief=brief)
    g.wechat_user, g.consultant = user, found
    check_operating(claims.version, user and user.token_version, found, signed)


def registering_consultant(token: str) -> None:
    """``operating_consultant`` for registering a buyer (issue 16 §1): here only the token itself
    (signature, expiry, kind) is checked, before any SQL; its owner is read and checked by the
    registration's own SELECT (``registrations.services.register`` with ``g.token_caller``,
    ``consultants.guard.operating_brief``), the same checks in the same order, still before
    every business rule. A request refused before that SELECT (an invalid body: 422) checks its
    caller alone first (``caller_before_invalid_body``), so a bad caller is still answered first."""
    claims = _wechat_claims(token)
    g.token_caller = TokenCaller(claims.subject_id, claims.version)


def _wechat_claims(token: str):
    """A consultant's token checked in itself (signature, expiry, kind), before any SQL."""
    claims = read_token(current_app.config["SECRET_KEY"], token, now=utcnow())
    if claims.kind != "wechat":
        raise TokenInvalid()
    return claims


def caller_before_invalid_body(func):
    """Between ``authenticated(registering_consultant)`` and ``arguments``: a body refused (422,
    by the schema or by the service's own validation) is answered as before only once the caller
    has passed the operating-consultant guard (one SELECT, on this error path only)."""
    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (HTTPException, ValidationFailed) as error:
            if getattr(error, "code", None) == 422 or isinstance(error, ValidationFailed):
                require_operating_caller(db.session, g.token_caller)
            raise
    return wrapper
