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
3. An item's batch and payout account are checked once per statement, not once per row: the
   two FOREIGN KEYs of ``settlement_items`` (two row-level checks per item, prepare writes 50,000)
   become what revision d1f2a3b4c5d6 made of the ledger's: on PostgreSQL a statement trigger
   (``refuse_missing_reference``: the referenced rows of the whole statement locked ``FOR KEY
   SHARE``, the key's own lock, SQLSTATE 23503 when one is missing), a row trigger when the column
   changes, and the parents (batches, payout accounts) can be neither deleted nor renumbered while
   an item refers to them; on SQLite row triggers do the same (the table is rebuilt without keys).
4. ``ix_ledger_transactions_deal_id`` holds only transactions of a deal (``WHERE deal_id IS NOT
   NULL``): a payout or settled transaction (no deal) writes no entry into it. Every query by
   deal (``deal_id = …``, the statement check, the deals' kept trigger) implies the predicate.

Revision ID: a6b7c8d9e0f1
Revises: e4f5a6b7c8d9
Create Date: 2026-12-03 00:20:00+00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "a6b7c8d9e0f1"
down_revision = "e4f5a6b7c8d9"
branch_labels = None
depends_on = None

FAILED_HAS_REASON = "(status = 'failed') = (failure_reason IS NOT NULL)"

# (column of settlement_items, parent table, the key's name)
REFERENCES = (("batch_id", "settlement_batches", "fk_settlement_items_batch_id_settlement_batches"),
              ("payout_account_id", "payout_accounts", "fk_settlement_items_payout_account_id_payout_accounts"))
# (trigger, its table): the same names on both databases.
REFERENCE_TRIGGERS = tuple(
    [(f"settlement_items_{column}_exists", "settlement_items") for column, _, _ in REFERENCES]
    + [(f"settlement_items_{column}_exists_on_update", "settlement_items") for column, _, _ in REFERENCES]
    + [(f"{parent}_kept_while_items_refer", parent) for _, parent, _ in REFERENCES]
    + [(f"{parent}_kept_update_while_items_refer", parent) for _, parent, _ in REFERENCES])


def _postgres_reference_triggers() -> list[str]:
    """Revision d1f2a3b4c5d6's functions (refuse_missing_reference, …_row, refuse_removing_referenced_row)."""
    statements = []
    for column, parent, _ in REFERENCES:
        statements.append(f"""
            CREATE TRIGGER settlement_items_{column}_exists
            AFTER INSERT ON settlement_items REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION refuse_missing_reference('{column}', '{parent}')""")
        statements.append(f"""
            CREATE TRIGGER settlement_items_{column}_exists_on_update
            AFTER UPDATE OF {column} ON settlement_items
            FOR EACH ROW WHEN (NEW.{column} IS DISTINCT FROM OLD.{column})
            EXECUTE FUNCTION refuse_missing_reference_row('{column}', '{parent}')""")
        statements.append(f"""
            CREATE TRIGGER {parent}_kept_while_items_refer
            BEFORE DELETE OR UPDATE OF id ON {parent}
            FOR EACH ROW EXECUTE FUNCTION refuse_removing_referenced_row('settlement_items', '{column}')""")
    return statements


def _sqlite_reference_triggers() -> list[str]:
    statements = []
    for column, parent, _ in REFERENCES:
        missing = f"NEW.{column} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {parent} WHERE id = NEW.{column})"
        refused = f"FOREIGN KEY constraint failed: settlement_items.{column} refers to a missing row of {parent}"
        statements.append(f"""
            CREATE TRIGGER settlement_items_{column}_exists BEFORE INSERT ON settlement_items WHEN {missing}
            BEGIN SELECT RAISE(ABORT, '{refused}'); END""")
        statements.append(f"""
            CREATE TRIGGER settlement_items_{column}_exists_on_update BEFORE UPDATE OF {column} ON settlement_items
            WHEN {missing}
            BEGIN SELECT RAISE(ABORT, '{refused}'); END""")
        referenced = f"EXISTS (SELECT 1 FROM settlement_items WHERE {column} = OLD.id)"
        statements.append(f"""
            CREATE TRIGGER {parent}_kept_while_items_refer BEFORE DELETE ON {parent} WHEN {referenced}
            BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: {parent} row is referenced (DELETE refused)'); END""")
        statements.append(f"""
            CREATE TRIGGER {parent}_kept_update_while_items_refer BEFORE UPDATE OF id ON {parent}
            WHEN NEW.id <> OLD.id AND {referenced}
            BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: {parent} row is referenced (UPDATE refused)'); END""")
    return statements


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
        for column, _parent, key in REFERENCES:
            batch_op.drop_constraint(key, type_="foreignkey")
    for statement in (_postgres_reference_triggers() if dialect == "postgresql" else _sqlite_reference_triggers()):
        op.execute(statement)
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
    for name, table in REFERENCE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if dialect == "postgresql" else ""))
    if dialect == "sqlite":
        op.execute("PRAGMA defer_foreign_keys = ON")
    with op.batch_alter_table("settlement_items", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_settlement_items_failure_has_reason"), type_="check")
        for column, parent, key in REFERENCES:
            batch_op.create_foreign_key(key, parent, [column], ["id"])
    op.drop_index("ix_settlement_items_failed", table_name="settlement_items")
    op.create_index("ix_settlement_items_status", "settlement_items", ["status"])
