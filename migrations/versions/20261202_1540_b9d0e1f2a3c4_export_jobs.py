"""Export jobs and full-phone exports (issue 13 §3): slot

The slot stays in the chain as a no-op until its issue fills it.

Revision ID: b9d0e1f2a3c4
Revises: a8c9d0e1f2b3
Create Date: 2026-12-02 15:40:00+00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = "b9d0e1f2a3c4"
down_revision = "a8c9d0e1f2b3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
