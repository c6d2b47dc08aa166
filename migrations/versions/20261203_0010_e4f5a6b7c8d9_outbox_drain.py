"""Registration outbox drain (issue 16 §1): the undelivered notifications' partial index

The request path no longer sends a broker message per unit of work: the worker's ``outbox.drain``
claims the outbox rows in batches. Pending buyer notices already have their partial index
(``ix_registrations_buyer_notice_pending``); this adds the notifications' one, holding only the
rows never tried, so the drain's claim reads no delivered row however large the table grows.

Revision ID: e4f5a6b7c8d9
Revises: d1f2a3b4c5d6
Create Date: 2026-12-03 00:10:00+00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "e4f5a6b7c8d9"
down_revision = "d1f2a3b4c5d6"
branch_labels = None
depends_on = None

UNDELIVERED = "delivered_at IS NULL AND delivery_error IS NULL"


def upgrade():
    op.create_index("ix_notifications_undelivered", "notifications", ["created_at", "id"],
                    sqlite_where=sa.text(UNDELIVERED), postgresql_where=sa.text(UNDELIVERED))


def downgrade():
    op.drop_index("ix_notifications_undelivered", table_name="notifications")
