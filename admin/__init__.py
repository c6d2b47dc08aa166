"""Admin: server-rendered pages for operations, finance and site staff (/admin),
and the admin JSON API for scripts and finance automation (/admin/api/v1)."""
from __future__ import annotations

from flask import Flask

from web_common.api import PlatformApi

API_PREFIX = "/admin/api/v1"


def init_app(app: Flask) -> PlatformApi:
    from . import api, deals_api, pages, projects_api, projects_pages, registrations_pages, visits_api, visits_pages
    app.register_blueprint(pages.bp)
    app.register_blueprint(projects_pages.bp)
    app.register_blueprint(visits_pages.bp)
    app.register_blueprint(registrations_pages.bp)
    from . import deals_pages, disputes_pages, finance_pages, staff_api, staff_pages
    app.register_blueprint(deals_pages.bp)
    app.register_blueprint(finance_pages.bp)
    app.register_blueprint(staff_pages.bp)
    app.register_blueprint(disputes_pages.bp)
    from . import risk_pages
    app.register_blueprint(risk_pages.bp)
    app.before_request(pages.check_csrf)
    from .charts import register_jinja as register_charts
    register_charts(app)
    app.config.update({
        "ADMIN_API_TITLE": "平台管理后台 API",
        "ADMIN_API_VERSION": "v1",
        "ADMIN_OPENAPI_VERSION": "3.0.3",
        "ADMIN_OPENAPI_URL_PREFIX": API_PREFIX,
        "ADMIN_OPENAPI_JSON_PATH": "openapi.json",
        "ADMIN_OPENAPI_SWAGGER_UI_PATH": "docs",
        "ADMIN_OPENAPI_SWAGGER_UI_URL": "/vendor/swagger-ui/",
    })
    admin_api = PlatformApi(app, config_prefix="ADMIN_", spec_kwargs={"servers": [{"url": "/"}]})
    admin_api.add_bearer_scheme()
    api.register(admin_api, API_PREFIX)
    admin_api.register_blueprint(projects_api.blp, url_prefix=API_PREFIX)
    admin_api.register_blueprint(visits_api.blp, url_prefix=f"{API_PREFIX}/visits")
    admin_api.register_blueprint(deals_api.blp, url_prefix=API_PREFIX)
    from . import commissions_api
    admin_api.register_blueprint(commissions_api.blp, url_prefix=API_PREFIX)
    admin_api.register_blueprint(staff_api.blp, url_prefix=f"{API_PREFIX}/staff")
    from . import disputes_api
    admin_api.register_blueprint(disputes_api.blp, url_prefix=API_PREFIX)
    from . import penalties_api
    admin_api.register_blueprint(penalties_api.blp, url_prefix=API_PREFIX)
    from . import revisits_api, revisits_pages
    admin_api.register_blueprint(revisits_api.blp, url_prefix=f"{API_PREFIX}/revisits")
    app.register_blueprint(revisits_pages.bp)
    from . import reconciliations_api, reconciliations_pages
    admin_api.register_blueprint(reconciliations_api.blp, url_prefix=API_PREFIX)
    app.register_blueprint(reconciliations_pages.bp)
    from . import risk_api
    admin_api.register_blueprint(risk_api.blp, url_prefix=API_PREFIX)
    from . import settlements_api, settlements_pages
    admin_api.register_blueprint(settlements_api.blp, url_prefix=API_PREFIX)
    app.register_blueprint(settlements_pages.bp)
    from . import buyback_api, buyback_pages
    admin_api.register_blueprint(buyback_api.blp, url_prefix=API_PREFIX)
    app.register_blueprint(buyback_pages.bp)
    from . import exports_api
    admin_api.register_blueprint(exports_api.blp, url_prefix=API_PREFIX)
    app.register_blueprint(exports_api.bp)
    from . import exports_pages  # export jobs (后台导出)
    app.register_blueprint(exports_pages.bp)
    from . import dashboards_api, dashboards_pages
    app.register_blueprint(dashboards_pages.bp)
    admin_api.register_blueprint(dashboards_api.blp, url_prefix=f"{API_PREFIX}/dashboards")
    from . import privacy_api, privacy_pages  # buyers' personal data, issue 15 §1
    admin_api.register_blueprint(privacy_api.blp, url_prefix=API_PREFIX)
    app.register_blueprint(privacy_pages.bp)
    from . import collections_api, receivables_api  # collections (回款), receivables (应收), issue 12
    admin_api.register_blueprint(collections_api.blp, url_prefix=API_PREFIX)
    admin_api.register_blueprint(receivables_api.blp, url_prefix=API_PREFIX)
    from . import collections_pages, receivables_pages
    app.register_blueprint(collections_pages.bp)
    app.register_blueprint(receivables_pages.bp)
    return admin_api


def render_error_page(status: int, code: str, message: str, details: dict):
    from .pages import render_error
    return render_error(status, code, message, details)
