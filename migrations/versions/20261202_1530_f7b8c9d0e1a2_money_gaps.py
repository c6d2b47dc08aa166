"""Money in and out, gaps (issue 12): slot

The slot stays in the chain as a no-op until its issue fills it.

Revision ID: f7b8c9d0e1a2
Revises: e6a7b8c9d0f1
Create Date: 2026-12-02 15:30:00+00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = "f7b8c9d0e1a2"
down_revision = "e6a7b8c9d0f1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
