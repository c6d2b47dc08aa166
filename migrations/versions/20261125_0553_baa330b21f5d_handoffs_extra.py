"""handoffs extra: why a handoff ended, one open handoff per sender and buyer, offers by consultant.

* ``handoffs.ended_at`` / ``handoffs.end_reason``: when and why a handoff ended
  without a receiver (declined, timed_out, no_candidate, buyer_bound) or was cancelled.
* ``uq_handoffs_open_per_sender``: a sender has at most one open (offered) handoff
  of a buyer for a project, also under concurrent requests.
* ``ix_handoff_offers_consultant_id_outcome``: a consultant's received handoffs and
  his pending offers, which the pool counts as load.

Revision ID: baa330b21f5d
Revises: a085e7c8bef8
Create Date: 2026-11-25 05:53:00+00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "baa330b21f5d"
down_revision = "a085e7c8bef8"
branch_labels = None
depends_on = None

OPEN = "status = 'offered'"


def upgrade() -> None:
    op.add_column("handoffs", sa.Column("ended_at", sa.DateTime(), nullable=True))
    op.add_column("handoffs", sa.Column("end_reason", sa.String(length=40), nullable=True))
    op.create_index("uq_handoffs_open_per_sender", "handoffs", ["from_consultant_id", "project_id", "buyer_id"],
                    unique=True, sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))
    op.create_index("ix_handoff_offers_consultant_id_outcome", "handoff_offers", ["consultant_id", "outcome"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_handoff_offers_consultant_id_outcome", table_name="handoff_offers")
    op.drop_index("uq_handoffs_open_per_sender", table_name="handoffs")
    # Plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35): no table rebuild, so the
    # registrations ⇄ handoffs foreign keys are left alone.
    op.execute("ALTER TABLE handoffs DROP COLUMN end_reason")
    op.execute("ALTER TABLE handoffs DROP COLUMN ended_at")
