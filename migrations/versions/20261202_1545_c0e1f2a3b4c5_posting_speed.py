"""Posting speed: recognition and settlement (issues 12 §4, 16 §2): slot

The slot stays in the chain as a no-op until its issue fills it.

Revision ID: c0e1f2a3b4c5
Revises: b9d0e1f2a3c4
Create Date: 2026-12-02 15:45:00+00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = "c0e1f2a3b4c5"
down_revision = "b9d0e1f2a3c4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
