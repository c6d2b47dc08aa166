"""recognition speed (reserved slot; filled in by the work on this, or left as a no-op)

Revision ID: d1f2a3b4c5d6
Revises: c0e1f2a3b4c5
Create Date: 2026-12-02 19:00:00+00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "d1f2a3b4c5d6"
down_revision = "c0e1f2a3b4c5"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
