"""Logs: one record a line, never forged by input, a request id on every line and in
every error body, JSON on request, and nothing lost under ``gunicorn --daemon``."""
from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from estate_platform import migrate
from estate_platform.logs import configure_logging, request_id_var

ROOT = Path(__file__).resolve().parents[2]
FORGED = "2026-12-02 00:00:00,000 CRITICAL forged: 管理员已批准转账"
LINE_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")


@pytest.fixture
def captured():
    """The app's handler, writing to a buffer instead of stderr; restored afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()

    def install(fmt="text"):
        configure_logging("INFO", fmt, stream=stream)
        return stream
    yield install
    root.handlers[:], root.level = saved


def test_a_newline_in_a_logged_path_cannot_start_a_line_of_its_own(client, captured):
    stream = captured()
    response = client.get("/api/mp/v1/projects%0a" + FORGED.replace(" ", "%20"))
    assert response.status_code == 422
    lines = stream.getvalue().splitlines()
    assert lines, "the request wrote no log line"
    assert all(LINE_START.match(line) for line in lines), lines
    assert not any(line.startswith(FORGED) for line in lines)
    assert any("\\n" + FORGED in line for line in lines), lines


def test_a_traceback_stays_under_its_record(captured):
    stream = captured()
    try:
        raise ValueError("bad input\n" + FORGED)
    except ValueError:
        logging.getLogger("estate_platform.test").exception("failed on %s", "/a\r\n" + FORGED)
    lines = stream.getvalue().splitlines()
    assert LINE_START.match(lines[0]) and "\\r\\n" + FORGED in lines[0]
    assert len(lines) > 2 and all(line.startswith("  | ") for line in lines[1:]), lines
    assert not any(line.startswith(FORGED) for line in lines)


def test_every_line_of_a_request_and_its_error_body_carry_one_request_id(client, captured):
    stream = captured()
    response = client.post("/api/mp/v1/auth/sms/send", json={"phone": "13912347772"})
    assert response.status_code == 200
    request_id = response.headers["X-Request-ID"]
    lines = [line for line in stream.getvalue().splitlines() if f"[{request_id}]" in line]
    assert any("verification code" in line for line in lines), stream.getvalue()
    assert any("POST /api/mp/v1/auth/sms/send 200" in line for line in lines), stream.getvalue()
    refused = client.get("/api/mp/v1/consultants/me")
    assert refused.status_code == 401
    assert refused.get_json()["error"]["request_id"] == refused.headers["X-Request-ID"] != request_id


def test_a_proxy_request_id_is_kept_and_a_hostile_one_replaced(client):
    kept = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.01"})
    assert kept.headers["X-Request-ID"] == "lb-7f3a.01"
    replaced = client.get("/healthz", headers={"X-Request-ID": "x" * 65})
    assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["X-Request-ID"])
    assert request_id_var.get() == "-", "the id must not outlive its request"


def test_json_format_is_one_object_a_line(client, captured):
    stream = captured("json")
    client.get("/api/mp/v1/projects%0aX")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("estate_platform.test").exception("after\n" + FORGED)
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert {"time", "level", "logger", "request_id", "message"} <= set(entries[0])
    assert entries[0]["request_id"] != "-" and entries[0]["message"].startswith("GET /api/mp/v1/projects\nX")
    assert entries[-1]["message"] == "after\n" + FORGED and "RuntimeError: boom" in entries[-1]["exception"]


def test_an_unknown_log_format_is_refused():
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        configure_logging("INFO", "xml", stream=io.StringIO())


# --- under gunicorn ----------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, deadline: float) -> None:
    while True:
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_a_daemonised_gunicorn_keeps_the_apps_log_lines(tmp_path):
    """``gunicorn --daemon`` closes stderr; the repository's gunicorn.conf.py captures it
    into the error log, so the local SMS adapter's codes and tracebacks are not lost."""
    database = tmp_path / "estate.db"
    migrate.upgrade(f"sqlite:///{database}")
    port, log_file, pid_file = _free_port(), tmp_path / "error.log", tmp_path / "gunicorn.pid"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "INSTANCE_PATH": str(tmp_path / "instance"),
           "APP_ENV": "development", "WEB_CONCURRENCY": "1", "LOG_FORMAT": "text"}
    subprocess.run([sys.executable, "-m", "gunicorn", "--daemon", "--bind", f"127.0.0.1:{port}",
                    "--error-logfile", str(log_file), "--pid", str(pid_file), "wsgi:app"],
                   cwd=ROOT, env=env, check=True, timeout=60)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/healthz", time.monotonic() + 60)
        response = requests.post(f"{base}/api/mp/v1/auth/sms/send", json={"phone": "13912347772"}, timeout=10)
        assert response.status_code == 200, response.text
        request_id = response.headers["X-Request-ID"]
        forged = requests.get(f"{base}/api/mp/v1/projects%0a{FORGED}", timeout=10)
        assert forged.status_code == 422
        deadline = time.monotonic() + 10
        while f"[{request_id}]" not in log_file.read_text() or "%0a" not in log_file.read_text().lower() \
                and "\\n" + FORGED not in log_file.read_text():
            assert time.monotonic() < deadline, log_file.read_text()
            time.sleep(0.05)
        text = log_file.read_text()
        assert re.search(rf"\[{request_id}\] \[local SMS\] verification code for \+8613912347772: \d{{6}}", text), text
        assert not any(line.startswith(FORGED) for line in text.splitlines()), text
    finally:
        if pid_file.exists():
            pid = int(pid_file.read_text())
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while pid_file.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
