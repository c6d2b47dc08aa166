"""Speed and indexes (issue 16 §1, §5): the indexes the registration path and the
time-ranged lists and reports read.

* ``registrations (project_id, created_at)``: a project's registrations by day (reports,
  the admin list filtered by project).
* ``registrations (consultant_id, project_id, created_at)``: the low-credit daily cap's
  count in the registration path, an index-only range.
* ``registrations (project_id, buyer_id, consultant_id, ended_at) WHERE status = 'expired'``:
  the re-registration cooldown's ``max(ended_at)``, index-only and small (expired rows only).
* ``visits (confirmed_at)`` and ``deals (created_at)``: time-ranged reports and exports.

Revision ID: c4e5f6a7b8d9
Revises: b3d4e5f6a7c8
Create Date: 2026-12-02 11:40:00+00:00
"""
from alembic import op
import sqlalchemy as sa


revision = "c4e5f6a7b8d9"
down_revision = "b3d4e5f6a7c8"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_registrations_project_id_created_at", "registrations", ["project_id", "created_at"])
    op.create_index("ix_registrations_consultant_project_created", "registrations",
                    ["consultant_id", "project_id", "created_at"])
    op.create_index("ix_registrations_expired_project_buyer", "registrations",
                    ["project_id", "buyer_id", "consultant_id", "ended_at"],
                    sqlite_where=sa.text("status = 'expired'"), postgresql_where=sa.text("status = 'expired'"))
    op.create_index("ix_visits_confirmed_at", "visits", ["confirmed_at"])
    op.create_index("ix_deals_created_at", "deals", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_deals_created_at", table_name="deals")
    op.drop_index("ix_visits_confirmed_at", table_name="visits")
    op.drop_index("ix_registrations_expired_project_buyer", table_name="registrations")
    op.drop_index("ix_registrations_consultant_project_created", table_name="registrations")
    op.drop_index("ix_registrations_project_id_created_at", table_name="registrations")
