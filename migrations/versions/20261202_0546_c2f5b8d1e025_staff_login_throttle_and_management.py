"""Staff login throttling and staff management.

* ``staff_login_throttles``: failed sign-ins counted per normalised username (known or
  unknown alike) and per client address, with the back-off each key earned. It replaces
  the per-account lock (``staff_users.failed_logins`` / ``locked_until``), which let
  anyone lock any account by name and told which names exist.
* ``staff_audit_log``: every change to a staff account (create, role, deactivate,
  reactivate, password reset, sign-out everywhere, unlock), append-only: triggers refuse
  UPDATE and DELETE as for the other immutable records.

Revision ID: c2f5b8d1e025
Revises: b1e4a7c0d914
Create Date: 2026-12-02 05:45:00+00:00
"""
from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa


revision = "c2f5b8d1e025"
down_revision = "b1e4a7c0d914"
branch_labels = None
depends_on = None

AUDIT = "staff_audit_log"


@contextmanager
def altering_staff_users():
    """Batch-alter ``staff_users``. On SQLite that copies the table and drops the old one,
    which foreign keys from other tables (deals, approvals, …) refuse while enforced; so,
    as SQLite's own procedure for table changes says: foreign keys off outside any
    transaction, the rebuild in one transaction, ``foreign_key_check``, commit, back on."""
    if op.get_bind().dialect.name != "sqlite":
        with op.batch_alter_table("staff_users", schema=None) as batch_op:
            yield batch_op
        return
    with op.get_context().autocommit_block():
        connection = op.get_bind()
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.exec_driver_sql("BEGIN")
        try:
            with op.batch_alter_table("staff_users", schema=None) as batch_op:
                yield batch_op
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"rebuilding staff_users broke foreign keys: {broken[:5]}")
        except BaseException:
            connection.exec_driver_sql("ROLLBACK")
            raise
        else:
            connection.exec_driver_sql("COMMIT")
        finally:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")


def upgrade() -> None:
    op.create_table(
        "staff_login_throttles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_failure_at", sa.DateTime(), nullable=True),
        sa.Column("blocked_until", sa.DateTime(), nullable=True),
        sa.CheckConstraint("failures >= 0", name=op.f("ck_staff_login_throttles_failures_non_negative")),
        sa.CheckConstraint("scope IN ('username', 'ip')", name=op.f("ck_staff_login_throttles_scope_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_login_throttles")),
        sa.UniqueConstraint("scope", "key", name=op.f("uq_staff_login_throttles_scope_key")),
    )
    op.create_table(
        AUDIT,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("action IN ('create', 'role', 'deactivate', 'reactivate', 'password', 'sign_out', "
                           "'unlock')", name=op.f("ck_staff_audit_log_action_known")),
        sa.CheckConstraint("channel IN ('api', 'page', 'cli')", name=op.f("ck_staff_audit_log_channel_known")),
        sa.ForeignKeyConstraint(["actor_id"], ["staff_users.id"], name=op.f("fk_staff_audit_log_actor_id_staff_users")),
        sa.ForeignKeyConstraint(["target_id"], ["staff_users.id"],
                                name=op.f("fk_staff_audit_log_target_id_staff_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_audit_log")),
    )
    op.create_index(op.f("ix_staff_audit_log_target_id"), AUDIT, ["target_id"], unique=False)

    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        # refuse_change_of_immutable_row() comes from the immutable-records revision.
        op.execute(f"""
            CREATE TRIGGER {AUDIT}_immutable
            BEFORE UPDATE OR DELETE ON {AUDIT}
            FOR EACH ROW EXECUTE FUNCTION refuse_change_of_immutable_row()
        """)
    elif dialect == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER {AUDIT}_no_{action.lower()}
                BEFORE {action} ON {AUDIT}
                BEGIN
                    SELECT RAISE(ABORT, '{AUDIT} rows are immutable ({action} refused)');
                END
            """)
    else:
        raise NotImplementedError(f"immutable-row triggers are not written for {dialect}")

    with altering_staff_users() as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_staff_users_failed_logins_non_negative"), type_="check")
        batch_op.drop_column("locked_until")
        batch_op.drop_column("failed_logins")


def downgrade() -> None:
    with altering_staff_users() as batch_op:
        batch_op.add_column(sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(), nullable=True))
        batch_op.create_check_constraint(batch_op.f("ck_staff_users_failed_logins_non_negative"),
                                         "failed_logins >= 0")

    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {AUDIT}_immutable ON {AUDIT}")
    elif dialect == "sqlite":
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {AUDIT}_no_{action}")
    op.drop_index(op.f("ix_staff_audit_log_target_id"), table_name=AUDIT)
    op.drop_table(AUDIT)
    op.drop_table("staff_login_throttles")
