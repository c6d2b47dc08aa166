"""settlement speed (reserved slot; filled in by the work on this, or left as a no-op)

Revision ID: e2a3b4c5d6e7
Revises: d1f2a3b4c5d6
Create Date: 2026-12-02 19:05:00+00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "e2a3b4c5d6e7"
down_revision = "d1f2a3b4c5d6"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
