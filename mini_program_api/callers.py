"""Who is calling the mini-program API. Each resolver raises 401/403/404 or puts
the caller on ``flask.g`` for the handler."""
from __future__ import annotations

from flask import current_app, g

from estate_platform.consultants.guard import require_operating
from estate_platform.consultants.services import consultant_of_user
from estate_platform.db import db, utcnow
from estate_platform.identity.services import authenticate


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


def operating_consultant(token: str) -> None:
    """The guard of every consultant feature: active and signed the current agreement."""
    consultant(token)
    require_operating(db.session, g.consultant)
