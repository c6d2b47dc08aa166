"""One error envelope for every JSON API: ``{"error": {"code", "message", "details"}}``.

Domain errors keep their own code and status; HTTP errors from routing and
request parsing get stable codes; nothing else (no stack trace, no SQL) ever
reaches a client.
"""
from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Callable

from flask import Flask, g, has_request_context, jsonify, request
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from estate_platform.db import commit, db
from estate_platform.errors import DomainError, error_for_integrity
from estate_platform.logs import request_id_var

log = logging.getLogger(__name__)
#: One line per request (method, path with query, status, duration), with its request id.
request_log = logging.getLogger("estate_platform.requests")

HTTP_CODES = {
    400: ("bad_request", "请求格式有误"),
    401: ("unauthorized", "请先登录"),
    403: ("forbidden", "无权访问"),
    404: ("not_found", "请求的资源不存在"),
    405: ("method_not_allowed", "不支持该请求方法"),
    409: ("conflict", "操作与当前状态冲突"),
    413: ("payload_too_large", "上传内容过大"),
    415: ("unsupported_media_type", "不支持的内容类型"),
    422: ("validation_error", "提交的数据有误，请检查后重试"),
    429: ("too_many_requests", "操作过于频繁，请稍后再试"),
    500: ("internal_error", "服务器开小差了，请稍后重试"),
}

#: The database cannot be reached (down, restarting, failing over, pool exhausted): 503, and the
#: client may retry. The unit of work never committed, so nothing of the request was written.
DATABASE_UNAVAILABLE = ("database_unavailable", "数据库暂时不可用，请稍后重试")
DATABASE_RETRY_AFTER = 5


#: SQLite's OperationalError also means "no such table" (a bug, 500); only these mean unavailable.
_SQLITE_UNAVAILABLE = ("locked", "busy", "unable to open", "disk I/O")


def is_database_unavailable(exc: BaseException) -> bool:
    """The driver lost or could not open its connection (psycopg's OperationalError, which
    also covers a cancelled statement or a serialisation failure: try again; InterfaceError;
    an invalidated connection; no pooled connection in time; a locked SQLite file)."""
    if isinstance(exc, PoolTimeout) or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
        return True
    if not isinstance(exc, (OperationalError, InterfaceError)):
        return False
    cause = getattr(exc, "orig", None)
    if type(cause).__module__.startswith("sqlite3"):
        return any(word in str(cause) for word in _SQLITE_UNAVAILABLE)
    return True


def _rollback_quietly() -> None:
    """Roll back a session whose connection may be dead: SQLAlchemy invalidates it, and the
    pool (``pool_pre_ping``) opens a fresh one once the database is back."""
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the connection is gone; nothing was committed
        log.debug("rollback after a lost database connection failed", exc_info=True)


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def error_payload(code: str, message: str, details: dict | None = None) -> dict:
    body = {"code": code, "message": message, "details": details or {}}
    if has_request_context() and "request_id" in g:
        body["request_id"] = g.request_id
    return {"error": body}


def install_request_ids(app: Flask) -> None:
    """Every request gets an id (the proxy's ``X-Request-ID`` when it is sane), echoed in
    the response header, in error bodies and in every log line written meanwhile."""

    @app.before_request
    def _assign():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        g.request_id_token = request_id_var.set(g.request_id)
        g.request_started = time.perf_counter()

    @app.after_request
    def _echo(response):
        if "request_id" in g:
            response.headers["X-Request-ID"] = g.request_id
            elapsed_ms = (time.perf_counter() - g.request_started) * 1000
            request_log.info("%s %s %s %.1fms", request.method, request.full_path.rstrip("?"),
                             response.status_code, elapsed_ms)
        return response

    @app.teardown_request
    def _forget(exc):
        token = g.pop("request_id_token", None)
        if token is not None:
            try:
                request_id_var.reset(token)
            except ValueError:  # set in another context: nothing of ours to undo
                request_id_var.set("-")


def json_error(status: int, code: str, message: str, details: dict | None = None,
               retry_after: int | None = None):
    response = jsonify(error_payload(code, message, details))
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def describe_http_exception(exc: HTTPException) -> tuple[int, str, str, dict]:
    """Map werkzeug/webargs errors (routing, bad JSON, schema validation) to our codes."""
    status = exc.code or 500
    code, message = HTTP_CODES.get(status, ("http_error", exc.name))
    details: dict = {}
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages")
    if status == 400 and messages and "json" in messages and any(
            "Invalid JSON" in str(m) for m in messages.get("json", [])):
        return 400, "malformed_json", "请求体不是有效的 JSON", {}
    if status == 422 and messages:
        fields: dict = {}
        for location, errors in messages.items():
            if isinstance(errors, dict):
                for name, errs in errors.items():
                    key = "_body" if name == "_schema" else name
                    fields[key] = errs
            else:
                fields[f"_{location}"] = errors
        details = {"fields": fields}
    if status == 405:
        details = {"allowed": sorted(exc.valid_methods or [])} if hasattr(exc, "valid_methods") else {}
    return status, code, message, details


def install_error_handlers(app: Flask, html_renderers: dict[str, Callable] | None = None) -> None:
    """Register the app-wide handlers. ``html_renderers`` maps a path prefix (``/admin``)
    to a function rendering an HTML error page for people."""
    html_renderers = html_renderers or {}

    def wants_html() -> bool:
        path = request.path
        if path.startswith("/api/") or "/api/" in path:
            return False
        return any(path.startswith(prefix) for prefix in html_renderers)

    def render(status, code, message, details, retry_after=None):
        if wants_html():
            for prefix, renderer in html_renderers.items():
                if request.path.startswith(prefix):
                    return renderer(status, code, message, details), status
        return json_error(status, code, message, details, retry_after)

    @app.errorhandler(DomainError)
    def _domain_error(exc: DomainError):
        if exc.keep_changes:
            g.keep_changes = True
        return render(exc.status, exc.code, exc.message, exc.details, exc.retry_after)

    @app.errorhandler(IntegrityError)
    def _integrity_error(exc: IntegrityError):
        db.session.rollback()
        log.info("integrity error mapped to a refusal: %s", exc.orig)
        error = error_for_integrity(exc)
        return render(error.status, error.code, error.message, error.details)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PoolTimeout)
    def _database_unavailable(exc: Exception):
        return database_unavailable(exc) if is_database_unavailable(exc) else _unexpected(exc)

    def database_unavailable(exc: Exception):
        cause = getattr(exc, "orig", None) or exc
        first_line = (str(cause).strip().splitlines() or [""])[0][:200]
        log.warning("database unavailable on %s %s: %s: %s", request.method, request.path,
                    type(cause).__name__, first_line)
        _rollback_quietly()
        g.pop("staff", None)  # its attributes expired with the rollback: the error page must not reload them
        code, message = DATABASE_UNAVAILABLE
        return render(503, code, message, {}, DATABASE_RETRY_AFTER)

    app.extensions["database_unavailable_response"] = database_unavailable

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status, code, message, details = describe_http_exception(exc)
        return render(status, code, message, details)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if is_database_unavailable(exc):  # e.g. a DBAPIError whose connection was invalidated
            return database_unavailable(exc)
        log.exception("unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        code, message = HTTP_CODES[500]
        return render(500, code, message, {})


def install_unit_of_work(app: Flask) -> None:
    """One commit per request, at the edge (STYLE §4): commit on success or when a
    refusal asks to keep its bookkeeping (failed attempts); roll back otherwise."""

    @app.after_request
    def _finish(response):
        if response.status_code < 400 or g.get("keep_changes"):
            try:
                commit(db.session)
            except IntegrityError as exc:
                db.session.rollback()
                error = error_for_integrity(exc)
                return json_error(error.status, error.code, error.message, error.details)
            except Exception as exc:
                if not is_database_unavailable(exc):
                    raise
                return app.make_response(app.extensions["database_unavailable_response"](exc))
        else:
            db.session.rollback()
        return response
