"""The registration path's statements run on the DBAPI connection (``db.RawStatement``, issue 16
§1): the same rows as SQLAlchemy's own execution of the same statement, values processed the same
way (aware UTC datetimes, booleans, dates on SQLite), and a database error raised as SQLAlchemy's."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from estate_platform.db import RawStatement, db, utcnow
from estate_platform.phones import normalise_phone
from estate_platform.registrations import path


def test_the_situation_read_raw_equals_sqlalchemys_own_execution(world, app):
    consultant = world.operating_consultant()
    project = world.project()
    phone = world.next_buyer_phone()
    registered = world.register(consultant, project, phone=phone)
    with app.app_context():
        session = db.session
        params = {"project_id": project, "phone": normalise_phone(phone),
                  "consultant_id": consultant.id, "day_start": utcnow() - timedelta(days=1)}
        for low in (False, True):
            raw = path.statements(session).situation[low].first(session.connection(), params)
            core = session.connection().execute(path._SITUATION[low], params).first()
            assert tuple(raw) == tuple(core)
            assert raw._fields == tuple(core._fields)
            assert raw.buyer_id is not None and raw.own_open is not None and raw.own_open.tzinfo is not None
            assert raw.notify_buyer_on_registration is True and raw.cooperation_start == core.cooperation_start
        assert registered["id"]
        session.rollback()


def test_a_database_error_on_the_raw_path_is_sqlalchemys(world, app):
    consultant = world.operating_consultant()
    project = world.project()
    with app.app_context():
        session = db.session
        statements = path.statements(session)
        now = utcnow()
        values = {"project_id": project, "buyer_id": 999_999, "consultant_id": consultant.id, "buyer_name": "周先生",
                  "note": None, "expected_visit_at": None, "status": "reported", "binding": False,
                  "protection_mode": "registration", "protected_until": now, "source_link_id": None,
                  "referrer_consultant_id": None, "handoff_id": None, "buyer_notice": None, "created_at": now,
                  "updated_at": now}
        with pytest.raises(IntegrityError):  # no such buyer: the foreign key refuses
            statements.registration.scalar(session.connection(), values)
        session.rollback()
        assert isinstance(statements.registration, RawStatement)


def test_the_situation_of_the_caller_read_raw_equals_sqlalchemys_own_execution(world, app):
    """The caller's columns, the rules' values and (PostgreSQL) the ids taken from the sequences:
    the raw row is SQLAlchemy's row, and the ids are the next of ``registrations`` and ``buyers``."""
    from sqlalchemy import select, text

    from estate_platform.identity.models import WechatUser
    consultant = world.operating_consultant()
    project = world.project()
    phone = world.next_buyer_phone()
    registered = world.register(consultant, project, phone=phone)
    with app.app_context():
        session = db.session
        user_id = session.scalar(select(WechatUser.id).where(WechatUser.openid == consultant.openid))
        dialect = session.get_bind().dialect.name
        statement = path._situation_statement(None, by_caller=True, dialect_name=dialect)
        for buyer_phone in (normalise_phone(phone), normalise_phone(world.next_buyer_phone())):
            params = {"user_id": user_id, "project_id": project, "phone": buyer_phone,
                      "day_start": utcnow() - timedelta(days=1)}
            raw = path.statements(session).situation_of_caller.first(session.connection(), params)
            core = session.connection().execute(statement, params).first()
            assert raw._fields == tuple(core._fields)
            assert (raw.consultant_id, raw.consultant_status, raw.signed) == (consultant.id, "active", True)
            assert raw.consultant_today is None  # a good rating: the count is not even run
            if dialect == "postgresql":  # each execution takes new ids: the rest is equal
                assert raw.registration_id > registered["id"] and core.registration_id == raw.registration_id + 1
                assert (raw.new_buyer_id is None) == (raw.buyer_id is not None)
                assert tuple(raw)[:-2] == tuple(core)[:-2]
                assert tuple(session.execute(text("SELECT pg_get_serial_sequence('registrations', 'id'), "
                                                  "pg_get_serial_sequence('buyers', 'id')")).one()) == (
                    "public.registrations_id_seq", "public.buyers_id_seq")  # path._nextval's names
            else:
                assert tuple(raw) == tuple(core)
        session.rollback()
