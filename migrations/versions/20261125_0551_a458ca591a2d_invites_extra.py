"""invites extra (reserved slot for this area's later schema changes; no-op until filled).

Revision ID: a458ca591a2d
Revises: 7028cdfb4138
Create Date: 2026-11-25 05:51:00+00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "a458ca591a2d"
down_revision = "7028cdfb4138"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
