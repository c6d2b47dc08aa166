"""The log of refused registration attempts (issue 11 §3): every refusal by a business rule
leaves exactly one row (who, which project, which buyer, which code, when), the refusal is
still returned, nothing else of the refused request is kept, and the log costs the refusal
path one statement and the success path none (issue 16's budget)."""
from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event, select

from estate_platform.consultants.models import Consultant
from estate_platform.db import commit, db
from estate_platform.identity.models import Buyer, StaffUser
from estate_platform.projects.models import ExistingCustomer
from estate_platform.registrations import services as registrations
from estate_platform.risk import rules
from estate_platform.risk.attempts import Attempt
from estate_platform.risk.models import RegistrationAttempt
from tests.conftest import now, timedelta

MP = "/api/mp/v1"


def attempts(app) -> list[RegistrationAttempt]:
    with app.app_context():
        rows = db.session.scalars(select(RegistrationAttempt).order_by(RegistrationAttempt.id)).all()
        db.session.expunge_all()
        return rows


def post(client, consultant, project, phone, name="周先生"):
    return client.post(f"{MP}/registrations", headers=consultant.auth,
                       json={"project_id": project, "buyer_name": name, "buyer_phone": phone})


class Setting:
    """One refusal, made repeatable: ``refused()`` sends the refused registration."""

    def __init__(self, world, app, client):
        self.world, self.app, self.client = world, app, client
        self.consultant = world.operating_consultant(phone="13811110000")
        self.project = world.project()
        self.phone = world.next_buyer_phone()
        self.buyer_known = False  # does the refusal know the buyer already?

    def refused(self):
        return post(self.client, self.consultant, self.project, self.phone)


def already_registered(s: Setting):
    s.world.register(s.world.operating_consultant(), s.project, phone=s.phone)
    s.buyer_known = True


def buyer_is_self(s: Setting):
    s.phone = "13811110000"


def buyer_is_staff(s: Setting):
    staff_id, _, _ = s.world.staff("operations")
    with s.app.app_context():
        db.session.get(StaffUser, staff_id).phone = "+86" + s.phone
        commit(db.session)


def buyer_known_to_developer(s: Setting):
    with s.app.app_context():
        db.session.add(ExistingCustomer(project_id=s.project, phone="+86" + s.phone, created_at=now()))
        commit(db.session)


def daily_limit_reached(s: Setting):
    s.project = s.world.project(daily_buyer_project_limit=1)
    s.world.register(s.world.operating_consultant(), s.world.project(), phone=s.phone)
    s.buyer_known = True


def reregister_cooldown(s: Setting):
    s.project = s.world.project(visit_window_hours=24, reregister_cooldown_hours=72)
    s.world.register(s.consultant, s.project, phone=s.phone)
    with s.app.app_context():
        registrations.expire_due(db.session, now=now() + timedelta(hours=25))
        commit(db.session)
    s.buyer_known = True


def project_not_accepting(s: Setting):
    s.project = s.world.project(status="paused")


def low_credit_daily_cap(s: Setting):
    s.project = s.world.project(daily_consultant_registration_cap_low_credit=0)
    with s.app.app_context():
        db.session.get(Consultant, s.consultant.id).rating = 30
        commit(db.session)


REFUSALS = {
    "already_registered": (already_registered, 409),
    "buyer_is_self": (buyer_is_self, 409),
    "buyer_is_staff": (buyer_is_staff, 409),
    "buyer_known_to_developer": (buyer_known_to_developer, 409),
    "daily_limit_reached": (daily_limit_reached, 409),
    "reregister_cooldown": (reregister_cooldown, 409),
    "project_not_accepting": (project_not_accepting, 409),
    "low_credit_daily_cap": (low_credit_daily_cap, 429),
}


@pytest.fixture
def setting(world, app, client) -> Setting:
    return Setting(world, app, client)


@pytest.mark.parametrize("code", REFUSALS)
def test_each_refusal_is_returned_and_leaves_exactly_one_attempt_row(setting, app, counts, code):
    prepare, status = REFUSALS[code]
    prepare(setting)
    before = counts()
    response = setting.refused()
    assert response.status_code == status and response.get_json()["error"]["code"] == code
    after = counts()
    assert after.pop("registration_attempts") == before.pop("registration_attempts") + 1
    assert after == before  # nothing else of the refused request was kept
    row = attempts(app)[-1]
    assert (row.consultant_id, row.project_id, row.code) == (setting.consultant.id, setting.project, code)
    assert row.buyer_phone_masked == setting.phone[:3] + "****" + setting.phone[-4:]
    assert row.buyer_phone_hash == rules.phone_hash("+86" + setting.phone, app.config["SECRET_KEY"])
    assert setting.phone not in {row.buyer_phone_masked, row.buyer_phone_hash}
    assert abs((row.created_at - now()).total_seconds()) < 60
    if setting.buyer_known:
        with app.app_context():
            assert row.buyer_id == db.session.scalar(select(Buyer.id).where(Buyer.phone == "+86" + setting.phone))
    else:
        assert row.buyer_id is None


def test_a_registration_that_succeeds_writes_no_attempt(world, app):
    consultant = world.operating_consultant()
    world.register(consultant, world.project())
    assert attempts(app) == []


@pytest.mark.parametrize("body,status", [
    ({"buyer_name": "周先生", "buyer_phone": "12345"}, 422),  # not a mobile number (business validation)
    ({"buyer_name": "", "buyer_phone": "13900001111"}, 422),
    ({"buyer_name": "周先生"}, 422),  # schema: the phone is missing
])
def test_bad_input_and_unknown_projects_write_no_attempt(world, app, client, body, status):
    consultant = world.operating_consultant()
    response = client.post(f"{MP}/registrations", headers=consultant.auth, json={"project_id": world.project(), **body})
    assert response.status_code == status
    unknown = post(client, consultant, 999_999, "13900001111")
    assert unknown.status_code == 404
    assert attempts(app) == []


def test_attempts_of_one_buyer_by_several_consultants_share_his_hash(world, app, client):
    project = world.project()
    holder = world.operating_consultant()
    world.register(holder, project, phone="13900003333")
    for _ in range(2):
        assert post(client, world.operating_consultant(), project, "139 0000 3333").status_code == 409
    paused = world.project(status="paused")
    assert post(client, world.operating_consultant(), paused, "+86 13900003333").status_code == 409
    rows = attempts(app)
    assert len(rows) == 3 and len({r.buyer_phone_hash for r in rows}) == 1
    assert len({r.consultant_id for r in rows}) == 3


# --- what the log costs (issue 16: a registration within 8 statements) ---------------------------------------

@contextmanager
def statements(app):
    seen: list[str] = []
    with app.app_context():
        engine = db.engine

    def listen(conn, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split()))
    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listen)


@contextmanager
def _not_recording(session, **kwargs):
    """The registration service as it was before the attempt log."""
    yield Attempt()


@pytest.mark.parametrize("code", REFUSALS)
def test_the_refusal_path_costs_exactly_one_more_statement_its_insert_last(setting, monkeypatch, code):
    prepare, status = REFUSALS[code]
    prepare(setting)
    setting.refused()  # warm-up: caches, lazy loads
    with monkeypatch.context() as patched:
        patched.setattr(registrations, "recording_refusals", _not_recording)
        with statements(setting.app) as before:
            assert setting.refused().status_code == status
    with statements(setting.app) as after:
        assert setting.refused().status_code == status
    assert len(after) == len(before) + 1
    assert after[:-1] == before
    assert after[-1].startswith("INSERT INTO registration_attempts")
    assert not any(s.split()[0] in ("INSERT", "UPDATE", "DELETE") for s in before)  # the refused work only read


def test_the_success_path_costs_no_statement_more(world, app, monkeypatch):
    consultant = world.operating_consultant()
    project = world.project()
    world.register(consultant, project)  # warm-up: accounts, cards, caches
    with monkeypatch.context() as patched:
        patched.setattr(registrations, "recording_refusals", _not_recording)
        with statements(app) as before:
            world.register(consultant, project)
    with statements(app) as after:
        world.register(consultant, project)
    assert len(after) == len(before)
    assert not any("registration_attempts" in s for s in after)
