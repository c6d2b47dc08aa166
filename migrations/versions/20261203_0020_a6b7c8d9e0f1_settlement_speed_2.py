"""Settlement speed, second pass (issue 12 §4): an item's status changes are HOT updates

A batch changes every item's status twice (approve: ready → sending; send: sending → paid) and
gives every payee's payout account its gateway account once. Each of these UPDATEs wrote a new
entry into every index of the row, because ``status`` was indexed and the pages had no room
for the new row version on the same page. Now:

1. ``ix_settlement_items_status`` goes. The queries that picked rare states out of the whole
   history find them through their batch instead (open and sending items belong to batches not
   completed, ``uq_settlement_items_party`` leads with ``batch_id``); the failures queue uses
   ``ix_settlement_items_failed``, a partial index on ``failure_reason IS NOT NULL``, which the
   new CHECK ``failure_has_reason`` makes the same set as ``status = 'failed'`` (a failed item
   without a reason gets '付款失败' first). No index names ``status`` now, so a status change is
   a heap-only (HOT) update when the page has room.
2. Room: ``settlement_items`` is filled to 45 % (the row, its sending version and, once the
   approval's version is dead and pruned, its paid version fit on the page), ``payout_accounts``
   to 50 % (one more version: the gateway account, set once). PostgreSQL only; SQLite has no
   fillfactor. Pages written before keep their fill.
3. ``ix_ledger_transactions_deal_id`` holds only transactions of a deal (``WHERE deal_id IS NOT
   NULL``): a payout or settled transaction (no deal) writes no entry into it. Every query by
   deal (``deal_id = …``, the statement check, the deals' kept trigger) implies the predicate.

Revision ID: a6b7c8d9e0f1
Revises: f5a6b7c8d9e0
Create Date: 2026-12-03 00:20:00+00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "a6b7c8d9e0f1"
down_revision = "f5a6b7c8d9e0"
branch_labels = None
depends_on = None

FAILED_HAS_REASON = "(status = 'failed') = (failure_reason IS NOT NULL)"


def upgrade():
    dialect = op.get_bind().dialect.name
    op.execute("UPDATE settlement_items SET failure_reason = '付款失败' "
               "WHERE status = 'failed' AND failure_reason IS NULL")
    op.execute("UPDATE settlement_items SET failure_reason = NULL WHERE status <> 'failed' AND failure_reason IS NOT NULL")
    op.drop_index("ix_settlement_items_status", table_name="settlement_items")
    op.create_index("ix_settlement_items_failed", "settlement_items", ["id"],
                    postgresql_where=sa.text("failure_reason IS NOT NULL"),
                    sqlite_where=sa.text("failure_reason IS NOT NULL"))
    if dialect == "sqlite":
        op.execute("PRAGMA defer_foreign_keys = ON")  # consultant_invoices refers to the rebuilt table
    with op.batch_alter_table("settlement_items", schema=None) as batch_op:
        batch_op.create_check_constraint(op.f("ck_settlement_items_failure_has_reason"), FAILED_HAS_REASON)
    op.drop_index("ix_ledger_transactions_deal_id", table_name="ledger_transactions")
    op.create_index("ix_ledger_transactions_deal_id", "ledger_transactions", ["deal_id"],
                    postgresql_where=sa.text("deal_id IS NOT NULL"), sqlite_where=sa.text("deal_id IS NOT NULL"))
    if dialect == "postgresql":
        op.execute("ALTER TABLE settlement_items SET (fillfactor = 45)")
        op.execute("ALTER TABLE payout_accounts SET (fillfactor = 50)")


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("ALTER TABLE payout_accounts RESET (fillfactor)")
        op.execute("ALTER TABLE settlement_items RESET (fillfactor)")
    op.drop_index("ix_ledger_transactions_deal_id", table_name="ledger_transactions")
    op.create_index("ix_ledger_transactions_deal_id", "ledger_transactions", ["deal_id"])
    if dialect == "sqlite":
        op.execute("PRAGMA defer_foreign_keys = ON")
    with op.batch_alter_table("settlement_items", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_settlement_items_failure_has_reason"), type_="check")
    op.drop_index("ix_settlement_items_failed", table_name="settlement_items")
    op.create_index("ix_settlement_items_status", "settlement_items", ["status"])
