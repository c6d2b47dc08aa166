"""Collections, developer invoices, payable-when rules (issue 12 §1-2): slot

The slot stays in the chain as a no-op until its issue fills it.

Revision ID: a2c3d4e5f6b7
Revises: f1b2c3d4e5a6
Create Date: 2026-12-02 11:20:00+00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = "a2c3d4e5f6b7"
down_revision = "f1b2c3d4e5a6"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
