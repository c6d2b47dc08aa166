"""The ledger's balance trigger finds a posting's transaction and account by primary key, whatever
plan it keeps (issue 16 §2, §5)

``ledger_refuse_unbalanced`` (revision c0e1f2a3b4c5) checked every posting's transaction and account
with ``NOT EXISTS … OR NOT EXISTS …``. PL/pgSQL plans that query once per session and keeps the
plan; planned while the ledger was small (a new database, the first chunks of a batch), it hashed
the whole of ``ledger_transactions`` and ``ledger_accounts`` on every statement from then on, and
kept doing so as they grew: 44 ms per chunk of 1,000 transactions at the end of a 100k-deal batch
(``auto_explain``: two hashed SubPlans over sequential scans of 100,000 and 71,158 rows), so the
batch's time grew with the square of its size. A later ANALYZE would have replanned it; nothing
guaranteed one would come.

Now each distinct transaction and account of the statement is looked up by its primary key, one
probe each, and the function plans with sequential scans, hash and merge joins off, so no plan,
whenever it was made, reads either table whole: the check costs the same with 100 rows in the
ledger or 100 million. The refusals are the same (SQLSTATE 23514 and 23503, the same messages).
PostgreSQL only (SQLite's row triggers are unchanged).

Revision ID: e1f2a3b4c5d6
Revises: d0e1f2a3b4c5
Create Date: 2026-12-03 14:00:00+00:00
"""
from alembic import op

revision = "e1f2a3b4c5d6"
down_revision = "d0e1f2a3b4c5"
branch_labels = None
depends_on = None

BY_KEY = """
CREATE OR REPLACE FUNCTION ledger_refuse_unbalanced() RETURNS trigger
LANGUAGE plpgsql
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off
AS $$
DECLARE
    bad bigint;
    missing_account bigint;
BEGIN
    SELECT n.transaction_id INTO bad
      FROM new_postings n
     GROUP BY n.transaction_id
    HAVING SUM(n.amount_cents) <> 0 OR COUNT(*) < 2
     LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'ledger transaction % is unbalanced', bad USING ERRCODE = '23514';
    END IF;
    SELECT n.id INTO bad
      FROM (SELECT DISTINCT transaction_id AS id FROM new_postings) n
     WHERE NOT EXISTS (SELECT 1 FROM ledger_transactions t WHERE t.id = n.id)
     LIMIT 1;
    IF NOT FOUND THEN
        SELECT n.id INTO missing_account
          FROM (SELECT DISTINCT account_id AS id FROM new_postings) n
         WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.id = n.id)
         LIMIT 1;
        IF FOUND THEN
            SELECT p.transaction_id INTO bad FROM new_postings p WHERE p.account_id = missing_account LIMIT 1;
        END IF;
    END IF;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger posting of transaction % refers to a missing transaction or account', bad
              USING ERRCODE = '23503';
    END IF;
    RETURN NULL;
END;
$$
"""

# The function as revision c0e1f2a3b4c5 made it.
EITHER_MISSING = """
CREATE OR REPLACE FUNCTION ledger_refuse_unbalanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    bad bigint;
BEGIN
    SELECT n.transaction_id INTO bad
      FROM new_postings n
     GROUP BY n.transaction_id
    HAVING SUM(n.amount_cents) <> 0 OR COUNT(*) < 2
     LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'ledger transaction % is unbalanced', bad USING ERRCODE = '23514';
    END IF;
    SELECT n.transaction_id INTO bad
      FROM new_postings n
     WHERE NOT EXISTS (SELECT 1 FROM ledger_transactions t WHERE t.id = n.transaction_id)
        OR NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.id = n.account_id)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger posting of transaction % refers to a missing transaction or account', bad
              USING ERRCODE = '23503';
    END IF;
    RETURN NULL;
END;
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(BY_KEY)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(EITHER_MISSING)
