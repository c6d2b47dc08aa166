"""Invite opens counted only when a person's browser shows the page: no schema change.

Opens keep their table (link_opens): only who writes a row changed (the landing
page's beacon instead of the page fetch), and unique visitors stay the distinct
visitor ids of a link's opens. Deals per link are read through
registrations.source_link_id, already indexed. The slot stays in the chain as a no-op.

Revision ID: b1e4a7c0d914
Revises: 9a3c5e7b1d20
Create Date: 2026-12-02 05:45:00+00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = "b1e4a7c0d914"
down_revision = "9a3c5e7b1d20"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
