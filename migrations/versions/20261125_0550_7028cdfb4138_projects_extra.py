"""projects extra (reserved slot for this area's later schema changes; no-op until filled).

Revision ID: 7028cdfb4138
Revises: 7c2d4e6f8a10
Create Date: 2026-11-25 05:50:00+00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "7028cdfb4138"
down_revision = "7c2d4e6f8a10"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
