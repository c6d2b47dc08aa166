"""Registration outbox drain (issue 16 §1): reserved slot

Revision ID: e4f5a6b7c8d9
Revises: d1f2a3b4c5d6
Create Date: 2026-12-03 00:10:00+00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "e4f5a6b7c8d9"
down_revision = "d1f2a3b4c5d6"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
