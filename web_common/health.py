"""Readiness for a load balancer (README "Production"): ``/readyz`` answers 200 only when this
process can reach the database and the Celery broker; ``/healthz`` (the process is alive and
serving) stays beside it in the composition root.

Neither is in an OpenAPI document: they are for the machines in front of the app, not clients.
"""
from __future__ import annotations

import logging

from flask import Flask, jsonify
from sqlalchemy import text

from estate_platform.db import db

from .errors import error_payload

log = logging.getLogger(__name__)

#: How long each check may take before the process counts as not ready.
CHECK_TIMEOUT_SECONDS = 2


def database_reachable() -> bool:
    """A connection from the pool (pre-pinged, so a dead one is replaced) answers ``SELECT 1``."""
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        log.warning("readiness: database unreachable: %s", type(exc).__name__)
        return False


def broker_reachable(celery) -> bool:
    """The broker accepts a connection (Redis: a PING over a fresh connection)."""
    try:
        with celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0,
                                         timeout=CHECK_TIMEOUT_SECONDS)
            client = getattr(connection.default_channel, "client", None)
            if client is not None and hasattr(client, "ping"):
                client.ping()
        return True
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        log.warning("readiness: broker unreachable: %s", type(exc).__name__)
        return False


def install_health(app: Flask) -> None:
    @app.get("/readyz")
    def readyz():
        """就绪检查: 200 when the database and the broker answer, else 503 with which one failed."""
        checks = {"database": "ok" if database_reachable() else "unavailable",
                  "broker": "ok" if broker_reachable(app.extensions["celery"]) else "unavailable"}
        if all(state == "ok" for state in checks.values()):
            return jsonify({"status": "ready", "checks": checks})
        response = jsonify(error_payload("not_ready", "服务暂未就绪：数据库或消息队列不可用", {"checks": checks}))
        response.status_code = 503
        response.headers["Retry-After"] = "5"
        return response
