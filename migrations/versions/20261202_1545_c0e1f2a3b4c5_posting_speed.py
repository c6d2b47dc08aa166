"""Posting speed: recognition and settlement (issues 12 §4, 16 §2)

1. The ledger's balance check reads only the statement's own rows. It is a statement trigger
   (``REFERENCING NEW TABLE``) that refused any transaction touched by the statement whose
   postings, old and new, did not sum to zero: one index probe into ``ledger_postings`` per
   transaction. Every transaction already in the table balances (the same trigger checked it
   when its legs went in), so the old and the new legs together sum to zero exactly when the
   new legs do: summing the transition table refuses the same statements without reading the
   table. A leg is never zero (CHECK), so a lone new leg never sums to zero and is refused too.

2. A leg's transaction and account are checked once per statement, not once per row. The two
   FOREIGN KEYs of ``ledger_postings`` ran a row-level check per leg (two per leg: about a third
   of a recognition batch's time on PostgreSQL). They are replaced by what refuses the same:
   - a leg whose transaction or account does not exist is refused (SQLSTATE 23503, as the key
     did): on PostgreSQL the balance trigger checks the statement's legs in one query, on
     SQLite (no statement triggers) a BEFORE INSERT row trigger;
   - the referenced rows cannot go away: transactions are immutable already (no UPDATE or
     DELETE), and an account with legs can be neither deleted nor renumbered (new triggers).

SQLite has no statement triggers (``ledger.services.check_balanced`` checks the balance before
inserting). Its ``ledger_postings`` is rebuilt without the keys, so its immutability triggers
are made again after the rebuild.

Revision ID: c0e1f2a3b4c5
Revises: b9d0e1f2a3c4
Create Date: 2026-12-02 15:45:00+00:00
"""
from alembic import op
import sqlalchemy as sa  # noqa: F401


revision = "c0e1f2a3b4c5"
down_revision = "b9d0e1f2a3c4"
branch_labels = None
depends_on = None

BALANCED_FROM_NEW_ROWS = """
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

POSTGRES_ACCOUNT_KEPT = """
CREATE OR REPLACE FUNCTION ledger_refuse_removing_used_account() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM ledger_postings WHERE account_id = OLD.id) THEN
        RAISE EXCEPTION 'ledger account % has postings (% refused)', OLD.id, TG_OP USING ERRCODE = '23503';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END;
$$
"""

SQLITE_TRIGGERS = (
    """CREATE TRIGGER ledger_postings_references
       BEFORE INSERT ON ledger_postings
       WHEN NOT EXISTS (SELECT 1 FROM ledger_transactions WHERE id = NEW.transaction_id)
         OR NOT EXISTS (SELECT 1 FROM ledger_accounts WHERE id = NEW.account_id)
       BEGIN
           SELECT RAISE(ABORT, 'ledger posting refers to a missing transaction or account');
       END""",
    """CREATE TRIGGER ledger_accounts_kept_delete
       BEFORE DELETE ON ledger_accounts
       WHEN EXISTS (SELECT 1 FROM ledger_postings WHERE account_id = OLD.id)
       BEGIN
           SELECT RAISE(ABORT, 'ledger account has postings (DELETE refused)');
       END""",
    """CREATE TRIGGER ledger_accounts_kept_update
       BEFORE UPDATE OF id ON ledger_accounts
       WHEN NEW.id <> OLD.id AND EXISTS (SELECT 1 FROM ledger_postings WHERE account_id = OLD.id)
       BEGIN
           SELECT RAISE(ABORT, 'ledger account has postings (UPDATE refused)');
       END""",
)
SQLITE_TRIGGER_NAMES = ("ledger_postings_references", "ledger_accounts_kept_delete", "ledger_accounts_kept_update")


def sqlite_immutable_postings() -> None:
    """The immutability triggers of revision 9a3c5e7b1d20 (dropped with the rebuilt table)."""
    for action in ("UPDATE", "DELETE"):
        op.execute(f"""
            CREATE TRIGGER IF NOT EXISTS ledger_postings_no_{action.lower()}
            BEFORE {action} ON ledger_postings
            BEGIN
                SELECT RAISE(ABORT, 'ledger_postings rows are immutable ({action} refused)');
            END
        """)


FOREIGN_KEYS = (("fk_ledger_postings_account_id_ledger_accounts", "ledger_accounts", "account_id"),
                ("fk_ledger_postings_transaction_id_ledger_transactions", "ledger_transactions", "transaction_id"))

# The function as revision 9a3c5e7b1d20 made it (every posting of each touched transaction).
BALANCED_FROM_TABLE = """
CREATE OR REPLACE FUNCTION ledger_refuse_unbalanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    bad integer;
BEGIN
    SELECT p.transaction_id INTO bad
      FROM ledger_postings p
     WHERE p.transaction_id IN (SELECT DISTINCT transaction_id FROM new_postings)
     GROUP BY p.transaction_id
    HAVING SUM(p.amount_cents) <> 0 OR COUNT(*) < 2
     LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'ledger transaction % is unbalanced', bad USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
END;
$$
"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(BALANCED_FROM_NEW_ROWS)
        for name, _, _ in FOREIGN_KEYS:
            op.drop_constraint(name, "ledger_postings", type_="foreignkey")
        op.execute(POSTGRES_ACCOUNT_KEPT)
        op.execute("""
            CREATE TRIGGER ledger_accounts_kept
            BEFORE DELETE OR UPDATE OF id ON ledger_accounts
            FOR EACH ROW EXECUTE FUNCTION ledger_refuse_removing_used_account()
        """)
    elif dialect == "sqlite":
        with op.batch_alter_table("ledger_postings", schema=None) as batch_op:
            for name, _, _ in FOREIGN_KEYS:
                batch_op.drop_constraint(name, type_="foreignkey")
        sqlite_immutable_postings()
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    else:
        raise NotImplementedError(f"ledger triggers are not written for {dialect}")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS ledger_accounts_kept ON ledger_accounts")
        op.execute("DROP FUNCTION IF EXISTS ledger_refuse_removing_used_account()")
        for name, target, column in FOREIGN_KEYS:
            op.create_foreign_key(name, "ledger_postings", target, [column], ["id"])
        op.execute(BALANCED_FROM_TABLE)
    elif dialect == "sqlite":
        for name in SQLITE_TRIGGER_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        with op.batch_alter_table("ledger_postings", schema=None) as batch_op:
            for name, target, column in FOREIGN_KEYS:
                batch_op.create_foreign_key(name, target, [column], ["id"])
        sqlite_immutable_postings()
