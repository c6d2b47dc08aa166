"""The production stack on loopback, for the stack, fault and backup tests (README "Production").

Processes are started exactly as the README says (``gunicorn wsgi:app``, ``celery -A
wsgi:celery_app worker`` / ``beat``) with ``APP_ENV=production`` and nothing but environment
variables; WeChat, the SMS gateway and Stripe Connect are the real HTTP adapters pointed at ``ProviderStub``,
a small server on loopback. ``PostgresCluster`` and ``RedisServer`` are throwaway servers on
free ports, so a test may stop them without disturbing any other test. Every wait polls a
condition with a deadline; nothing sleeps a fixed time.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from glob import glob
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlparse

import requests

ROOT = Path(__file__).resolve().parents[2]
SECRET = "production-stack-test-secret-0123456789-abcdefghij"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], object], *, timeout: float, what: str, interval: float = 0.05):
    """Poll ``condition`` until it returns something true; fail with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = condition()
        except Exception:  # noqa: BLE001 - not yet
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# --- the providers' stub ------------------------------------------------------------------------

class ProviderStub:
    """WeChat (jscode2session, access token, subscribe messages), a JSON SMS gateway and Stripe
    Connect (connected accounts, transfers: form-encoded, an ``Idempotency-Key`` answered with its
    first result, as Stripe does). ``dev:<openid>`` signs in as that openid, like the local adapter;
    everything sent is kept."""

    def __init__(self):
        self.sms: list[dict] = []
        self.messages: list[dict] = []
        self.transfers: list[dict] = []  # each POST /v1/transfers: its form and Idempotency-Key
        self._stripe_answers: dict[str, dict] = {}  # Idempotency-Key → the first answer
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _answer(self, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/sns/jscode2session":
                    code = query.get("js_code", "")
                    if code.startswith("dev:"):
                        return self._answer({"openid": code[4:], "session_key": "k"})
                    return self._answer({"errcode": 40029, "errmsg": "invalid code"})
                if url.path == "/cgi-bin/token":
                    return self._answer({"access_token": "stub-token", "expires_in": 7200})
                self._answer({"errcode": 404, "errmsg": "unknown"})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                url = urlparse(self.path)
                if url.path in ("/v1/accounts", "/v1/transfers"):
                    return self._answer(stub._stripe(url.path, self.headers.get("Idempotency-Key", ""),
                                                     {k: v[0] for k, v in parse_qs(raw.decode()).items()}))
                body = json.loads(raw or b"{}")
                if url.path == "/sms":
                    stub.sms.append(body)
                    return self._answer({"code": "OK"})
                if url.path == "/cgi-bin/message/subscribe/send":
                    stub.messages.append(body)
                    return self._answer({"errcode": 0, "errmsg": "ok"})
                self._answer({"errcode": 404, "errmsg": "unknown"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _stripe(self, path: str, key: str, form: dict) -> dict:
        with self._lock:
            if key in self._stripe_answers:
                return self._stripe_answers[key]
            if path == "/v1/accounts":
                answer = {"id": f"acct_stub_{form['metadata[payout_account_id]']}", "object": "account"}
            else:
                self.transfers.append({"idempotency_key": key, **form})
                answer = {"id": f"tr_stub_{len(self.transfers)}", "object": "transfer",
                          "amount": int(form["amount"]), "destination": form["destination"]}
            self._stripe_answers[key] = answer
            return answer

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def production_env(*, database_url: str, broker_url: str, instance: Path, stub: ProviderStub) -> dict:
    """What a production machine sets (README "Production"), and nothing from the test runner."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("CELERY_", "APP_", "WECHAT_", "SMS_", "NOTIFY_", "DATABASE_", "TEST_"))}
    env.update({
        "APP_ENV": "production",
        "SECRET_KEY": SECRET,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "INSTANCE_PATH": str(instance),
        "WECHAT_ADAPTER": "http", "WECHAT_APP_ID": "wx-stack-test", "WECHAT_APP_SECRET": "stack-secret",
        "WECHAT_API_BASE": stub.base,
        "SMS_ADAPTER": "http", "SMS_API_URL": f"{stub.base}/sms", "SMS_API_KEY": "stack-key",
        "NOTIFY_ADAPTER": "http", "WECHAT_TEMPLATE_REGISTRATION_ACCEPTED": "tmpl-registration",
        "WECHAT_TEMPLATE_COMMISSION_RECOGNISED": "tmpl-commission",
        # A Fernet key for payout accounts (settlement): 32 random bytes, url-safe base64.
        "PAYOUT_ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        # The public address the links in buyers' SMS start with (required in production).
        "PUBLIC_BASE_URL": "https://estate.example.test",
        "STRIPE_ADAPTER": "http", "STRIPE_API_KEY": "sk_test_stack", "STRIPE_API_BASE": stub.base,
        "LOG_FORMAT": "text", "PYTHONUNBUFFERED": "1",
    })
    return env


# --- processes ------------------------------------------------------------------------------------

class Process:
    """A subprocess whose output goes to a file that can be read at any time."""

    def __init__(self, args: list[str], *, env: dict, log_path: Path):
        self.args, self.env, self.log_path = args, env, log_path
        self._log = open(log_path, "ab")
        self.process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def _signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:  # the group is gone: every member has ended
            pass

    def kill(self) -> None:
        """SIGKILL the whole process group (a worker's pool children too), as a crash would."""
        self._signal_group(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (graceful shutdown), then SIGKILL if it does not end in time. Whatever of the
        group outlives its leader (a pool child orphaned by a killed master) is killed too, so no
        test leaves processes behind."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        self._log.close()


def gunicorn(env: dict, *, port: int, workers: int, log_path: Path) -> Process:
    server = Process([sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
                      "wsgi:app"], env=env, log_path=log_path)
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: not server.alive() or requests.get(f"{base}/healthz", timeout=5).status_code == 200,
               timeout=90, what="gunicorn to answer /healthz")
    assert server.alive(), server.output()
    return server


def celery_worker(env: dict, *, log_path: Path, name: str = "stack", concurrency: int = 1) -> Process:
    worker = Process([sys.executable, "-m", "celery", "-A", "wsgi:celery_app", "worker", "--pool=prefork",
                      f"--concurrency={concurrency}", "-n", f"{name}@%h", "--without-gossip", "--without-mingle",
                      "--loglevel=INFO"], env=env, log_path=log_path)
    wait_until(lambda: not worker.alive() or " ready." in worker.output(), timeout=90,
               what="the Celery worker to be ready")
    assert worker.alive(), worker.output()
    return worker


def celery_beat(env: dict, *, log_path: Path, schedule: Path) -> Process:
    beat = Process([sys.executable, "-m", "celery", "-A", "wsgi:celery_app", "beat", "--schedule", str(schedule),
                    "--loglevel=INFO"], env=env, log_path=log_path)
    wait_until(lambda: not beat.alive() or "beat: Starting" in beat.output(), timeout=90,
               what="Celery beat to start")
    assert beat.alive(), beat.output()
    return beat


# --- throwaway servers --------------------------------------------------------------------------

def _as_postgres_user(args: list[str]) -> list[str]:
    """initdb and the server refuse to run as root: run them as the ``postgres`` user then."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class PostgresCluster:
    """A private PostgreSQL server (initdb + pg_ctl) on a free loopback port."""

    def __init__(self):
        found = sorted(glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not found and not shutil.which("pg_ctl"):
            raise RuntimeError("pg_ctl not found (Debian: apt-get install postgresql)")
        self.bin = Path(found[-1]).parent if found else Path(shutil.which("pg_ctl")).parent
        self.dir = Path(tempfile.mkdtemp(prefix="ep-faults-pg-"))
        self.dir.chmod(0o755)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self.port = free_port()
        subprocess.run(_as_postgres_user([str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust",
                                          "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8"]),
                       check=True, capture_output=True, timeout=120)
        self.start()

    @property
    def server_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        subprocess.run(_as_postgres_user([
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"), "-w",
            "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start"]),
            check=True, capture_output=True, timeout=120)

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(_as_postgres_user([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"]),
                       check=False, capture_output=True, timeout=120)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer:
    """A private redis-server on a free loopback port; ``stop`` and ``start`` keep the port."""

    def __init__(self):
        if not shutil.which("redis-server"):
            raise RuntimeError("redis-server not found (Debian: apt-get install redis-server)")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="ep-faults-redis-"))
        self.process: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def ping(self) -> bool:
        import redis
        client = redis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self.ping, timeout=30, what="redis-server to answer PING")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# --- a client over HTTP with the Flask test client's shape (for tests.conftest.World) ---------

class HttpResponse:
    def __init__(self, response: requests.Response):
        self.raw = response
        self.status_code = response.status_code
        self.headers = response.headers
        self.text = response.text

    def get_json(self):
        try:
            return self.raw.json()
        except ValueError:
            return None


class HttpClient:
    def __init__(self, base: str):
        self.base = base
        self.session = requests.Session()

    def open(self, method: str, path: str, *, json=None, headers=None, timeout: float = 30) -> HttpResponse:
        return HttpResponse(self.session.request(method, self.base + path, json=json, headers=headers,
                                                 timeout=timeout))

    def get(self, path, **kwargs):
        return self.open("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.open("POST", path, **kwargs)

    def put(self, path, **kwargs):
        return self.open("PUT", path, **kwargs)

    def patch(self, path, **kwargs):
        return self.open("PATCH", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.open("DELETE", path, **kwargs)
