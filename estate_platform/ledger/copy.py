"""Appending many rows that need nothing back: COPY on PostgreSQL (issue 16 §2, issue 12 §4).

``copy_rows`` writes rows (dicts with the same keys) with one ``COPY … FROM STDIN`` on the
session's own connection, so they belong to the unit of work like any INSERT: a rollback takes
them back, and statement triggers (the ledger's balance check) see every row of the call in one
transition table. psycopg formats each row in C; the column-array path (``db.bulk_insert``)
escapes every text element in Python, which is where a batch's time went.

Rows that need ids back (``RETURNING``) or ``ON CONFLICT`` keep using ``db.bulk_insert``.
Elsewhere (SQLite) this is ``db.bulk_insert``: the same rows, the same result.
"""
from __future__ import annotations

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ..db import bulk_insert


def _remembering(process):
    """``process`` that reuses its last result for the same value (a batch's rows share ``now``)."""
    last = [object(), None]

    def remembered(value):
        if value is not last[0]:
            last[0], last[1] = value, process(value)
        return last[1]
    return remembered


def copy_rows(session: Session, table, rows: list[dict]) -> None:
    """Append ``rows`` to ``table`` (no ``RETURNING``, no ``ON CONFLICT``)."""
    if not rows:
        return
    session.flush()  # the COPY goes past the ORM: what it has pending goes first, as before an INSERT
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql" or dialect.driver != "psycopg":
        bulk_insert(session, table, rows)
        return
    columns = list(rows[0])
    processors = []
    for name in columns:
        process = table.c[name].type.bind_processor(dialect)
        processors.append(process)
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    dbapi_error = dialect.loaded_dbapi.Error
    cursor = connection.connection.driver_connection.cursor()
    try:
        with cursor.copy(statement) as copy:
            write = copy.write_row
            if any(processors):
                pairs = [(name, _remembering(process) if process else None)
                         for name, process in zip(columns, processors)]
                for row in rows:
                    write([process(row[name]) if process else row[name] for name, process in pairs])
            else:
                for row in rows:
                    write([row[name] for name in columns])
    except dbapi_error as error:  # as SQLAlchemy raises it (IntegrityError for a refused check)
        raise DBAPIError.instance(statement, None, error, dbapi_error, dialect=dialect) from error
    finally:
        cursor.close()
