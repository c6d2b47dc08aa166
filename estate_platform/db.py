"""Database plumbing shared by every business area.

Constraints get predictable names (STYLE §8) so migrations and error mapping can
refer to them. Times are stored as naive UTC and handed back timezone-aware.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from collections import namedtuple
from typing import Callable

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, MetaData, event, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
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


def after_commit_deliver(session: Session, kind: str, item_id: int) -> None:
    """The outbox: a row written in this unit of work (``kind``: a notification, a buyer's
    registration notice …) is delivered by the worker once the unit of work has committed.

    The rows themselves are the outbox (an undelivered notification, a registration whose
    ``buyer_notice`` is pending): the worker's ``outbox.drain`` claims them in batches
    (``tasks.drain_outbox``). The unit of work only wakes the drain after its commit, and a
    process publishes at most one wake-up per ``OUTBOX_WAKE_MS`` (``wake_outbox_drain``):
    a broker publish costs more than the statements of the registration path (issue 16 §1).
    A skipped or lost wake-up loses nothing: the beat runs the drain every few seconds."""
    if kind not in OUTBOX_KINDS:
        raise ValueError(f"unknown outbox kind {kind!r}")
    wake_drain_after_commit(session)


def wake_drain_after_commit(session: Session) -> None:
    """Wake the outbox drain once this unit of work has committed (once, however many rows it wrote)."""
    if not session.info.get("outbox"):
        session.info["outbox"] = True
        after_commit(session, wake_outbox_drain)


#: What the drain delivers (``tasks.OUTBOX``), by outbox kind.
OUTBOX_KINDS = ("notification", "registration_notice")
#: The default window of ``wake_outbox_drain`` (config ``OUTBOX_WAKE_MS``).
OUTBOX_WAKE_MS = 500

_wake_lock = threading.Lock()
_wake_due = 0.0  # (time.monotonic) when this process's last wake-up runs the drain


def wake_outbox_drain() -> None:
    """Ask the worker to drain the outbox, at most once per window in this process.

    The first unit of work of a window publishes ``outbox.drain`` with a countdown of the window,
    so the drain starts after every commit whose wake-up was skipped inside that window (theirs
    committed before they skipped, which was before the countdown ended). Tasks run eagerly (tests,
    ``CELERY_TASK_ALWAYS_EAGER``): no window, the drain runs at once in this process."""
    global _wake_due
    from flask import current_app
    from .tasks import drain_outbox_task
    if current_app.config["CELERY"].get("task_always_eager"):
        drain_outbox_task.delay()
        return
    window = current_app.config.get("OUTBOX_WAKE_MS", OUTBOX_WAKE_MS) / 1000
    now = time.monotonic()
    with _wake_lock:
        if now < _wake_due:
            return  # the wake-up already sent drains this unit of work's rows too
        _wake_due = now + window
    # (a publish that fails has still used the window: with the broker down, one request per
    # window pays the connection timeout, not every request; the beat drain sends the rows.)
    if window > 0:
        drain_outbox_task.apply_async(countdown=window)
    else:
        drain_outbox_task.delay()


def commit(session: Session) -> None:
    """The one way a unit of work ends well: commit, then send what waited for it.

    Actions run after the commit has returned, so a task run eagerly (in tests or
    in-process) starts a fresh transaction instead of touching a committing one.
    """
    session.commit()
    session.info.pop("outbox", None)
    actions = session.info.pop("after_commit", [])
    for index, action in enumerate(actions):
        try:
            action()
        except Exception as exc:  # the data is committed; a lost side effect is retried by its sweeper task
            if _broker_unreachable(exc):
                # Redis is down: every task an action sends derives its work from committed rows,
                # so a beat sweep sends it again (README "Production"); don't wait on the rest.
                logging.getLogger(__name__).warning(
                    "broker unreachable after commit (%s): %d task(s) left to the sweepers",
                    type(exc).__name__, len(actions) - index)
                return
            logging.getLogger(__name__).exception("after-commit action failed")


def _broker_unreachable(exc: Exception) -> bool:
    from kombu.exceptions import OperationalError as BrokerOperationalError
    return isinstance(exc, (BrokerOperationalError, ConnectionError, TimeoutError))


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_commit(session, previous_transaction):
    if previous_transaction.parent is None:  # outermost transaction only
        session.info.pop("after_commit", None)
        session.info.pop("outbox", None)


# --- hot paths: prebuilt statements on the DBAPI connection -----------------------------

class RawStatement:
    """A Core statement compiled once per dialect into the DBAPI's own SQL and run on the session's
    DBAPI connection, inside the session's transaction (issue 16 §1: SQLAlchemy's per-execution
    Python — execution context, parameter processing, result metadata — cost more than the
    statement's round trip on this path). The same SQL text and parameters as
    ``connection.execute(statement, params)`` would send: the binds' processors (``UtcDateTime``:
    aware UTC to naive) run on the parameters, the result columns' processors (SQLite's dates
    and booleans, ``UtcDateTime`` back to aware) on the rows; rows are named tuples. A connection's
    cursor events (``before_cursor_execute``, ``after_cursor_execute``) fire as for any
    statement, so what counts statements (tests/integration/test_statement_budget.py) sees these;
    a DBAPI error is raised as SQLAlchemy's (``IntegrityError`` …)."""

    def __init__(self, statement, dialect, runtime: tuple[str, ...], *, column_keys: list[str] | None = None):
        """``runtime``: the names of the parameters each execution gives; ``column_keys``: an
        INSERT's columns when they come from the parameters (as ``execute(insert, {…})``)."""
        compiled = statement.compile(dialect=dialect, column_keys=column_keys)
        # The text with its IN lists expanded (their values are constants of the statement).
        expanded = compiled.construct_expanded_state(dict.fromkeys(runtime))
        self.sql = expanded.statement
        self.positional = tuple(expanded.positiontup) if expanded.positiontup else None
        self.constants = {name: value for name, value in expanded.parameters.items() if name not in runtime}
        processors = {}
        for name in expanded.parameters:
            bind = compiled.binds.get(name)
            process = bind.type.dialect_impl(dialect).bind_processor(dialect) if bind is not None else None
            if process is not None:
                processors[name] = process
        self.processors = processors
        self.defaults = {}  # an INSERT's Python-side column defaults (SQLAlchemy's "prefetch")
        for column in getattr(compiled, "insert_prefetch", ()):
            default = column.default
            if default is None or not (default.is_scalar or default.is_callable):
                raise NotImplementedError(f"column {column.name}: only scalar or callable defaults")
            if default.is_scalar:
                self.constants[column.key] = default.arg
            else:
                self.defaults[column.key] = default.arg
        for name, value in list(self.constants.items()):
            if name in processors:
                self.constants[name] = processors[name](value)
        columns = list(statement.selected_columns) if hasattr(statement, "selected_columns") else []
        if not columns:
            columns = list(statement.exported_columns)
        self.names = [column.key for column in columns]
        # Known here, not asked of the cursor per execution: psycopg builds a Column object per
        # result column each time ``cursor.description`` is read (the situation SELECT has 32).
        self.returns_rows = bool(self.names)
        results = [column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns]
        self.converted = [(index, process) for index, process in enumerate(results) if process is not None]
        self.row = namedtuple("Row", self.names, rename=True)
        self.dialect = dialect

    def rows(self, connection, params: dict) -> list:
        """Run on ``connection`` (the session's ``Connection``: its transaction) with ``params``."""
        values = {**self.constants, **params}
        for name, make in self.defaults.items():
            if name not in params:
                values[name] = make(None)
        for name, process in self.processors.items():
            value = values.get(name)
            if value is not None and name not in self.constants:
                values[name] = process(value)
        arguments = tuple(values[name] for name in self.positional) if self.positional else values
        fairy = connection.connection
        cursor = fairy.cursor()
        sql = self.sql
        events = connection._has_events or connection.engine._has_events
        try:
            if events:
                for fn in connection.dispatch.before_cursor_execute:
                    sql, arguments = fn(connection, cursor, sql, arguments, None, False)
            cursor.execute(sql, arguments)
            fetched = cursor.fetchall() if self.returns_rows else []
            if events:
                connection.dispatch.after_cursor_execute(connection, cursor, sql, arguments, None, False)
        except self.dialect.loaded_dbapi.Error as error:
            disconnected = self.dialect.is_disconnect(error, fairy, cursor)
            if disconnected:
                connection.invalidate(error)
            raise DBAPIError.instance(sql, arguments, error, self.dialect.loaded_dbapi.Error,
                                      connection_invalidated=disconnected, dialect=self.dialect) from error
        finally:
            cursor.close()
        make, converted = self.row._make, self.converted
        if not converted:
            return [make(row) for row in fetched]
        processed = []
        for row in fetched:
            row = list(row)
            for index, process in converted:
                row[index] = process(row[index])
            processed.append(make(row))
        return processed

    def first(self, connection, params: dict):
        found = self.rows(connection, params)
        return found[0] if found else None

    def scalar(self, connection, params: dict):
        found = self.rows(connection, params)
        return found[0][0] if found else None


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


# --- bulk writes (the batch paths) --------------------------------------------------------------
# On PostgreSQL rows travel as one array per column through unnest(): one statement
# per call whose text depends only on the table and columns (so nothing is compiled
# per row), and every row arrives in the same statement, which statement triggers
# (the ledger's balance check) rely on. Elsewhere: a plain executemany.

def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _column_arrays(session: Session, table, columns: list[str], rows: list[dict]) -> tuple[list[str], dict]:
    dialect = session.get_bind().dialect
    casts, params = [], {}
    for i, name in enumerate(columns):
        column = table.c[name]
        process = column.type.bind_processor(dialect)
        values = [row[name] for row in rows]
        params[f"c{i}"] = [process(v) for v in values] if process else values
        casts.append(f"CAST(:c{i} AS {column.type.compile(dialect=dialect)}[])")
    return casts, params


def bulk_insert(session: Session, table, rows: list[dict], *, conflict_do_nothing: tuple[str, ...] = (),
                returning: tuple[str, ...] = ()) -> list:
    """Insert ``rows`` (dicts with the same keys) into ``table``; returns the ``returning`` columns
    of the rows inserted (conflicting rows are skipped when ``conflict_do_nothing`` names the key)."""
    if not rows:
        return []
    columns = list(rows[0])
    if _is_postgres(session):
        casts, params = _column_arrays(session, table, columns, rows)
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({', '.join(casts)})"
        if conflict_do_nothing:
            sql += f" ON CONFLICT ({', '.join(conflict_do_nothing)}) DO NOTHING"
        if returning:
            sql += f" RETURNING {', '.join(returning)}"
        result = session.execute(text(sql), params)
        return [tuple(r) for r in result] if returning else []
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert
    if not (conflict_do_nothing or returning):
        session.execute(table.insert(), rows)
        return []
    statement = sqlite_insert(table).values(rows)
    if conflict_do_nothing:
        statement = statement.on_conflict_do_nothing(index_elements=list(conflict_do_nothing))
    if returning:
        statement = statement.returning(*(table.c[name] for name in returning))
        return [tuple(r) for r in session.execute(statement)]
    session.execute(statement)
    return []


def bulk_update(session: Session, table, rows: list[dict], *, key: str = "id") -> None:
    """Set each row's columns where ``key`` matches (rows with the same keys)."""
    if not rows:
        return
    columns = list(rows[0])
    if _is_postgres(session):
        casts, params = _column_arrays(session, table, columns, rows)
        names = [f"u_{name}" for name in columns]
        sets = ", ".join(f"{name} = u.u_{name}" for name in columns if name != key)
        session.execute(text(f"UPDATE {table.name} SET {sets} FROM unnest({', '.join(casts)}) "
                             f"AS u({', '.join(names)}) WHERE {table.name}.{key} = u.u_{key}"), params)
        return
    from sqlalchemy import bindparam
    statement = table.update().where(table.c[key] == bindparam(f"b_{key}")).values(
        {name: bindparam(f"b_{name}") for name in columns if name != key})
    session.execute(statement, [{f"b_{k}": v for k, v in row.items()} for row in rows])


def among(session: Session, column, values) -> object:
    """``column IN values`` — on PostgreSQL as ``= ANY(array)``, one short statement whatever the count."""
    values = list(values)
    if _is_postgres(session):
        from sqlalchemy import any_, bindparam
        from sqlalchemy.dialects.postgresql import ARRAY
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def id_chunks(session: Session, ids) -> list[list]:
    """``ids`` in pieces small enough for one ``among`` query (SQLite caps bound parameters)."""
    ordered = sorted(set(ids))
    size = 20_000 if _is_postgres(session) else 900
    return [ordered[start:start + size] for start in range(0, len(ordered), size)]
