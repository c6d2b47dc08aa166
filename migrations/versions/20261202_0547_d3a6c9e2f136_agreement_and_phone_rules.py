"""Agreement publishing and phone rules (reserved slot).

Revision ID: d3a6c9e2f136
Revises: c2f5b8d1e025
Create Date: 2026-12-02 05:45:00+00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = "d3a6c9e2f136"
down_revision = "c2f5b8d1e025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
