"""Posting to and reading the ledger (DESIGN §5).

Every money movement is one call to ``post`` (or ``post_many`` for a batch): a
balanced set of legs under a unique idempotency key. A key that was already
posted posts nothing and returns the existing transaction, so retries, replays
and re-run tasks never post twice. All legs of a transaction are inserted in one
statement; on PostgreSQL a statement trigger checks they sum to zero and a
deferred trigger that no transaction is left without legs (a chunk's legs go in
one ``COPY``, ``ledger.copy.copy_rows``).
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from datetime import datetime
from typing import Iterable, NamedTuple, Sequence

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from ..db import among, id_chunks
from .copy import copy_insert, copy_rows
from .models import ACCOUNT_KINDS, PARTY_TYPES, Account, LedgerTransaction, Posting

PLATFORM = ("platform", 0)
LEG_COLUMNS = ("transaction_id", "account_id", "amount_cents", "memo")
TRANSACTION_COLUMNS = ("idempotency_key", "kind", "description", "deal_id", "actor_type", "actor_id", "created_at")


class Unbalanced(ValueError):
    """A programming error: callers build balanced legs (the database would refuse too)."""


class Leg(NamedTuple):
    """One leg of an entry (immutable; a named tuple: a batch builds hundreds of thousands)."""
    party_type: str
    party_id: int
    kind: str
    amount_cents: int  # + debit, − credit
    memo: str | None = None


class Entry(NamedTuple):
    """A balanced set of legs under an idempotency key (immutable)."""
    idempotency_key: str
    kind: str
    description: str
    legs: tuple[Leg, ...]
    deal_id: int | None = None


_PARTY_TYPES, _ACCOUNT_KINDS = frozenset(PARTY_TYPES), frozenset(ACCOUNT_KINDS)


def check_balanced(entry: Entry) -> None:
    legs = [leg for leg in entry.legs if leg.amount_cents != 0]
    if len(legs) < 2 or sum(leg.amount_cents for leg in legs) != 0:
        raise Unbalanced(f"{entry.idempotency_key}: legs must be two or more and sum to zero")
    for leg in legs:
        if leg.party_type not in _PARTY_TYPES or leg.kind not in _ACCOUNT_KINDS:
            raise Unbalanced(f"{entry.idempotency_key}: unknown account {leg.party_type}/{leg.kind}")
        if not isinstance(leg.amount_cents, int):
            raise Unbalanced(f"{entry.idempotency_key}: amounts are integer cents")


def account_ids(session: Session, keys: Iterable[tuple[str, int, str]], *, now: datetime) -> dict[tuple, int]:
    """Ids of the accounts ``(party_type, party_id, kind)``, created on first use.
    Known accounts are read first, so a batch over existing accounts inserts nothing;
    concurrent creators meet on the unique constraint; the loser reads the winner's row."""
    keys = list(keys)
    cache: dict = session.info.setdefault("ledger_account_ids", {})
    wanted = {k for k in keys if k not in cache}
    if wanted:
        _load_accounts(session, wanted, cache)
        missing = {k for k in wanted if k not in cache}
        if missing:
            for account_id, party_type, party_id, kind in copy_insert(
                    session, Account.__table__, [(t, i, k, now) for t, i, k in sorted(missing)],
                    columns=("party_type", "party_id", "kind", "created_at"),
                    conflict_do_nothing=("party_type", "party_id", "kind"),
                    returning=("id", "party_type", "party_id", "kind")):
                cache[(party_type, party_id, kind)] = account_id
            if any(k not in cache for k in missing):  # made concurrently: read the winner's rows
                _load_accounts(session, {k for k in missing if k not in cache}, cache)
    return {k: cache[k] for k in keys}


def _load_accounts(session: Session, keys: set[tuple[str, int, str]], cache: dict) -> None:
    """Every account of the parties of ``keys`` into ``cache`` (one query per party type and id chunk)."""
    by_type: dict[str, set[int]] = {}
    for party_type, party_id, _ in keys:
        by_type.setdefault(party_type, set()).add(party_id)
    for party_type, ids in by_type.items():
        for id_chunk in id_chunks(session, ids):
            rows = session.execute(select(Account.id, Account.party_id, Account.kind).where(
                Account.party_type == party_type, among(session, Account.party_id, id_chunk)))
            for account_id, party_id, kind in rows:
                cache[(party_type, party_id, kind)] = account_id


@event.listens_for(Session, "after_soft_rollback")
def _forget_account_ids(session, previous_transaction):
    """Accounts created in a rolled-back transaction (or savepoint) are gone: forget their ids."""
    session.info.pop("ledger_account_ids", None)


@contextmanager
def cycle_collection_paused():
    """Python's cyclic garbage collector paused while a batch builds its rows (usable as a decorator).

    A batch makes hundreds of thousands of small objects (rows, legs, entries) that hold no
    cycles; every so many allocations the collector walks every object of the process, and its
    full passes grew with the batch (1.0 s of a 50,000-payee settlement batch, issue 12 §4).
    Reference counting still frees everything at once; cycles wait for the first collection
    after the block. A collector already paused (an enclosing block, another thread's batch) is
    left as it was."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _chunks(items: Sequence, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _insert_transactions(session: Session, chunk: Sequence[Entry], *, actor_type: str, actor_id: int | None,
                         now: datetime) -> dict[str, int]:
    rows = copy_insert(session, LedgerTransaction.__table__, [
        (e.idempotency_key, e.kind, e.description, e.deal_id, actor_type, actor_id, now) for e in chunk],
        columns=TRANSACTION_COLUMNS, conflict_do_nothing=("idempotency_key",), returning=("id", "idempotency_key"))
    return {key: txn_id for txn_id, key in rows}


@cycle_collection_paused()
def post_many(session: Session, entries: Sequence[Entry], *, actor_type: str = "system", actor_id: int | None = None,
              now: datetime, chunk_size: int = 1000) -> dict[str, int]:
    """Post each entry whose key is new; return {key: transaction id} of those posted now.
    Entries whose key exists (posted before, or concurrently) post nothing."""
    unique: dict[str, Entry] = {}
    for entry in entries:
        check_balanced(entry)
        unique.setdefault(entry.idempotency_key, entry)  # a key twice in one call: the first posts
    created: dict[str, int] = {}
    for chunk in _chunks(list(unique.values()), chunk_size):
        accounts = account_ids(session, {leg[:3] for entry in chunk for leg in entry.legs}, now=now)
        new_ids = _insert_transactions(session, chunk, actor_type=actor_type, actor_id=actor_id, now=now)
        if not new_ids:
            continue
        # All legs of these transactions in one statement (one COPY on PostgreSQL): the balance
        # trigger sees them together.
        copy_rows(session, Posting.__table__, [
            (transaction_id, accounts[leg[:3]], leg.amount_cents, leg.memo)  # leg[:3]: its account's key
            for e in chunk if (transaction_id := new_ids.get(e.idempotency_key)) is not None
            for leg in e.legs if leg.amount_cents != 0], columns=LEG_COLUMNS)
        created.update(new_ids)
    return created


def post(session: Session, entry: Entry, *, actor_type: str = "system", actor_id: int | None = None,
         now: datetime) -> tuple[LedgerTransaction, bool]:
    """Post one entry; (the transaction, True) when posted now, (the earlier one, False) for a known key."""
    created = post_many(session, [entry], actor_type=actor_type, actor_id=actor_id, now=now)
    transaction = session.scalar(select(LedgerTransaction)
                                 .where(LedgerTransaction.idempotency_key == entry.idempotency_key))
    return transaction, entry.idempotency_key in created


# --- reading -------------------------------------------------------------------------

def balances(session: Session, party_type: str, party_id: int) -> dict[str, int]:
    """Sum of postings per account kind of one party (debit-positive), zero for unused kinds."""
    rows = session.execute(select(Account.kind, func.coalesce(func.sum(Posting.amount_cents), 0))
                           .join(Posting, Posting.account_id == Account.id)
                           .where(Account.party_type == party_type, Account.party_id == party_id)
                           .group_by(Account.kind))
    result = {kind: 0 for kind in ACCOUNT_KINDS}
    result.update({kind: int(total) for kind, total in rows})
    return result


def deal_balance(session: Session, deal_id: int, party_type: str, party_id: int, kind: str) -> int:
    """What this deal's transactions have left on one account (debit-positive)."""
    return int(session.scalar(
        select(func.coalesce(func.sum(Posting.amount_cents), 0))
        .join(LedgerTransaction, LedgerTransaction.id == Posting.transaction_id)
        .join(Account, Account.id == Posting.account_id)
        .where(LedgerTransaction.deal_id == deal_id, Account.party_type == party_type,
               Account.party_id == party_id, Account.kind == kind)) or 0)


def total(session: Session) -> int:
    """The sum of every posting ever made: zero, always (DESIGN §7.4)."""
    return int(session.scalar(select(func.coalesce(func.sum(Posting.amount_cents), 0))) or 0)


def unbalanced_transactions(session: Session) -> list[int]:
    return list(session.scalars(select(Posting.transaction_id).group_by(Posting.transaction_id)
                                .having((func.sum(Posting.amount_cents) != 0) | (func.count() < 2))))


def trial_balance(session: Session) -> list[tuple[str, str, int, int]]:
    """(party_type, kind, number of accounts, debit-positive total) for every used account kind."""
    rows = session.execute(select(Account.party_type, Account.kind, func.count(func.distinct(Account.id)),
                                  func.coalesce(func.sum(Posting.amount_cents), 0))
                           .join(Posting, Posting.account_id == Account.id)
                           .group_by(Account.party_type, Account.kind)
                           .order_by(Account.party_type, Account.kind))
    return [(t, k, int(n), int(s)) for t, k, n, s in rows]


def history(session: Session, party_type: str, party_id: int, *, page: int = 1,
            per_page: int = 20) -> tuple[list[tuple[Posting, LedgerTransaction, Account]], int]:
    """One party's postings, newest first."""
    base = (select(Posting, LedgerTransaction, Account)
            .join(LedgerTransaction, LedgerTransaction.id == Posting.transaction_id)
            .join(Account, Account.id == Posting.account_id)
            .where(Account.party_type == party_type, Account.party_id == party_id))
    count = session.scalar(select(func.count()).select_from(base.subquery()))
    rows = session.execute(base.order_by(LedgerTransaction.created_at.desc(), Posting.id.desc())
                           .offset((page - 1) * per_page).limit(per_page)).all()
    return [tuple(r) for r in rows], int(count or 0)
