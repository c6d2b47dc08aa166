"""The JSON API of the WeChat mini-program and the buyers' H5 pages (/api/mp/v1)."""
from __future__ import annotations

from flask import Flask

from web_common.api import PlatformApi

PREFIX = "/api/mp/v1"


def init_app(app: Flask) -> PlatformApi:
    app.config.update({
        "API_TITLE": "置业顾问小程序 API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": PREFIX,
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": "/vendor/swagger-ui/",
        "API_SPEC_OPTIONS": {
            "info": {"description": "小程序与购房者 H5 页面使用的接口。错误统一为 "
                                    "`{\"error\": {\"code\", \"message\", \"details\"}}`。"},
        },
    })
    api = PlatformApi(app, spec_kwargs={"servers": [{"url": "/"}]})
    api.add_bearer_scheme()
    from . import (agreement, auth, clients, consultants, deals, disputes, h5, handoffs, invite_links, notifications,
                   projects, registrations, team, visits)
    api.register_blueprint(auth.blp, url_prefix=f"{PREFIX}/auth")
    api.register_blueprint(consultants.blp, url_prefix=f"{PREFIX}/consultants")
    api.register_blueprint(agreement.blp, url_prefix=f"{PREFIX}/agreement")
    api.register_blueprint(projects.blp, url_prefix=f"{PREFIX}/projects")
    api.register_blueprint(registrations.blp, url_prefix=f"{PREFIX}/registrations")
    api.register_blueprint(invite_links.blp, url_prefix=f"{PREFIX}/invite-links")
    api.register_blueprint(visits.blp, url_prefix=PREFIX)
    api.register_blueprint(handoffs.blp, url_prefix=f"{PREFIX}/handoffs")
    api.register_blueprint(clients.blp, url_prefix=f"{PREFIX}/clients")
    api.register_blueprint(notifications.blp, url_prefix=f"{PREFIX}/notifications")
    api.register_blueprint(deals.blp, url_prefix=PREFIX)
    api.register_blueprint(disputes.blp, url_prefix=PREFIX)
    api.register_blueprint(team.blp, url_prefix=PREFIX)
    from . import buyback
    api.register_blueprint(buyback.blp, url_prefix=f"{PREFIX}/buyback")
    from . import h5_payouts, payouts, statements
    api.register_blueprint(payouts.blp, url_prefix=PREFIX)
    api.register_blueprint(statements.blp, url_prefix=PREFIX)
    app.register_blueprint(h5.bp)
    app.register_blueprint(h5_payouts.bp)
    return api
