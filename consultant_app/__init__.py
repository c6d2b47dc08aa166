"""The consultant's app as mobile web pages (/m/): the reference client of the
mini-program API and the model for the mini-program's screens.

Pages are HTML shells; one hand-written script (static/m/app.js) signs in through
/m/session and calls the same /api/mp/v1 endpoints the mini-program calls, so there
is no second business path.
"""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from . import pages, session
    app.register_blueprint(session.bp)
    app.register_blueprint(pages.bp)
