"""Buyers' personal data (issue 15 §1): slot

The slot stays in the chain as a no-op until its issue fills it.

Revision ID: f1b2c3d4e5a6
Revises: e0a1b2c3d4f5
Create Date: 2026-12-02 11:10:00+00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = "f1b2c3d4e5a6"
down_revision = "e0a1b2c3d4f5"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
