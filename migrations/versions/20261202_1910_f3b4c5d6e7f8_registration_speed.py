"""registration speed (reserved slot; filled in by the work on this, or left as a no-op)

Revision ID: f3b4c5d6e7f8
Revises: e2a3b4c5d6e7
Create Date: 2026-12-02 19:10:00+00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "f3b4c5d6e7f8"
down_revision = "e2a3b4c5d6e7"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
