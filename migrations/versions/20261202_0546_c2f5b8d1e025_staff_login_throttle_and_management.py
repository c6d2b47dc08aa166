"""Staff login throttling and staff management (reserved slot).

Revision ID: c2f5b8d1e025
Revises: b1e4a7c0d914
Create Date: 2026-12-02 05:45:00+00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = "c2f5b8d1e025"
down_revision = "b1e4a7c0d914"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
