"""crm extra (reserved slot for this area's later schema changes; no-op until filled).

Revision ID: d4c7251c1b1f
Revises: baa330b21f5d
Create Date: 2026-11-25 05:54:00+00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "d4c7251c1b1f"
down_revision = "baa330b21f5d"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
