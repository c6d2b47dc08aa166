"""handoffs extra (reserved slot for this area's later schema changes; no-op until filled).

Revision ID: baa330b21f5d
Revises: a085e7c8bef8
Create Date: 2026-11-25 05:53:00+00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "baa330b21f5d"
down_revision = "a085e7c8bef8"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
