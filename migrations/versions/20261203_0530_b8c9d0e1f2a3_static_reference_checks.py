"""Reference checks in static SQL (issue 16 §1): one function per reference, planned once per session

Revisions d1f2a3b4c5d6 and a6b7c8d9e0f1 replaced five FOREIGN KEYs by statement triggers
(``ledger_transactions.deal_id``, ``commission_lines.deal_id``, ``notifications.consultant_id``,
``settlement_items.batch_id``, ``settlement_items.payout_account_id``) that run the generic
``refuse_missing_reference(column, parent)``. Its two queries are built with ``format`` and run by
``EXECUTE``, so PostgreSQL parses and plans them again on every statement: ~0.1 ms, more than a
plain one-row INSERT costs, paid by every registration (its notification) and every single posting.
A batch of thousands of rows does not notice; a one-row statement does.

Now each reference has its own function with the same two queries written out (static SQL, which
PL/pgSQL prepares once per session and reuses), the same lock (``FOR KEY SHARE`` of the referenced
rows of the whole statement), the same refusal (SQLSTATE 23503, the same message) and the same
trigger name; only the function the trigger runs changes. A single-row INSERT with the check
measured 110–157 µs with the generic function, 37–53 µs with the static one, 30–35 µs with a
plain FOREIGN KEY. PostgreSQL only (SQLite's row triggers are unchanged). The generic function
stays for the downgrade.

Revision ID: b8c9d0e1f2a3
Revises: a6b7c8d9e0f1
Create Date: 2026-12-03 05:30:00+00:00
"""
from alembic import op

revision = "b8c9d0e1f2a3"
down_revision = "a6b7c8d9e0f1"
branch_labels = None
depends_on = None

# (child table, column, parent table): the statement triggers named ``{table}_{column}_exists``.
REFERENCES = (
    ("ledger_transactions", "deal_id", "deals"),
    ("commission_lines", "deal_id", "deals"),
    ("notifications", "consultant_id", "consultants"),
    ("settlement_items", "batch_id", "settlement_batches"),
    ("settlement_items", "payout_account_id", "payout_accounts"),
)


def _function(table: str, column: str, parent: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION {table}_{column}_exists() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    wanted bigint;
    found bigint;
BEGIN
    SELECT COUNT(DISTINCT n.{column}) INTO wanted FROM new_rows n;
    IF wanted = 0 THEN
        RETURN NULL;
    END IF;
    SELECT COUNT(*) INTO found FROM (
        SELECT 1 FROM {parent} p WHERE p.id IN (SELECT n.{column} FROM new_rows n) FOR KEY SHARE OF p) locked;
    IF found < wanted THEN
        RAISE EXCEPTION 'insert into % refers to a missing row of % (%)', TG_TABLE_NAME, '{parent}', '{column}'
              USING ERRCODE = '23503';
    END IF;
    RETURN NULL;
END;
$$
"""


def _trigger(table: str, column: str, function: str) -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {table}_{column}_exists ON {table}",
            f"""CREATE TRIGGER {table}_{column}_exists
                AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows
                FOR EACH STATEMENT EXECUTE FUNCTION {function}"""]


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, parent in REFERENCES:
        op.execute(_function(table, column, parent))
        for statement in _trigger(table, column, f"{table}_{column}_exists()"):
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, parent in REFERENCES:
        for statement in _trigger(table, column, f"refuse_missing_reference('{column}', '{parent}')"):
            op.execute(statement)
        op.execute(f"DROP FUNCTION IF EXISTS {table}_{column}_exists()")
