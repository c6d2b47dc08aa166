"""Privacy and notices, gaps (issue 15): slot

The slot stays in the chain as a no-op until its issue fills it.

Revision ID: a8c9d0e1f2b3
Revises: f7b8c9d0e1a2
Create Date: 2026-12-02 15:35:00+00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = "a8c9d0e1f2b3"
down_revision = "f7b8c9d0e1a2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
