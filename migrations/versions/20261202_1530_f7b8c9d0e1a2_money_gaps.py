"""Money in and out, gaps (issue 12): money applied to a cancelled deal goes back to unapplied
cash, dispute stakes are collected like deals, and payout limits set by finance

* ``collection_allocations.kind``: ``applied`` (a positive part of a payment on a deal) or
  ``returned`` (a negative row moving it back to the developer's unapplied cash after the deal
  was cancelled); the amount's sign must match the kind.
* a dispute's stake (upheld against the developer, no deal) is a receivable like a deal's:
  ``collection_allocations.dispute_id`` and ``commission_releases.dispute_id`` beside
  ``deal_id`` (exactly one of the two), ``commission_release_lines.stake_seq`` beside
  ``line_id`` (the stake's line by its place in the split).
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
        batch_op.add_column(sa.Column("dispute_id", sa.Integer(), nullable=True))
        batch_op.alter_column("deal_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_foreign_key(op.f("fk_collection_allocations_dispute_id_disputes"), "disputes",
                                    ["dispute_id"], ["id"])
        batch_op.create_unique_constraint(op.f("uq_collection_allocations_collection_id_batch_dispute_id"),
                                          ["collection_id", "batch", "dispute_id"])
        batch_op.create_check_constraint(op.f("ck_collection_allocations_one_source"),
                                         "(deal_id IS NULL) <> (dispute_id IS NULL)")
        batch_op.create_index("ix_collection_allocations_dispute_id", ["dispute_id"], unique=False)

    with op.batch_alter_table("commission_releases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dispute_id", sa.Integer(), nullable=True))
        batch_op.alter_column("deal_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_foreign_key(op.f("fk_commission_releases_dispute_id_disputes"), "disputes",
                                    ["dispute_id"], ["id"])
        batch_op.create_unique_constraint(op.f("uq_commission_releases_dispute_id_version_seq"),
                                          ["dispute_id", "version", "seq"])
        batch_op.create_check_constraint(op.f("ck_commission_releases_one_source"),
                                         "(deal_id IS NULL) <> (dispute_id IS NULL)")

    with op.batch_alter_table("commission_release_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stake_seq", sa.Integer(), nullable=True))
        batch_op.alter_column("line_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_unique_constraint(op.f("uq_commission_release_lines_release_id_stake_seq"),
                                          ["release_id", "stake_seq"])
        batch_op.create_check_constraint(op.f("ck_commission_release_lines_one_line"),
                                         "(line_id IS NULL) <> (stake_seq IS NULL)")

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
    # Stake releases and allocations have no deal to fall back on: they go with the columns.
    op.execute("DELETE FROM commission_release_lines WHERE stake_seq IS NOT NULL")
    op.execute("DELETE FROM commission_releases WHERE dispute_id IS NOT NULL")
    op.execute("DELETE FROM collection_allocations WHERE dispute_id IS NOT NULL OR kind = 'returned'")
    with op.batch_alter_table("commission_release_lines", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_commission_release_lines_one_line"), type_="check")
        batch_op.drop_constraint(op.f("uq_commission_release_lines_release_id_stake_seq"), type_="unique")
        batch_op.alter_column("line_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("stake_seq")
    with op.batch_alter_table("commission_releases", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_commission_releases_one_source"), type_="check")
        batch_op.drop_constraint(op.f("uq_commission_releases_dispute_id_version_seq"), type_="unique")
        batch_op.drop_constraint(op.f("fk_commission_releases_dispute_id_disputes"), type_="foreignkey")
        batch_op.alter_column("deal_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("dispute_id")
    with op.batch_alter_table("collection_allocations", schema=None) as batch_op:
        batch_op.drop_index("ix_collection_allocations_dispute_id")
        batch_op.drop_constraint(op.f("ck_collection_allocations_one_source"), type_="check")
        batch_op.drop_constraint(op.f("uq_collection_allocations_collection_id_batch_dispute_id"), type_="unique")
        batch_op.drop_constraint(op.f("fk_collection_allocations_dispute_id_disputes"), type_="foreignkey")
        batch_op.alter_column("deal_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("dispute_id")
        batch_op.drop_constraint(op.f("ck_collection_allocations_kind_signed"), type_="check")
        batch_op.drop_constraint(op.f("ck_collection_allocations_kind_known"), type_="check")
        batch_op.drop_constraint(op.f("ck_collection_allocations_amount_non_zero"), type_="check")
        batch_op.create_check_constraint(op.f("ck_collection_allocations_amount_positive"), "amount_cents > 0")
        batch_op.drop_column("kind")
