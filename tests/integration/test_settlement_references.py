"""A settlement item's batch and payout account lost their FOREIGN KEYs for speed (issue 12 §4,
migration a6b7c8d9e0f1): they are checked once per statement. The triggers must refuse what the
keys refused: an item naming a missing batch or payout account, by any path (the COPY of
prepare, a plain INSERT, a change of the column), and deleting or renumbering a batch or an
account an item refers to. Runs on SQLite and on PostgreSQL."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from estate_platform.db import commit
from estate_platform.ledger.copy import copy_rows
from estate_platform.settlement.models import PayoutAccount, SettlementBatch, SettlementItem
from tests.conftest import now

MISSING = 987_654


@pytest.fixture
def parents(session):
    at = now()
    account = PayoutAccount(party_type="consultant", party_id=7, kind="personal", holder_name="顾问甲",
                            bank_name="工商银行", account_number_enc="enc", account_last4="1234", id_number_enc="enc",
                            id_last4="0000", status="verified", created_at=at, verified_at=at, payable_from=at)
    batch = SettlementBatch(key="refs-batch", channel="gateway", status="prepared", prepared_at=at)
    session.add_all([account, batch])
    commit(session)
    return {"account": account.id, "batch": batch.id}


def item_row(batch_id: int, account_id: int, party_id: int = 7) -> dict:
    return {"batch_id": batch_id, "party_type": "consultant", "party_id": party_id, "payout_account_id": account_id,
            "status": "ready", "gross_cents": 10_000, "owes_netted_cents": 0, "tax_cents": 0, "net_cents": 10_000,
            "withheld_by": "provider", "tax_month": "2026-12", "provider_tax_cents": None, "first_to_account": False,
            "idempotency_key": f"refs-{batch_id}-{account_id}-{party_id}", "gateway_ref": None, "failure_reason": None,
            "hold_reason": None, "created_at": now(), "sent_at": None, "settled_at": None}


def items(session) -> int:
    return session.scalar(select(func.count()).select_from(SettlementItem))


def refused(session, action) -> None:
    with pytest.raises(DBAPIError) as caught:
        action()
        session.flush()
    session.rollback()
    if session.get_bind().dialect.name == "postgresql":
        assert caught.value.orig.sqlstate == "23503"
    else:
        assert "FOREIGN KEY constraint failed" in str(caught.value)


def test_an_item_naming_a_missing_batch_or_payout_account_is_refused_by_every_path(session, parents):
    before = items(session)
    good = item_row(parents["batch"], parents["account"])
    # One bad item among good ones (the statement check counts distinct references, not rows).
    refused(session, lambda: copy_rows(session, SettlementItem.__table__,
                                       [good, item_row(MISSING, parents["account"], party_id=8)]))
    refused(session, lambda: copy_rows(session, SettlementItem.__table__,
                                       [good, item_row(parents["batch"], MISSING, party_id=8)]))
    refused(session, lambda: session.execute(SettlementItem.__table__.insert(), [item_row(MISSING, parents["account"])]))
    copy_rows(session, SettlementItem.__table__, [good])
    commit(session)
    assert items(session) == before + 1
    item_id = session.scalar(select(SettlementItem.id).where(SettlementItem.idempotency_key == good["idempotency_key"]))
    refused(session, lambda: session.execute(text("UPDATE settlement_items SET payout_account_id = :a WHERE id = :i"),
                                             {"a": MISSING, "i": item_id}))
    refused(session, lambda: session.execute(text("UPDATE settlement_items SET batch_id = :b WHERE id = :i"),
                                             {"b": MISSING, "i": item_id}))
    # A change of another column (every status change) is not a change of the reference.
    session.execute(text("UPDATE settlement_items SET status = 'held', hold_reason = '测试' WHERE id = :i"),
                    {"i": item_id})
    commit(session)
    assert session.scalar(select(SettlementItem.status).where(SettlementItem.id == item_id)) == "held"


def test_a_batch_or_payout_account_an_item_refers_to_cannot_be_deleted_or_renumbered(session, parents):
    copy_rows(session, SettlementItem.__table__, [item_row(parents["batch"], parents["account"])])
    commit(session)
    for table, key in (("settlement_batches", "batch"), ("payout_accounts", "account")):
        refused(session, lambda: session.execute(text(f"DELETE FROM {table} WHERE id = :i"), {"i": parents[key]}))
        refused(session, lambda: session.execute(text(f"UPDATE {table} SET id = :n WHERE id = :i"),
                                                 {"n": MISSING, "i": parents[key]}))
    # The account's other columns change as before (the gateway account, set on the first payout).
    session.execute(text("UPDATE payout_accounts SET gateway_account_id = 'acct_1' WHERE id = :i"),
                    {"i": parents["account"]})
    commit(session)
    assert session.get(PayoutAccount, parents["account"]).gateway_account_id == "acct_1"


def test_a_batch_and_account_no_item_refers_to_can_be_deleted(session, parents):
    session.execute(text("DELETE FROM settlement_batches WHERE id = :i"), {"i": parents["batch"]})
    session.execute(text("DELETE FROM payout_accounts WHERE id = :i"), {"i": parents["account"]})
    commit(session)
    assert session.get(SettlementBatch, parents["batch"]) is None
