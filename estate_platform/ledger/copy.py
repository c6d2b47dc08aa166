"""Appending many rows that need nothing back: COPY on PostgreSQL (issue 16 §2, issue 12 §4).

``copy_rows`` writes rows (dicts with the same keys) with one ``COPY … FROM STDIN`` on the
session's own connection, so they belong to the unit of work like any INSERT: a rollback takes
them back, and statement triggers (the ledger's balance check) see every row of the call in one
transition table. psycopg formats each row in C; the column-array path (``db.bulk_insert``)
escapes every text element in Python, which is where a batch's time went.

``copy_insert`` is the same for rows that need ``ON CONFLICT DO NOTHING`` and ids back: the
rows go by COPY into a temporary staging table of the connection, then ONE ``INSERT … SELECT …
ON CONFLICT DO NOTHING RETURNING`` moves them (the staged rows deleted by the same statement).
The table's keys, checks and triggers see one ordinary INSERT, so a key posted before or
concurrently is skipped exactly as by ``db.bulk_insert``, without its Python array escaping
(most of the time of 100,000 ledger transactions, issue 12 §4).

Elsewhere (SQLite) both are ``db.bulk_insert``: the same rows, the same result.
"""
from __future__ import annotations

import zlib

from sqlalchemy import text
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


def _copies(session: Session) -> bool:
    dialect = session.get_bind().dialect
    return dialect.name == "postgresql" and dialect.driver == "psycopg"


def copy_rows(session: Session, table, rows: list, *, columns: tuple[str, ...] | None = None) -> None:
    """Append ``rows`` to ``table`` (no ``RETURNING``, no ``ON CONFLICT``). ``rows``: dicts with the
    same keys, or tuples of ``columns`` (no dict per row; the columns' types still convert them)."""
    if not rows:
        return
    session.flush()  # the COPY goes past the ORM: what it has pending goes first, as before an INSERT
    if not _copies(session):
        if columns is not None:
            rows = [dict(zip(columns, row)) for row in rows]
        bulk_insert(session, table, rows)
        return
    _copy(session, table, table.name, rows, list(columns) if columns is not None else None)


def copy_insert(session: Session, table, rows: list, *, conflict_do_nothing: tuple[str, ...],
                returning: tuple[str, ...], columns: tuple[str, ...] | None = None) -> list[tuple]:
    """Insert ``rows`` skipping those that conflict on ``conflict_do_nothing``; the ``returning``
    columns of the rows inserted (``db.bulk_insert``'s contract). ``rows``: dicts with the same
    keys, or tuples of ``columns`` (no dict per row)."""
    if not rows:
        return []
    session.flush()
    if not _copies(session):
        if columns is not None:
            rows = [dict(zip(columns, row)) for row in rows]
        return bulk_insert(session, table, rows, conflict_do_nothing=conflict_do_nothing, returning=returning)
    columns = list(columns if columns is not None else rows[0])
    names = ", ".join(columns)
    # One staging table per table and column set, made once per connection (temporary: no other
    # session sees it; emptied at every commit, and by the INSERT that consumes its rows).
    stage = f"stage_{table.name}_{zlib.crc32(names.encode()):08x}"
    session.execute(text(f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
                         f"SELECT {names} FROM {table.name} WITH NO DATA"))
    _copy(session, table, stage, rows, columns)
    result = session.execute(text(
        f"WITH staged AS (DELETE FROM {stage} RETURNING {names}) "
        f"INSERT INTO {table.name} ({names}) SELECT {names} FROM staged "
        f"ON CONFLICT ({', '.join(conflict_do_nothing)}) DO NOTHING RETURNING {', '.join(returning)}"))
    return [tuple(r) for r in result]


def _copy(session: Session, table, target: str, rows: list, columns: list[str] | None = None) -> None:
    """COPY ``rows`` (dicts, or tuples of ``columns``) into ``target`` with ``table``'s column types."""
    connection = session.connection()
    dialect = connection.dialect
    by_name = columns is None
    if by_name:
        columns = list(rows[0])
    processors = []
    for name in columns:
        process = table.c[name].type.bind_processor(dialect)
        processors.append(process)
    statement = f"COPY {target} ({', '.join(columns)}) FROM STDIN"
    dbapi_error = dialect.loaded_dbapi.Error
    cursor = connection.connection.driver_connection.cursor()
    try:
        with cursor.copy(statement) as copy:
            write = copy.write_row
            if any(processors) and not by_name:
                # Tuples: convert only the columns that need it (a batch's rows: created_at alone).
                converted = [(i, _remembering(process)) for i, process in enumerate(processors) if process]
                for row in rows:
                    row = list(row)
                    for i, process in converted:
                        row[i] = process(row[i])
                    write(row)
            elif any(processors):
                pairs = [(name, _remembering(process) if process else None)
                         for name, process in zip(columns, processors)]
                for row in rows:
                    write([process(row[key]) if process else row[key] for key, process in pairs])
            elif by_name:
                for row in rows:
                    write([row[name] for name in columns])
            else:
                for row in rows:
                    write(row)
    except dbapi_error as error:  # as SQLAlchemy raises it (IntegrityError for a refused check)
        raise DBAPIError.instance(statement, None, error, dbapi_error, dialect=dialect) from error
    finally:
        cursor.close()
