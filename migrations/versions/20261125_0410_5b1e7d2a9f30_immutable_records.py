"""Immutable records: the database refuses UPDATE and DELETE of agreement versions,
agreement signatures and consultant status events (DESIGN §2, STYLE §8).

Revision ID: 5b1e7d2a9f30
Revises: c043a97a606e
Create Date: 2026-11-25 04:10:00+00:00
"""
from alembic import op

revision = "5b1e7d2a9f30"
down_revision = "c043a97a606e"
branch_labels = None
depends_on = None

IMMUTABLE_TABLES = ("agreement_versions", "agreement_signatures", "consultant_status_events")

# SQLSTATE 23001 (restrict_violation) makes drivers raise an IntegrityError, which the
# web layers map to the `immutable_record` refusal; the word "immutable" identifies it.
POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION refuse_change_of_immutable_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are immutable (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = '23001';
END;
$$
"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        for table in IMMUTABLE_TABLES:
            op.execute(f"""
                CREATE TRIGGER {table}_immutable
                BEFORE UPDATE OR DELETE ON {table}
                FOR EACH ROW EXECUTE FUNCTION refuse_change_of_immutable_row()
            """)
    elif dialect == "sqlite":
        for table in IMMUTABLE_TABLES:
            for action in ("UPDATE", "DELETE"):
                op.execute(f"""
                    CREATE TRIGGER {table}_no_{action.lower()}
                    BEFORE {action} ON {table}
                    BEGIN
                        SELECT RAISE(ABORT, '{table} rows are immutable ({action} refused)');
                    END
                """)
    else:
        raise NotImplementedError(f"immutable-row triggers are not written for {dialect}")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table in IMMUTABLE_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_immutable ON {table}")
        op.execute("DROP FUNCTION IF EXISTS refuse_change_of_immutable_row()")
    elif dialect == "sqlite":
        for table in IMMUTABLE_TABLES:
            for action in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")
