"""Who is calling the mini-program API. Each resolver raises 401/403/404 or puts
the caller on ``flask.g`` for the handler."""
from __future__ import annotations

from flask import current_app, g

from estate_platform.consultants.guard import operating_caller, require_operating_signed
from estate_platform.consultants.services import NotYetApplied, consultant_of_user
from estate_platform.db import db, utcnow
from estate_platform.identity.services import authenticate
from estate_platform.security import TokenInvalid, TokenRevoked, read_token


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
    claims = read_token(current_app.config["SECRET_KEY"], token, now=utcnow())
    if claims.kind != "wechat":
        raise TokenInvalid()
    user, found, signed = operating_caller(db.session, claims.subject_id, brief=brief)
    if user is None or user.token_version != claims.version:
        raise TokenRevoked()
    g.wechat_user = user
    if found is None:
        raise NotYetApplied()
    g.consultant = found
    require_operating_signed(found, signed)


def registering_consultant(token: str) -> None:
    """``operating_consultant`` for registering a buyer: the same checks, with the caller as small
    read-only records instead of entities (the registration path, issue 16 §1)."""
    operating_consultant(token, brief=True)
