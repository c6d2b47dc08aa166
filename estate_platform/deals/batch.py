"""The recognition batch (DESIGN §5; issue 16 §2): every due deal, in chunks of the queue of due
deals (``DueDeal``), each chunk planned (``recognition.plan``) and written (``recognition.write``)
and committed by the caller between chunks.

The Celery task and the CLI read ahead: on PostgreSQL the next chunk is read and planned on a second
connection, in a thread, while the current one is written (``read_ahead``); ``write`` claims each
deal before it posts, so what changed in between is left as it now is.
"""
from __future__ import annotations

import gc
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from datetime import datetime
from typing import Callable, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ..ledger import services as ledger
from . import notices, recognition
from .models import Deal, DueDeal
from .recognition import DUE, RECOGNITION_COLUMNS


def due_query():
    return select(Deal.id).join(DueDeal, DueDeal.deal_id == Deal.id).where(*DUE)


def queued_rows(after: int, size: int):
    """The next ``size`` queued deals past id ``after`` as rows of ``RECOGNITION_COLUMNS``, due or
    not (a row of a deal recognised otherwise than by ``recognition.write``'s claim stays until the
    batch meets it). The ids are taken from the queue first and both sides are bounded by ``after``: a
    join of the whole tables read the deals from the first id in every chunk."""
    queued = (select(DueDeal.deal_id).where(DueDeal.deal_id > after).order_by(DueDeal.deal_id).limit(size)
              .subquery())
    return (select(*RECOGNITION_COLUMNS).join_from(queued, Deal, Deal.id == queued.c.deal_id)
            .where(Deal.id > after).order_by(queued.c.deal_id))


def count_due(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(due_query().subquery())) or 0)


def recognise_due(session: Session, *, now: datetime, chunk_size: int = 1000,
                  progress: Callable[[int], None] | None = None, limit: int | None = None,
                  after_chunk: Callable[[], None] | None = None, read_ahead: bool = False) -> int:
    """Recognise every deal that reached its trigger. Safe to run twice or concurrently.
    ``after_chunk`` lets the caller commit between chunks (the CLI and the task do); the batch's
    notices are released in the caller's last transaction, after the last chunk.

    ``read_ahead``: on PostgreSQL, with a session bound to an engine, the next chunk is read and
    planned on a second connection in a thread while this one writes the current chunk (the
    chains' reads and Python's planning overlap the database's writes). For callers whose session
    holds no uncommitted change the batch must see (the task and the CLI start clean and commit
    every chunk); elsewhere the chunks are read and planned on ``session``, in turn."""
    batch = notices.new_batch()  # its chunks' notices wait for its end: one message per consultant
    posted = 0
    # A chunk makes ~100,000 small acyclic objects (rows, members, lines, legs): the cyclic
    # collector's automatic passes over them and over the kept context are paused for the batch,
    # and each chunk's leftovers are collected once it is written (the young generations only).
    # ``closing``: a failure here stops the read-ahead (its thread joined, its connection returned) at
    # once, not whenever the generator is collected.
    with ledger.cycle_collection_paused(), \
            closing(_planned_chunks(session, chunk_size=chunk_size, limit=limit, read_ahead=read_ahead)) as chunks:
        for chunk in chunks:
            if chunk.not_due:  # queue rows of deals recognised some other way (rare)
                recognition.dequeue(session, chunk.not_due, unless_due=True)
            posted += len(recognition.write(session, chunk.plan, now=now, held_for=batch))
            if after_chunk is not None:
                after_chunk()
            gc.collect(1)
            if progress is not None:
                progress(chunk.size)
    notices.release(session, batch)  # in the caller's last transaction
    return posted


_switching = {"batches": 0, "interval": None}
_switching_lock = threading.Lock()


@contextmanager
def _switching_often(interval: float = 0.001):
    """The interpreter's thread switch interval shortened while read-ahead batches run (the
    process-wide setting is restored when the last one ends). The writer spends its time in short
    round trips to the database; with the default 5 ms it waited for the planner thread to hand
    the GIL back after each (100k deals: 17.4 s with 5 ms, 15.1 s with 1 ms, 16.2 s with 0.2 ms)."""
    with _switching_lock:
        if _switching["batches"] == 0:
            _switching["interval"] = sys.getswitchinterval()
            sys.setswitchinterval(min(interval, _switching["interval"]))
        _switching["batches"] += 1
    try:
        yield
    finally:
        with _switching_lock:
            _switching["batches"] -= 1
            if _switching["batches"] == 0:
                sys.setswitchinterval(_switching["interval"])


class _Chunk(NamedTuple):
    size: int  # queued deals read
    last_id: int
    not_due: list[int]
    plan: recognition.Plan


def _planned_chunks(session: Session, *, chunk_size: int, limit: int | None, read_ahead: bool):
    """The batch's chunks in id order, each read from the queue and planned: on ``session`` in turn,
    or (``read_ahead``) one chunk ahead on a second connection of the same engine, in a thread."""
    context = recognition.Context()  # kept across chunks: each consultant is read once per batch

    def next_chunk(reader: Session, after: int, seen: int) -> _Chunk | None:
        if limit is not None and seen >= limit:
            return None
        size = chunk_size if limit is None else min(chunk_size, limit - seen)
        # The chunk's queued deals as plain rows, in one query: the batch changes them with bulk
        # statements and reads nothing else of them (objects the session holds are expired as they
        # change).
        deals = reader.execute(queued_rows(after, size)).all()
        if not deals:
            return None
        due = recognition.only_due(deals)
        due_ids = {d.id for d in due}
        return _Chunk(len(deals), deals[-1].id, [d.id for d in deals if d.id not in due_ids],
                      recognition.plan(reader, due, context))

    bind = session.get_bind()
    if not (read_ahead and isinstance(bind, Engine) and bind.dialect.name == "postgresql"):
        after = seen = 0
        while (chunk := next_chunk(session, after, seen)) is not None:
            yield chunk
            after, seen = chunk.last_id, seen + chunk.size
        return
    with Session(bind=bind) as reader, _switching_often(), \
            ThreadPoolExecutor(1, thread_name_prefix="recognition-read-ahead") as pool:
        def read(after: int, seen: int) -> _Chunk | None:
            try:
                return next_chunk(reader, after, seen)
            finally:
                reader.rollback()  # no transaction left open between chunks

        ahead = pool.submit(read, 0, 0)
        seen = 0
        while (chunk := ahead.result()) is not None:
            seen += chunk.size
            ahead = pool.submit(read, chunk.last_id, seen)
            yield chunk
