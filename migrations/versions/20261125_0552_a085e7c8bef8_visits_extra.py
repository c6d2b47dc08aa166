"""visits extra (reserved slot for this area's later schema changes; no-op until filled).

Revision ID: a085e7c8bef8
Revises: a458ca591a2d
Create Date: 2026-11-25 05:52:00+00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "a085e7c8bef8"
down_revision = "a458ca591a2d"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
