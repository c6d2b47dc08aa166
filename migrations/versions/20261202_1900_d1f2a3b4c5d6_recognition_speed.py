"""Recognition speed: three row-level foreign keys become statement checks (issue 16 §2)

A recognition batch writes, per 1000 deals, about 1000 ledger transactions, 3000 commission
lines and 1800 notifications; the FOREIGN KEYs ``ledger_transactions.deal_id``,
``commission_lines.deal_id`` and ``notifications.consultant_id`` ran one locking index probe
per row. They are replaced by checks that refuse the same things, once per statement:
- a row whose deal (or consultant) does not exist is refused with SQLSTATE 23503, as the key
  did: on PostgreSQL an AFTER INSERT statement trigger locks the referenced rows of the whole
  statement at once (``FOR KEY SHARE``, the key's own lock, so a concurrent delete waits or
  makes the insert fail) and refuses when one is missing; a change of the column (only
  notifications are updatable) is checked by a row trigger; on SQLite (no statement triggers)
  row triggers do the same;
- a referenced deal or consultant can be neither deleted nor renumbered (row triggers on
  ``deals`` and ``consultants``, which fire only on DELETE or a change of ``id``).
SQLite rebuilds the three tables without the keys (foreign keys deferred meanwhile, so the
rows that reference them do not refuse the rebuild) and makes their immutability triggers
again.

Revision ID: d1f2a3b4c5d6
Revises: c0e1f2a3b4c5
Create Date: 2026-12-02 19:00:00+00:00
"""
from alembic import op
import sqlalchemy as sa  # noqa: F401

revision = "d1f2a3b4c5d6"
down_revision = "c0e1f2a3b4c5"
branch_labels = None
depends_on = None

# (child table, column, parent table, the key's name)
REFERENCES = (
    ("ledger_transactions", "deal_id", "deals", "fk_ledger_transactions_deal_id_deals"),
    ("commission_lines", "deal_id", "deals", "fk_commission_lines_deal_id_deals"),
    ("notifications", "consultant_id", "consultants", "fk_notifications_consultant_id_consultants"),
)
IMMUTABLE = ("ledger_transactions", "commission_lines")  # revision 9a3c5e7b1d20's SQLite triggers

# Child side, once per statement: TG_ARGV = (column, parent table).
POSTGRES_STATEMENT_CHECK = """
CREATE OR REPLACE FUNCTION refuse_missing_reference() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    wanted bigint;
    found bigint;
BEGIN
    EXECUTE format('SELECT COUNT(DISTINCT %1$I) FROM new_rows', TG_ARGV[0]) INTO wanted;
    IF wanted = 0 THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT COUNT(*) FROM (SELECT 1 FROM %2$I p WHERE p.id IN (SELECT %1$I FROM new_rows) '
                   'FOR KEY SHARE OF p) locked', TG_ARGV[0], TG_ARGV[1]) INTO found;
    IF found < wanted THEN
        RAISE EXCEPTION 'insert into % refers to a missing row of % (%)', TG_TABLE_NAME, TG_ARGV[1], TG_ARGV[0]
              USING ERRCODE = '23503';
    END IF;
    RETURN NULL;
END;
$$
"""

# Child side, a row whose reference changes: TG_ARGV = (column, parent table).
POSTGRES_ROW_CHECK = """
CREATE OR REPLACE FUNCTION refuse_missing_reference_row() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    target bigint;
    locked integer;
BEGIN
    EXECUTE format('SELECT ($1).%I', TG_ARGV[0]) INTO target USING NEW;
    IF target IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT COUNT(*) FROM (SELECT 1 FROM %I p WHERE p.id = $1 FOR KEY SHARE OF p) locked',
                   TG_ARGV[1]) INTO locked USING target;
    IF locked = 0 THEN
        RAISE EXCEPTION 'update of % refers to a missing row of % (% = %)', TG_TABLE_NAME, TG_ARGV[1],
              TG_ARGV[0], target USING ERRCODE = '23503';
    END IF;
    RETURN NULL;
END;
$$
"""

# Parent side: TG_ARGV = pairs of (child table, column).
POSTGRES_PARENT_KEPT = """
CREATE OR REPLACE FUNCTION refuse_removing_referenced_row() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    i integer := 0;
    referenced boolean;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NEW;
    END IF;
    WHILE i < TG_NARGS LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I = $1)', TG_ARGV[i], TG_ARGV[i + 1])
           INTO referenced USING OLD.id;
        IF referenced THEN
            RAISE EXCEPTION '% % is referenced by % (% refused)', TG_TABLE_NAME, OLD.id, TG_ARGV[i], TG_OP
                  USING ERRCODE = '23503';
        END IF;
        i := i + 2;
    END LOOP;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END;
$$
"""

PARENTS = {"deals": (("ledger_transactions", "deal_id"), ("commission_lines", "deal_id")),
           "consultants": (("notifications", "consultant_id"),)}


def _postgres_upgrade() -> None:
    op.execute(POSTGRES_STATEMENT_CHECK)
    op.execute(POSTGRES_ROW_CHECK)
    op.execute(POSTGRES_PARENT_KEPT)
    for table, column, parent, key in REFERENCES:
        op.drop_constraint(key, table, type_="foreignkey")
        op.execute(f"""
            CREATE TRIGGER {table}_{column}_exists
            AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION refuse_missing_reference('{column}', '{parent}')
        """)
        op.execute(f"""
            CREATE TRIGGER {table}_{column}_exists_on_update
            AFTER UPDATE OF {column} ON {table}
            FOR EACH ROW WHEN (NEW.{column} IS DISTINCT FROM OLD.{column})
            EXECUTE FUNCTION refuse_missing_reference_row('{column}', '{parent}')
        """)
    for parent, children in PARENTS.items():
        arguments = ", ".join(f"'{name}'" for pair in children for name in pair)
        op.execute(f"""
            CREATE TRIGGER {parent}_kept_while_referenced
            BEFORE DELETE OR UPDATE OF id ON {parent}
            FOR EACH ROW EXECUTE FUNCTION refuse_removing_referenced_row({arguments})
        """)


def _postgres_downgrade() -> None:
    for parent in PARENTS:
        op.execute(f"DROP TRIGGER IF EXISTS {parent}_kept_while_referenced ON {parent}")
    for table, column, parent, key in REFERENCES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_{column}_exists_on_update ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_{column}_exists ON {table}")
        op.create_foreign_key(key, table, parent, [column], ["id"])
    op.execute("DROP FUNCTION IF EXISTS refuse_removing_referenced_row()")
    op.execute("DROP FUNCTION IF EXISTS refuse_missing_reference_row()")
    op.execute("DROP FUNCTION IF EXISTS refuse_missing_reference()")


def _sqlite_immutable(table: str) -> None:
    for action in ("UPDATE", "DELETE"):
        op.execute(f"""
            CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()}
            BEFORE {action} ON {table}
            BEGIN
                SELECT RAISE(ABORT, '{table} rows are immutable ({action} refused)');
            END
        """)


def _sqlite_triggers() -> list[tuple[str, str]]:
    """(name, statement) of the SQLite triggers that stand in for the keys."""
    triggers = []
    for table, column, parent, _ in REFERENCES:
        missing = f"NEW.{column} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {parent} WHERE id = NEW.{column})"
        triggers.append((f"{table}_{column}_exists", f"""
            CREATE TRIGGER {table}_{column}_exists BEFORE INSERT ON {table} WHEN {missing}
            BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: {table}.{column} refers to a missing row of {parent}'); END"""))
        triggers.append((f"{table}_{column}_exists_on_update", f"""
            CREATE TRIGGER {table}_{column}_exists_on_update BEFORE UPDATE OF {column} ON {table} WHEN {missing}
            BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: {table}.{column} refers to a missing row of {parent}'); END"""))
    for parent, children in PARENTS.items():
        referenced = " OR ".join(f"EXISTS (SELECT 1 FROM {child} WHERE {column} = OLD.id)" for child, column in children)
        triggers.append((f"{parent}_kept_delete", f"""
            CREATE TRIGGER {parent}_kept_delete BEFORE DELETE ON {parent} WHEN {referenced}
            BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: {parent} row is referenced (DELETE refused)'); END"""))
        triggers.append((f"{parent}_kept_update", f"""
            CREATE TRIGGER {parent}_kept_update BEFORE UPDATE OF id ON {parent} WHEN NEW.id <> OLD.id AND ({referenced})
            BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: {parent} row is referenced (UPDATE refused)'); END"""))
    return triggers


# Revision c0e1f2a3b4c5's trigger on ledger_postings names ledger_transactions: SQLite refuses to
# rename a table into place while a trigger names a table that is missing, so it is made again.
SQLITE_POSTINGS_REFERENCES = """CREATE TRIGGER ledger_postings_references
       BEFORE INSERT ON ledger_postings
       WHEN NOT EXISTS (SELECT 1 FROM ledger_transactions WHERE id = NEW.transaction_id)
         OR NOT EXISTS (SELECT 1 FROM ledger_accounts WHERE id = NEW.account_id)
       BEGIN
           SELECT RAISE(ABORT, 'ledger posting refers to a missing transaction or account');
       END"""


def _sqlite_rebuild(add_keys: bool) -> None:
    # The rebuild drops and renames tables others refer to: their keys are checked at commit, when
    # every row is back.
    op.execute("PRAGMA defer_foreign_keys = ON")
    op.execute("DROP TRIGGER IF EXISTS ledger_postings_references")
    for table, column, parent, key in REFERENCES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            if add_keys:
                batch_op.create_foreign_key(key, parent, [column], ["id"])
            else:
                batch_op.drop_constraint(key, type_="foreignkey")
    for table in IMMUTABLE:
        _sqlite_immutable(table)
    op.execute(SQLITE_POSTINGS_REFERENCES)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        _postgres_upgrade()
    elif dialect == "sqlite":
        _sqlite_rebuild(add_keys=False)
        for _, statement in _sqlite_triggers():
            op.execute(statement)
    else:
        raise NotImplementedError(f"reference triggers are not written for {dialect}")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        _postgres_downgrade()
    elif dialect == "sqlite":
        for name, _ in _sqlite_triggers():
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        _sqlite_rebuild(add_keys=True)
    else:
        raise NotImplementedError(f"reference triggers are not written for {dialect}")
