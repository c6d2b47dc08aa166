"""Money in and out, gaps (issue 12): money applied to a cancelled deal goes back to unapplied
cash, and payout limits set by finance

* ``collection_allocations.kind``: ``applied`` (a positive part of a payment on a deal) or
  ``returned`` (a negative row moving it back to the developer's unapplied cash after the deal
  was cancelled); the amount's sign must match the kind.
* ``payout_limit_changes``: finance's payout limits, append-only, each row with the values it
  replaced and who changed them when.

Revision ID: f7b8c9d0e1a2
Revises: e6a7b8c9d0f1
Create Date: 2026-12-02 15:30:00+00:00
"""
from alembic import op
import sqlalchemy as sa

from estate_platform.db import UtcDateTime


revision = "f7b8c9d0e1a2"
down_revision = "e6a7b8c9d0f1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("collection_allocations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=20), server_default="applied", nullable=False))
        batch_op.drop_constraint(op.f("ck_collection_allocations_amount_positive"), type_="check")
        batch_op.create_check_constraint(op.f("ck_collection_allocations_amount_non_zero"), "amount_cents <> 0")
        batch_op.create_check_constraint(op.f("ck_collection_allocations_kind_known"), "kind IN ('applied', 'returned')")
        batch_op.create_check_constraint(op.f("ck_collection_allocations_kind_signed"),
                                         "(kind = 'applied') = (amount_cents > 0)")

    op.create_table(
        "payout_limit_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("min_cents", sa.BigInteger(), nullable=False),
        sa.Column("max_cents", sa.BigInteger(), nullable=False),
        sa.Column("daily_max_cents", sa.BigInteger(), nullable=False),
        sa.Column("previous_min_cents", sa.BigInteger(), nullable=False),
        sa.Column("previous_max_cents", sa.BigInteger(), nullable=False),
        sa.Column("previous_daily_max_cents", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("changed_by_id", sa.Integer(), nullable=False),
        sa.Column("changed_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("min_cents >= 0 AND max_cents >= min_cents AND daily_max_cents >= max_cents",
                           name=op.f("ck_payout_limit_changes_limits_ordered")),
        sa.CheckConstraint("previous_min_cents >= 0 AND previous_max_cents >= 0 AND previous_daily_max_cents >= 0",
                           name=op.f("ck_payout_limit_changes_previous_non_negative")),
        sa.ForeignKeyConstraint(["changed_by_id"], ["staff_users.id"],
                                name=op.f("fk_payout_limit_changes_changed_by_id_staff_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_limit_changes")),
    )


def downgrade() -> None:
    op.drop_table("payout_limit_changes")
    op.execute("DELETE FROM collection_allocations WHERE kind = 'returned'")
    with op.batch_alter_table("collection_allocations", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_collection_allocations_kind_signed"), type_="check")
        batch_op.drop_constraint(op.f("ck_collection_allocations_kind_known"), type_="check")
        batch_op.drop_constraint(op.f("ck_collection_allocations_amount_non_zero"), type_="check")
        batch_op.create_check_constraint(op.f("ck_collection_allocations_amount_positive"), "amount_cents > 0")
        batch_op.drop_column("kind")
