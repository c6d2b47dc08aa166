"""Recognised commissions are told through an outbox of notices, once per consultant per batch (issue 16 §2)

Recognition wrote one notification per consultant per chunk of 1,000 deals: a consultant whose
deals fell in five chunks of one batch got five messages, and writing them was a tenth of the
batch's time. Now recognition writes one row per chunk into ``commission_notices`` (the deals it
recognised); the outbox drain turns the ready notices into one notification per
consultant and deletes them (``deals.notices``). A batch holds its notices back (``held_for``)
until its last statement releases them.

Revision ID: d0e1f2a3b4c5
Revises: c9d0e1f2a3b4
Create Date: 2026-12-03 13:00:00+00:00
"""
from alembic import op
import sqlalchemy as sa

from estate_platform.db import UtcDateTime

revision = "d0e1f2a3b4c5"
down_revision = "c9d0e1f2a3b4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("commission_notices",
                    sa.Column("id", sa.Integer(), nullable=False),
                    sa.Column("held_for", sa.String(length=32), nullable=True),
                    sa.Column("deals", sa.Text(), nullable=False),
                    sa.Column("created_at", UtcDateTime(), nullable=False),
                    sa.CheckConstraint("deals LIKE '[%]'", name=op.f("ck_commission_notices_deals_listed")),
                    sa.PrimaryKeyConstraint("id", name=op.f("pk_commission_notices")))


def downgrade() -> None:
    op.drop_table("commission_notices")
