"""Buy-back (issue 13 §1): slot

The slot stays in the chain as a no-op until its issue fills it.

Revision ID: e6a7b8c9d0f1
Revises: d5f6a7b8c9e0
Create Date: 2026-12-02 11:55:00+00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = "e6a7b8c9d0f1"
down_revision = "d5f6a7b8c9e0"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
