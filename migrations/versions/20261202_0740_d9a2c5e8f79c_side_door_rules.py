"""Side doors closed (issue 15 §2): maker-checker deal changes, verified consultant phones,
proof of presence for a buyer's own visit confirmation.

* ``deal_change_requests``: a site staff's cancellation (退房) or back-dated recording (补录)
  waits for platform operations, finance or an admin; the database refuses a decision by
  the requester and a second pending request of one kind for one deal;
* ``consultants.phone_verified_at``: when he proved the phone by SMS code. Consultants who
  joined before stay NULL: they must verify (asked at their next sign-in);
* ``visits.presence_failures``: wrong sales-office codes a buyer typed for the visit.

Columns are added in place (ALTER TABLE ADD COLUMN), so SQLite rebuilds no table.

Revision ID: d9a2c5e8f79c
Revises: c8f1b4d7e68b
Create Date: 2026-12-02 07:40:00+00:00
"""
from alembic import op
import sqlalchemy as sa

from estate_platform.db import UtcDateTime

revision = "d9a2c5e8f79c"
down_revision = "c8f1b4d7e68b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("consultants", sa.Column("phone_verified_at", UtcDateTime(), nullable=True))
    op.add_column("visits", sa.Column("presence_failures", sa.Integer(),
                                      sa.CheckConstraint("presence_failures >= 0",
                                                         name=op.f("ck_visits_presence_failures_non_negative")),
                                      server_default="0", nullable=False))

    op.create_table(
        "deal_change_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("deal_id", sa.Integer(), nullable=True),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("consultant_id", sa.Integer(), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", UtcDateTime(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("objection", sa.Text(), nullable=True),
        sa.Column("objected_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('cancel', 'backdate')", name=op.f("ck_deal_change_requests_kind_known")),
        sa.CheckConstraint("status IN ('pending', 'approved', 'rejected', 'withdrawn')",
                           name=op.f("ck_deal_change_requests_status_known")),
        sa.CheckConstraint("kind <> 'cancel' OR deal_id IS NOT NULL",
                           name=op.f("ck_deal_change_requests_cancel_names_deal")),
        sa.CheckConstraint("(status = 'pending') = (decided_at IS NULL)",
                           name=op.f("ck_deal_change_requests_decided_when_closed")),
        sa.CheckConstraint("status NOT IN ('approved', 'rejected') OR decided_by_id IS NOT NULL",
                           name=op.f("ck_deal_change_requests_decision_has_decider")),
        sa.CheckConstraint("decided_by_id IS NULL OR decided_by_id <> requested_by_id",
                           name=op.f("ck_deal_change_requests_four_eyes")),
        sa.CheckConstraint("(objection IS NULL) = (objected_at IS NULL)",
                           name=op.f("ck_deal_change_requests_objection_dated")),
        sa.ForeignKeyConstraint(["consultant_id"], ["consultants.id"],
                                name=op.f("fk_deal_change_requests_consultant_id_consultants")),
        sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], name=op.f("fk_deal_change_requests_deal_id_deals")),
        sa.ForeignKeyConstraint(["decided_by_id"], ["staff_users.id"],
                                name=op.f("fk_deal_change_requests_decided_by_id_staff_users")),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"],
                                name=op.f("fk_deal_change_requests_project_id_projects")),
        sa.ForeignKeyConstraint(["registration_id"], ["registrations.id"],
                                name=op.f("fk_deal_change_requests_registration_id_registrations")),
        sa.ForeignKeyConstraint(["requested_by_id"], ["staff_users.id"],
                                name=op.f("fk_deal_change_requests_requested_by_id_staff_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deal_change_requests")),
    )
    with op.batch_alter_table("deal_change_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deal_change_requests_project_id"), ["project_id"], unique=False)
        batch_op.create_index("ix_deal_change_requests_status_created_at", ["status", "created_at"], unique=False)
        batch_op.create_index("ix_deal_change_requests_consultant_id_created_at", ["consultant_id", "created_at"],
                              unique=False)
        batch_op.create_index("uq_deal_change_requests_pending_deal_kind", ["deal_id", "kind"], unique=True,
                              sqlite_where=sa.text("status = 'pending'"),
                              postgresql_where=sa.text("status = 'pending'"))


def downgrade() -> None:
    with op.batch_alter_table("deal_change_requests", schema=None) as batch_op:
        batch_op.drop_index("uq_deal_change_requests_pending_deal_kind", sqlite_where=sa.text("status = 'pending'"),
                            postgresql_where=sa.text("status = 'pending'"))
        batch_op.drop_index("ix_deal_change_requests_consultant_id_created_at")
        batch_op.drop_index("ix_deal_change_requests_status_created_at")
        batch_op.drop_index(batch_op.f("ix_deal_change_requests_project_id"))
    op.drop_table("deal_change_requests")
    # In place again (no rebuild): SQLite drops a column together with its own check.
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("ck_visits_presence_failures_non_negative"), "visits", type_="check")
    op.drop_column("visits", "presence_failures")
    op.drop_column("consultants", "phone_verified_at")
