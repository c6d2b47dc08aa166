"""The references that lost their FOREIGN KEY for speed (issue 16 §2, migration d1f2a3b4c5d6):
``ledger_transactions.deal_id``, ``commission_lines.deal_id`` and ``notifications.consultant_id``
are checked once per statement instead of once per row. The triggers must refuse what the keys
refused: a row naming a missing deal or consultant (SQLSTATE 23503 on PostgreSQL), by any path
(INSERT, COPY, a change of the column), and deleting or renumbering a row that is referenced.
Runs on SQLite and on PostgreSQL."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from estate_platform.commissions.models import CommissionLine
from estate_platform.db import commit, db
from estate_platform.ledger import services as ledger
from estate_platform.ledger.copy import copy_rows
from estate_platform.ledger.models import LedgerTransaction
from estate_platform.ledger.services import Entry, Leg
from estate_platform.notifications.models import Notification
from estate_platform.notifications.services import notify, notify_many
from tests.conftest import now

MISSING = 987_654


@pytest.fixture
def book(world):
    """A recognised deal (a transaction, lines and a notification reference it) and its consultant."""
    project = world.project()
    world.commission_rule(project)
    world.split_policy(referral_bps=0, upline_bps=[], max_upline_levels=0)
    consultant = world.operating_consultant(name="顾问甲")
    other = world.operating_consultant(name="顾问乙")
    phone = world.register(consultant, project)["buyer_phone"]
    deal = world.deal(project, phone)
    world.stage(deal["id"], "signed")
    with world.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CommissionLine)
                                 .where(CommissionLine.deal_id == deal["id"])) > 0
        assert db.session.scalar(select(func.count()).select_from(Notification)
                                 .where(Notification.consultant_id == consultant.id)) > 0
    return {"deal": deal["id"], "consultant": consultant.id, "other": other.id}


def refused(session, action) -> DBAPIError:
    """Run ``action`` (and flush): the triggers of d1f2a3b4c5d6 (not some other constraint) must
    refuse it, as the key did."""
    with pytest.raises(DBAPIError, match=r"missing row of|is referenced by|row is referenced \(") as caught:
        action()
        session.flush()
    error = caught.value
    session.rollback()
    if session.get_bind().dialect.name == "postgresql":
        assert getattr(error.orig, "sqlstate", None) == "23503", error
    else:
        assert isinstance(error, IntegrityError), error
    return error


def counts(session) -> tuple[int, int, int]:
    return tuple(session.scalar(select(func.count()).select_from(model))
                 for model in (LedgerTransaction, CommissionLine, Notification))


def line_row(deal_id: int, seq: int) -> dict:
    return {"deal_id": deal_id, "version": 9, "seq": seq, "party_type": "platform", "party_id": 0,
            "role": "platform_fee", "level": None, "amount_cents": 100, "reason": "测试", "created_at": now()}


def test_rows_naming_a_missing_deal_or_consultant_are_refused_by_every_path(session, book):
    before = counts(session)
    entry = Entry("refs:missing-deal", "test", "测试", (Leg("developer", 1, "receivable", 5),
                                                      Leg("platform", 0, "revenue", -5)), deal_id=MISSING)
    refused(session, lambda: ledger.post_many(session, [entry], now=now()))
    refused(session, lambda: session.execute(text(
        "INSERT INTO ledger_transactions (idempotency_key, kind, description, deal_id, actor_type, created_at) "
        "VALUES ('refs:raw', 'test', 'x', :deal, 'system', :at)"), {"deal": MISSING, "at": now().replace(tzinfo=None)}))
    # One bad line among good ones (the statement check counts distinct deals, not rows).
    refused(session, lambda: copy_rows(session, CommissionLine.__table__,
                                       [line_row(book["deal"], 1), line_row(book["deal"], 2), line_row(MISSING, 3)]))
    refused(session, lambda: notify_many(session, [(book["consultant"], "credit_changed", "好", {}),
                                                   (MISSING, "credit_changed", "坏", {})], now=now()))
    refused(session, lambda: notify(session, MISSING, "credit_changed", "坏", now=now()))
    notification_id = session.scalar(select(Notification.id).where(Notification.consultant_id == book["consultant"]))
    refused(session, lambda: session.execute(text("UPDATE notifications SET consultant_id = :c WHERE id = :n"),
                                             {"c": MISSING, "n": notification_id}))
    assert counts(session) == before


def test_rows_naming_existing_deals_and_consultants_go_in(session, book):
    before = counts(session)
    entry = Entry("refs:good", "test", "测试", (Leg("developer", 1, "receivable", 5),
                                               Leg("platform", 0, "revenue", -5)), deal_id=book["deal"])
    ledger.post_many(session, [entry], now=now())
    copy_rows(session, CommissionLine.__table__, [line_row(book["deal"], 1), line_row(book["deal"], 2)])
    notify_many(session, [(book["consultant"], "credit_changed", "一", {}), (book["other"], "credit_changed", "二", {}),
                          (book["consultant"], "credit_changed", "三", {})], now=now())
    notify(session, book["other"], "credit_changed", "四", now=now())
    commit(session)
    assert counts(session) == (before[0] + 1, before[1] + 2, before[2] + 4)
    notification_id = session.scalar(select(Notification.id).where(Notification.consultant_id == book["consultant"]))
    session.execute(text("UPDATE notifications SET consultant_id = :c WHERE id = :n"),
                    {"c": book["other"], "n": notification_id})
    session.execute(text("UPDATE notifications SET read_at = :at WHERE id = :n"),
                    {"at": now().replace(tzinfo=None), "n": notification_id})
    commit(session)
    assert session.get(Notification, notification_id).consultant_id == book["other"]


def test_a_referenced_deal_or_consultant_cannot_be_deleted_or_renumbered(session, book):
    deal, consultant = book["deal"], book["consultant"]
    for statement in (f"DELETE FROM deals WHERE id = {deal}",
                      f"UPDATE deals SET id = {deal + 10_000} WHERE id = {deal}",
                      f"DELETE FROM consultants WHERE id = {consultant}",
                      f"UPDATE consultants SET id = {consultant + 10_000} WHERE id = {consultant}"):
        refused(session, lambda: session.execute(text(statement)))
    # What the key allowed stays allowed: the same id set again, other columns changed.
    session.execute(text(f"UPDATE deals SET id = id, updated_at = updated_at WHERE id = {deal}"))
    session.execute(text(f"UPDATE consultants SET id = id, rating = rating WHERE id = {consultant}"))
    commit(session)
    assert session.scalar(select(func.count()).select_from(LedgerTransaction)
                          .where(LedgerTransaction.deal_id == deal)) >= 1
