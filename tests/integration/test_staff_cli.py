"""`flask --app wsgi staff …`: one-line refusals (never a hash, never a traceback), the
password from stdin without a GetPassWarning, the database named, the audit log kept."""
from __future__ import annotations

import getpass
import warnings

import pytest

from estate_platform.db import db
from estate_platform.identity.models import StaffAuditEntry, StaffUser
from tests.conftest import make_app

GOOD_PASSWORD = "blue-kettle-orbit-42"


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def run(*args, stdin: str | None = None):
        with warnings.catch_warnings():
            warnings.simplefilter("error", getpass.GetPassWarning)
            return runner.invoke(args=["staff", *args], input=stdin)
    return run


def create(cli, username="li.si", role="finance", password=GOOD_PASSWORD, *extra):
    return cli("create", "--username", username, "--name", "李四", "--role", role, "--password-stdin", *extra,
               stdin=password + "\n")


def refusal(result) -> str:
    """The whole of what a refused command printed, checked to be one line of error."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.stderr.splitlines() if not line.startswith("database: ")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and "Traceback" not in result.output and "scrypt" not in result.output
    return lines[0]


def test_create_reads_the_password_from_stdin_and_names_the_database(cli, app, client):
    result = create(cli)
    assert result.exit_code == 0, result.output
    assert "created finance li.si" in result.stdout
    assert "database: sqlite:///" in result.stderr or "database: postgresql" in result.stderr
    signed_in = client.post("/admin/api/v1/auth/login", json={"username": "li.si", "password": GOOD_PASSWORD})
    assert signed_in.status_code == 200
    with app.app_context():
        [entry] = db.session.query(StaffAuditEntry).all()
        assert (entry.action, entry.channel, entry.actor_id) == ("create", "cli", None)
        assert entry.details["operator"]


def test_a_taken_username_is_one_line_without_the_hash(cli):
    create(cli)
    line = refusal(create(cli, "LI.SI"))
    assert "username_taken" in line


@pytest.mark.parametrize("password", ["x", "password123456", "li.si-is-my-name"])
def test_a_weak_password_is_one_line_naming_the_problem(cli, app, password):
    line = refusal(create(cli, password=password))
    assert "weak_password" in line and "password" in line
    with app.app_context():
        assert db.session.query(StaffUser).count() == 0


def test_an_unknown_role_is_one_line(cli):
    assert "role" in refusal(create(cli, "li.si", "boss"))


def test_a_site_staff_member_needs_an_existing_developer(cli):
    assert "developer_id" in refusal(create(cli, "li.si", "site_staff"))
    assert "开发商不存在" in refusal(create(cli, "li.si", "site_staff", GOOD_PASSWORD, "--developer-id", "424242"))


def test_without_a_terminal_or_password_stdin_it_refuses_instead_of_warning(cli):
    result = cli("create", "--username", "li.si", "--name", "李四", "--role", "finance", stdin=GOOD_PASSWORD + "\n")
    assert "--password-stdin" in refusal(result)


def test_set_password_and_unlock_go_through_the_same_rules_and_log(cli, app, client, world):
    _, username, _ = world.staff("finance")
    for _ in range(5):
        client.post("/admin/api/v1/auth/login", json={"username": username, "password": "wrong"})
    assert "weak_password" in refusal(cli("set-password", "--username", username, "--password-stdin", stdin="short\n"))
    assert cli("set-password", "--username", username, "--password-stdin", stdin=GOOD_PASSWORD + "\n").exit_code == 0
    assert client.post("/admin/api/v1/auth/login",
                       json={"username": username, "password": GOOD_PASSWORD}).status_code == 200
    assert cli("unlock", "--username", username).exit_code == 0
    assert "no staff member" in refusal(cli("unlock", "--username", "nobody"))
    with app.app_context():
        assert [e.action for e in db.session.query(StaffAuditEntry).order_by(StaffAuditEntry.id)] == ["password",
                                                                                                       "unlock"]


def test_list_shows_each_account(cli, world):
    world.staff("operations", username="wang.wu")
    result = cli("list")
    assert result.exit_code == 0 and "wang.wu" in result.stdout and "operations" in result.stdout


def test_with_no_database_url_and_no_default_file_it_refuses_in_one_line(tmp_path):
    app = make_app("", tmp_path / "instance")  # DATABASE_URL empty: the default SQLite file, which does not exist
    result = app.test_cli_runner().invoke(args=["staff", "list"])
    assert "DATABASE_URL is not set" in result.stderr
    assert "no database file" in refusal(result)
    assert not (tmp_path / "instance" / "estate.db").exists()
