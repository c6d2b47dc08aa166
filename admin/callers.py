"""Who is calling the admin JSON API: a staff bearer token with an allowed role."""
from __future__ import annotations

from functools import wraps

from flask import current_app, g

from estate_platform.db import db, utcnow
from estate_platform.identity.services import authenticate

from .roles import RoleForbidden, check_role


def staff_with_roles(*roles: str):
    def resolve(token: str) -> None:
        g.staff = authenticate(db.session, token, kind="staff", secret=current_app.config["SECRET_KEY"],
                               now=utcnow())
        check_role(g.staff, roles)
    resolve.roles = roles
    return resolve


def api_roles(blp, *roles: str):
    """Decorator for a JSON endpoint: staff token + one of ``roles`` (declared on the view)."""
    def decorator(func):
        wrapped = blp.authenticated(staff_with_roles(*roles), RoleForbidden)(func)

        @wraps(wrapped)
        def view(*args, **kwargs):
            return wrapped(*args, **kwargs)
        view.allowed_roles = roles
        return view
    return decorator
