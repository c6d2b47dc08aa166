"""Composition root: ``create_app()``, the WSGI app and the Celery app.

Dependencies point inward: this module wires ``mini_program_api`` and ``admin``
to the core ``estate_platform``; the core never imports them.
"""
from __future__ import annotations

import os
import subprocess
import sys

import click
from flask import Flask, jsonify, redirect, send_from_directory
from swagger_ui_bundle import swagger_ui_path
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import Rule
from werkzeug.serving import run_simple

import admin
import consultant_app
import mini_program_api
from estate_platform import migrate
from estate_platform.adapters import build_adapters
from estate_platform.config import load_config
from estate_platform.db import commit, db, utcnow
from estate_platform.logs import configure_logging
from estate_platform.tasking import make_celery
from web_common.errors import install_error_handlers, install_request_ids, install_unit_of_work
from web_common.health import install_health
from web_common.inputs import install_request_guard


class SharedBuilderRule(Rule):
    """A URL rule whose URL builder function is compiled once per process, not once per app.

    Werkzeug compiles two builder functions (Python source built as an AST, then
    ``compile()``) for every rule it binds: ~80% of ``create_app()``'s time with ~400
    rules, paid again by every app the tests create. The function it compiles depends
    only on the rule's text, its parsed parts and whether unknown arguments are appended;
    it reads the converters through the rule it is bound to. So rules with the same text
    share one function, each bound to its own rule; a rule with defaults (whose values are
    folded into the function) is compiled as before.
    """

    _builders: dict[tuple, object] = {}

    def _compile_builder(self, append_unknown: bool = True):
        if self.defaults:
            return super()._compile_builder(append_unknown)
        key = (self.rule, tuple(self._trace), append_unknown)
        builder = self._builders.get(key)
        if builder is None:
            builder = self._builders[key] = super()._compile_builder(append_unknown)
        return builder


class PlatformFlask(Flask):
    url_rule_class = SharedBuilderRule


def create_app(overrides: dict | None = None, env: dict | None = None) -> Flask:
    app = PlatformFlask(__name__, instance_path=None)
    app.config.update(load_config(env))
    if overrides:
        app.config.update(overrides)
    os.makedirs(app.config["INSTANCE_PATH"], exist_ok=True)
    app.json.ensure_ascii = False
    proxies = int(os.environ.get("TRUSTED_PROXIES", "0") or 0)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)

    install_request_ids(app)    # first: every later refusal and log line carries the id
    install_request_guard(app)  # before any route: it replaces the ``int`` URL converter
    db.init_app(app)
    app.extensions["adapters"] = build_adapters(app.config)
    make_celery(app)
    mini_program_api.init_app(app)
    admin.init_app(app)
    consultant_app.init_app(app)
    from admin import webhooks
    app.register_blueprint(webhooks.bp)  # POST /webhooks/stripe: signed by Stripe, not in the OpenAPI documents
    install_error_handlers(app, html_renderers={"/admin": admin.render_error_page})
    install_unit_of_work(app)

    @app.get("/vendor/swagger-ui/<path:filename>")
    def swagger_ui_asset(filename):
        """Swagger UI is served by the app itself, never from a CDN (DESIGN §6)."""
        return send_from_directory(swagger_ui_path, filename, max_age=86400)

    @app.get("/")
    def index():
        return redirect("/admin/")

    @app.get("/healthz")
    def healthz():
        db.session.execute(db.text("SELECT 1"))
        return jsonify({"status": "ok"})

    install_health(app)  # /readyz: the database and the broker reachable (README "Production")
    if os.environ.get("BENCHMARK_REFERENCE_ROUTE") == "1":  # benchmarks/api_load.py only; in no API document
        from web_common.benchmark_reference import install_benchmark_reference
        install_benchmark_reference(app)

    register_cli(app)
    return app


def register_cli(app: Flask) -> None:
    db_cli = click.Group("db", help="Database schema (alembic migrations).")

    @db_cli.command("upgrade")
    @click.argument("revision", default="head")
    def db_upgrade(revision):
        """Apply migrations up to REVISION (default: head)."""
        migrate.upgrade(app.config["SQLALCHEMY_DATABASE_URI"], revision)

    @db_cli.command("downgrade")
    @click.argument("revision")
    def db_downgrade(revision):
        """Revert migrations down to REVISION."""
        migrate.downgrade(app.config["SQLALCHEMY_DATABASE_URI"], revision)

    @db_cli.command("current")
    def db_current():
        migrate.current(app.config["SQLALCHEMY_DATABASE_URI"])

    app.cli.add_command(db_cli)

    demo_cli = click.Group("demo", help="Demo data for local use.")

    @demo_cli.command("load")
    def demo_load():
        """Load the demo data once (does nothing if it is already there)."""
        print_demo(load_demo_data(app))

    app.cli.add_command(demo_cli)

    from estate_platform.identity.cli import register_staff_cli
    register_staff_cli(app)

    commissions_cli = click.Group("commissions", help="Commission recognition (the batch path).")

    @commissions_cli.command("recognise")
    @click.option("--chunk-size", default=1000, show_default=True, type=click.IntRange(1, 10_000))
    def commissions_recognise(chunk_size):
        """Recognise every deal that reached its commission trigger (safe to run twice)."""
        from estate_platform.deals import batch as recognition_batch
        with app.app_context():
            due = recognition_batch.count_due(db.session)
            with click.progressbar(length=due, label=f"确认佣金 recognising {due} deals") as bar:
                posted = recognition_batch.recognise_due(db.session, now=utcnow(), chunk_size=chunk_size,
                                                   progress=bar.update, after_chunk=lambda: commit(db.session),
                                                   read_ahead=True)
            commit(db.session)
        click.echo(f"recognised {posted} deals ({due - posted} already posted by another run)")

    app.cli.add_command(commissions_cli)

    @app.cli.command("dev")
    @click.option("--host", default="127.0.0.1")
    @click.option("--port", default=5000, type=int)
    @click.option("--worker/--no-worker", default=True, help="Start a Celery worker with beat beside the server.")
    def dev(host, port, worker):
        """Migrate, load demo data, start a local Celery worker, and serve."""
        if app.config["APP_ENV"] == "production":
            raise click.ClickException("`flask dev` is for local use only")
        migrate.upgrade(app.config["SQLALCHEMY_DATABASE_URI"])
        demo = load_demo_data(app)
        process = None
        if worker:
            process = subprocess.Popen([sys.executable, "-m", "celery", "-A", "wsgi:celery_app", "worker", "-B",
                                        "--pool=solo", "--loglevel=WARNING"])
        base = f"http://{host}:{port}"
        click.echo("\n" + "=" * 72)
        click.echo(f"  管理后台 (admin pages)        {base}/admin/")
        click.echo(f"  顾问端 (consultant app, /m/)  {base}/m/  → 开发环境登录: openid demo-consultant-1")
        click.echo(f"  小程序 API 文档 (mini-program) {base}/api/mp/v1/docs")
        click.echo(f"  后台 API 文档 (admin JSON)     {base}/admin/api/v1/docs")
        click.echo(f"  database: {app.config['SQLALCHEMY_DATABASE_URI']}")
        print_demo(demo, base)
        click.echo("=" * 72 + "\n")
        try:
            # app.run() refuses to block inside a `flask` command; serve directly.
            run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)
        finally:
            if process is not None:
                process.terminate()
                process.wait(timeout=10)


def load_demo_data(app: Flask):
    from estate_platform.demo import load_demo
    with app.app_context():
        result = load_demo(db.session, now=utcnow(), encryption_key=app.config["PAYOUT_ENCRYPTION_KEY"])
        commit(db.session)
    return result


def print_demo(demo, base: str = "http://127.0.0.1:5000") -> None:
    click.echo("  demo data: " + ("loaded" if demo.created else "already present (not duplicated)"))
    click.echo("  staff logins (username / password / role):")
    for username, password, role in demo.staff:
        click.echo(f"    {username:<8} {password:<18} {role}")
    click.echo("  consultants (WeChat login code is dev:<openid>):")
    for openid, name, status in demo.consultants:
        click.echo(f"    dev:{openid:<20} {name}  {status}")
    click.echo("  try: curl -s -X POST " + base + "/api/mp/v1/auth/wechat -H 'Content-Type: application/json' "
               "-d '{\"code\": \"dev:demo-consultant-1\"}'")
    click.echo("  buyers (SMS codes are printed in this log): " + ", ".join(demo.buyers))


configure_logging(os.environ.get("LOG_LEVEL", "INFO"), os.environ.get("LOG_FORMAT", "text"))
app = create_app()
celery_app = app.extensions["celery"]
