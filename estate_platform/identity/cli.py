"""``flask --app wsgi staff …``: staff accounts from the server's command line (the
production bootstrap of the first admin, and a way back in when no admin can sign in).

Each command names the database it writes to, refuses with one line (never a traceback,
never a hash), and goes through the same services and audit log as the admin pages,
recorded with no actor and the operating-system user.
"""
from __future__ import annotations

import getpass
import sys
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..db import commit, db, utcnow
from ..errors import DomainError, error_for_integrity
from . import staff as accounts
from .models import STAFF_ROLES

ROLE_HELP = "admin 管理员, finance 财务, operations 运营, site_staff 案场 (needs --developer-id)"


def _operator() -> str:
    try:
        return getpass.getuser()[:50]
    except Exception:  # no user name in this environment (containers): the log still says "cli"
        return "unknown"


def _refusal(exc: DomainError) -> click.ClickException:
    fields = (exc.details or {}).get("fields") or {}
    problems = "; ".join(f"{name}: {'，'.join(messages)}" for name, messages in fields.items())
    return click.ClickException(f"{exc.code}: {exc.message}" + (f" ({problems})" if problems else ""))


def _read_password(from_stdin: bool, *, confirm: bool = True) -> str:
    """One line from stdin (``--password-stdin``), or a hidden prompt on a terminal. Without a
    terminal getpass would echo a GetPassWarning and read stdin anyway: refuse instead."""
    if from_stdin:
        line = sys.stdin.readline() if sys.stdin is not None else ""
        password = line.rstrip("\r\n")
        if not password:
            raise click.ClickException("--password-stdin: no password on standard input")
        return password
    if sys.stdin is None or not sys.stdin.isatty():
        raise click.ClickException("standard input is not a terminal: pass --password-stdin to read the password "
                                   "from it")
    return click.prompt("Password", hide_input=True, confirmation_prompt=confirm)


def register_staff_cli(app) -> None:
    staff_cli = click.Group("staff", help="Staff accounts (the same rules and audit log as the admin pages).")

    def database_label() -> str:
        return make_url(app.config["SQLALCHEMY_DATABASE_URI"]).render_as_string(hide_password=True)

    @contextmanager
    def staff_database():
        """An app context on a database that exists and has the staff tables. A missing
        DATABASE_URL silently meant the default SQLite file: now it is named, and refused
        when that file does not exist (a production shell without its environment)."""
        url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
        default = f"sqlite:///{Path(app.config['INSTANCE_PATH']) / 'estate.db'}"
        defaulted = app.config["SQLALCHEMY_DATABASE_URI"] == default
        click.echo(f"database: {database_label()}" + (" (DATABASE_URL is not set: the default SQLite file)"
                                                      if defaulted else ""), err=True)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
                and not Path(url.database).exists():
            raise click.ClickException(f"no database file at {url.database}: set DATABASE_URL, or run "
                                       "`flask --app wsgi db upgrade` first")
        with app.app_context():
            try:
                if not inspect(db.engine).has_table("staff_users"):
                    raise click.ClickException("the database has no staff tables: run `flask --app wsgi db upgrade`")
                yield
                commit(db.session)
            except IntegrityError as exc:
                db.session.rollback()
                raise _refusal(error_for_integrity(exc)) from None
            except DomainError as exc:
                db.session.rollback()
                raise _refusal(exc) from None
            except SQLAlchemyError as exc:
                db.session.rollback()
                raise click.ClickException(f"database error ({type(exc).__name__}) on {database_label()}") from None

    def member(username: str):
        from .services import find_staff
        user = find_staff(db.session, username)
        if user is None:
            raise click.ClickException(f"no staff member named {username!r}")
        return user

    @staff_cli.command("create")
    @click.option("--username", required=True, help="2–50 lowercase letters, digits or . _ -")
    @click.option("--name", "display_name", required=True, help="The name people see (姓名).")
    @click.option("--role", required=True, help=ROLE_HELP)  # checked by the service: a one-line refusal
    @click.option("--developer-id", type=click.IntRange(1, 2**31 - 1), default=None,
                  help="The developer a site_staff member works for.")
    @click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
    def staff_create(username, display_name, role, developer_id, password_stdin):
        """Create a staff account (password: 12+ characters, not a common one, not the username)."""
        password = _read_password(password_stdin)
        with staff_database():
            user = accounts.create_staff(
                db.session, accounts.NewStaff(username=username, display_name=display_name, role=role,
                                              developer_id=developer_id, password=password),
                actor=None, channel="cli", now=utcnow(), operator=_operator())
            created = f"created {role} {user.username} (id {user.id})"
        click.echo(created)

    @staff_cli.command("list")
    @click.option("--role", type=click.Choice(STAFF_ROLES), default=None)
    @click.option("--inactive", is_flag=True, help="Only deactivated accounts.")
    def staff_list(role, inactive):
        """List staff accounts with their role, state and sign-in throttle."""
        with staff_database():
            items, total = accounts.list_staff(db.session, role=role, active=False if inactive else None,
                                               per_page=10_000)
            now = utcnow()
            lines = []
            for account in items:
                user = account.user
                throttled = (f" throttled until {account.login_blocked_until:%Y-%m-%d %H:%M:%S}Z"
                             if account.login_blocked_until and account.login_blocked_until > now else "")
                lines.append(f"{user.id:>5}  {user.username:<24} {user.role:<11} "
                             f"{'active' if user.is_active else 'inactive':<8} {user.display_name}{throttled}")
        click.echo("\n".join(lines) if lines else "no staff accounts")
        click.echo(f"{total} account(s)", err=True)

    @staff_cli.command("set-password")
    @click.option("--username", required=True)
    @click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
    def staff_set_password(username, password_stdin):
        """Set a new password (the policy applies); the member's tokens and sessions end."""
        password = _read_password(password_stdin)
        with staff_database():
            user = accounts.reset_password(db.session, member(username).id, password, actor=None, channel="cli",
                                           now=utcnow(), operator=_operator())
            done = f"password set for {user.username}; every session and token of theirs is revoked"
        click.echo(done)

    @staff_cli.command("unlock")
    @click.option("--username", required=True)
    def staff_unlock(username):
        """Clear a member's sign-in throttle."""
        with staff_database():
            user = accounts.unlock(db.session, member(username).id, actor=None, channel="cli", now=utcnow(),
                                   operator=_operator())
            done = f"sign-in throttle cleared for {user.username}"
        click.echo(done)

    app.cli.add_command(staff_cli)
