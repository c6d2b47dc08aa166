"""Invite opens counted only when a person's browser shows the page (reserved slot).

Revision ID: b1e4a7c0d914
Revises: 9a3c5e7b1d20
Create Date: 2026-12-02 05:45:00+00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = "b1e4a7c0d914"
down_revision = "9a3c5e7b1d20"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
