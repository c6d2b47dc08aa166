"""Disputes, penalty terms and consultant credit (reserved slot).

Revision ID: e4b7d0f3a247
Revises: d3a6c9e2f136
Create Date: 2026-12-02 06:10:00+00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = "e4b7d0f3a247"
down_revision = "d3a6c9e2f136"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
