"""Index registrations by the invite link that brought them (per-link stats).

Revision ID: f1a2b3c4d5e6
Revises: d4c7251c1b1f
Create Date: 2026-11-25 06:20:00+00:00
"""
from alembic import op

revision = "f1a2b3c4d5e6"
down_revision = "d4c7251c1b1f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_registrations_source_link_id", "registrations", ["source_link_id"])


def downgrade() -> None:
    op.drop_index("ix_registrations_source_link_id", table_name="registrations")
