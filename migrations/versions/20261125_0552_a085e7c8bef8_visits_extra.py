"""visits extra: one scheduled visit per registration (partial unique index), and an
index for the site staff's list of the day's visits.

Revision ID: a085e7c8bef8
Revises: 7c2d4e6f8a10
Create Date: 2026-11-25 05:52:00+00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "a085e7c8bef8"
down_revision = "7c2d4e6f8a10"
branch_labels = None
depends_on = None

SCHEDULED = "status = 'scheduled'"


def upgrade() -> None:
    op.create_index("uq_visits_scheduled_per_registration", "visits", ["registration_id"], unique=True,
                    sqlite_where=sa.text(SCHEDULED), postgresql_where=sa.text(SCHEDULED))
    op.create_index("ix_visits_scheduled_at", "visits", ["scheduled_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_visits_scheduled_at", table_name="visits")
    op.drop_index("uq_visits_scheduled_per_registration", table_name="visits")
