"""Payout accounts, settlement batches, payouts, statements (issue 12 §2-3): slot

The slot stays in the chain as a no-op until its issue fills it.

Revision ID: b3d4e5f6a7c8
Revises: a2c3d4e5f6b7
Create Date: 2026-12-02 11:30:00+00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = "b3d4e5f6a7c8"
down_revision = "a2c3d4e5f6b7"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
