"""Database plumbing shared by every business area.

Constraints get predictable names (STYLE §8) so migrations and error mapping can
refer to them. Times are stored as naive UTC and handed back timezone-aware.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Callable

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, MetaData, event, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UtcDateTime(TypeDecorator):
    """A UTC instant: stored naive (same on SQLite and PostgreSQL), read back aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """SQLite enforces foreign keys only when asked, per connection."""
    module = type(dbapi_connection).__module__
    if module.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


# --- side effects that must wait for the commit (STYLE §4) -----------------

def after_commit(session: Session, action: Callable[[], None]) -> None:
    """Run ``action`` once ``session`` has committed (see ``commit``); drop it on rollback."""
    session.info.setdefault("after_commit", []).append(action)


def commit(session: Session) -> None:
    """The one way a unit of work ends well: commit, then send what waited for it.

    Actions run after the commit has returned, so a task run eagerly (in tests or
    in-process) starts a fresh transaction instead of touching a committing one.
    """
    session.commit()
    actions = session.info.pop("after_commit", [])
    for action in actions:
        try:
            action()
        except Exception:  # the data is committed; a lost side effect is retried by its sweeper task
            logging.getLogger(__name__).exception("after-commit action failed")


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_commit(session, previous_transaction):
    if previous_transaction.parent is None:  # outermost transaction only
        session.info.pop("after_commit", None)


# --- serialising rules the database cannot express as a constraint ---------------

LOCK_INVITE_GRAPH = 1_001  # "the invite graph stays acyclic" is checked under this lock


def advisory_lock(session: Session, key: int) -> None:
    """Hold a transaction-scoped lock on PostgreSQL (SQLite already serialises writers)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def paginate(session: Session, query, *order_by, page: int, per_page: int) -> tuple[list, int]:
    """One page of ``query``'s rows (ORM entities) in ``order_by`` order, and the total count."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = session.scalars(query.order_by(*order_by).offset((page - 1) * per_page).limit(per_page)).all()
    return list(rows), int(total or 0)
