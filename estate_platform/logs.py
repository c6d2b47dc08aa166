"""Logging for the web app, the worker and the CLI: one line per record, on stderr.

* Every line carries the request id of the request (or task) that wrote it, so a
  client's error response (``error.request_id``) finds its log lines.
* Nothing a client sends can forge a line: in the text format every control character
  of the message (newline included) is escaped, and a traceback's lines are indented
  under their record; the JSON format (``LOG_FORMAT=json``) is one JSON object a line.
* Under gunicorn the lines go to stderr, which ``gunicorn.conf.py`` captures into the
  error log, so a ``--daemon`` server loses nothing either.
"""
from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import datetime, timezone

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
LOG_FORMATS = ("text", "json")

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def escape_controls(text: str) -> str:
    def escape(match: re.Match) -> str:
        char = match.group()
        named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char)
        if named:
            return named
        return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
    return _CONTROL.sub(escape, text)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def _exception_text(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    parts = []
    if record.exc_info:
        parts.append(formatter.formatException(record.exc_info))
    if record.stack_info:
        parts.append(formatter.formatStack(record.stack_info))
    return "\n".join(parts)


class TextFormatter(logging.Formatter):
    """``time level logger [request id] message``; a traceback follows, each line indented
    with ``  | `` so no line of it can pass for a record of its own."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        safe = logging.makeLogRecord(record.__dict__)
        safe.msg, safe.args = escape_controls(record.getMessage()), None
        safe.exc_info = safe.exc_text = safe.stack_info = None
        safe.request_id = escape_controls(str(getattr(record, "request_id", "-")))
        line = super().format(safe)
        extra = _exception_text(self, record)
        if extra:
            line += "".join(f"\n  | {escape_controls(part)}" for part in extra.splitlines())
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        extra = _exception_text(self, record)
        if extra:
            entry["exception"] = extra
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: str = "text", stream=None) -> logging.Handler:
    """Replace the root logger's handlers with one stderr handler in the chosen format."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {LOG_FORMATS}, got {fmt!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_estate_platform", False):
            root.removeHandler(old)
    handler._estate_platform = True
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
