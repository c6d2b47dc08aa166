"""Dashboards and exports (issue 13 §2-3): slot

The slot stays in the chain as a no-op until its issue fills it.

Revision ID: d5f6a7b8c9e0
Revises: c4e5f6a7b8d9
Create Date: 2026-12-02 11:50:00+00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = "d5f6a7b8c9e0"
down_revision = "c4e5f6a7b8d9"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
