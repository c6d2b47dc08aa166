"""crm extra: a partial index of follow-up notes still waiting for their reminder.

The reminder sweep asks for notes with ``next_contact_at <= now`` and
``reminded_at IS NULL``. The composite index of the first schema put every note
ever reminded in front of the waiting ones; the partial index holds only the
waiting notes.

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
    op.drop_index("ix_follow_up_notes_next_contact_at_reminded_at", table_name="follow_up_notes")
    op.create_index("ix_follow_up_notes_due", "follow_up_notes", ["next_contact_at"],
                    sqlite_where=sa.text("reminded_at IS NULL"), postgresql_where=sa.text("reminded_at IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_follow_up_notes_due", table_name="follow_up_notes")
    op.create_index("ix_follow_up_notes_next_contact_at_reminded_at", "follow_up_notes",
                    ["next_contact_at", "reminded_at"])
