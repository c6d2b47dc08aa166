"""Refused registration attempts and nightly risk flags (DESIGN §4; issue 11 §3).

* ``registration_attempts``: every registration a business rule refused (who, which
  project, the buyer's id or a keyed hash and masked phone, the refusal code, when),
  indexed for the risk jobs' windows per consultant and per project;
* ``risk_flags``: what the nightly jobs found, unique per (kind, subject_key) so a re-run
  inserts nothing, with score, reason, evidence and the queue's status (open, dismissed
  with a reason, disputed with its dispute);
* the jobs' thresholds on ``projects``, each with its default and its range (added in
  place with the check on the column, so SQLite does not rebuild the table).

Revision ID: c8f1b4d7e68b
Revises: b7e0a3c6d57a
Create Date: 2026-12-02 06:20:00+00:00
"""
from alembic import op
import sqlalchemy as sa

from estate_platform.db import UtcDateTime

revision = "c8f1b4d7e68b"
down_revision = "b7e0a3c6d57a"
branch_labels = None
depends_on = None

# column, default, lowest, highest (estate_platform.projects.models.RISK_THRESHOLD_RANGES)
THRESHOLDS = (
    ("risk_visit_within_minutes", 10, 1, 24 * 60),
    ("risk_deal_within_hours", 24, 1, 30 * 24),
    ("risk_collision_consultants", 3, 2, 100),
    ("risk_collision_days", 7, 1, 90),
    ("risk_velocity_count", 20, 2, 10_000),
    ("risk_velocity_minutes", 60, 1, 24 * 60),
    ("risk_fishing_refusals", 3, 1, 1000),
    ("risk_fishing_days", 7, 1, 90),
    ("risk_price_drop_bps", 500, 1, 10_000),
    ("risk_rerecord_days", 7, 1, 90),
)


def upgrade() -> None:
    for column, default, low, high in THRESHOLDS:
        op.add_column("projects", sa.Column(
            column, sa.Integer(),
            sa.CheckConstraint(f"{column} BETWEEN {low} AND {high}", name=op.f(f"ck_projects_{column}_range")),
            server_default=str(default), nullable=False))

    op.create_table("registration_attempts",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("consultant_id", sa.Integer(), nullable=False),
    sa.Column("project_id", sa.Integer(), nullable=False),
    sa.Column("buyer_id", sa.Integer(), nullable=True),
    sa.Column("buyer_phone_hash", sa.String(length=64), nullable=True),
    sa.Column("buyer_phone_masked", sa.String(length=16), nullable=True),
    sa.Column("code", sa.String(length=40), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint("buyer_id IS NOT NULL OR buyer_phone_hash IS NOT NULL OR buyer_phone_masked IS NOT NULL",
                       name=op.f("ck_registration_attempts_buyer_named")),
    sa.ForeignKeyConstraint(["buyer_id"], ["buyers.id"], name=op.f("fk_registration_attempts_buyer_id_buyers")),
    sa.ForeignKeyConstraint(["consultant_id"], ["consultants.id"],
                            name=op.f("fk_registration_attempts_consultant_id_consultants")),
    sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_registration_attempts_project_id_projects")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_registration_attempts"))
    )
    with op.batch_alter_table("registration_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_registration_attempts_consultant_id_created_at", ["consultant_id", "created_at"],
                              unique=False)
        batch_op.create_index("ix_registration_attempts_project_id_created_at", ["project_id", "created_at"],
                              unique=False)
        batch_op.create_index("ix_registration_attempts_buyer_id", ["buyer_id"], unique=False)

    op.create_table("risk_flags",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("kind", sa.String(length=30), nullable=False),
    sa.Column("subject_key", sa.String(length=120), nullable=False),
    sa.Column("project_id", sa.Integer(), nullable=False),
    sa.Column("consultant_id", sa.Integer(), nullable=True),
    sa.Column("buyer_id", sa.Integer(), nullable=True),
    sa.Column("registration_id", sa.Integer(), nullable=True),
    sa.Column("deal_id", sa.Integer(), nullable=True),
    sa.Column("score", sa.Integer(), nullable=False),
    sa.Column("reason_zh", sa.String(length=500), nullable=False),
    sa.Column("evidence", sa.JSON(), nullable=False),
    sa.Column("occurred_at", UtcDateTime(), nullable=False),
    sa.Column("status", sa.String(length=20), nullable=False),
    sa.Column("dismissed_by_id", sa.Integer(), nullable=True),
    sa.Column("dismissed_at", UtcDateTime(), nullable=True),
    sa.Column("dismiss_reason", sa.Text(), nullable=True),
    sa.Column("dispute_id", sa.Integer(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('anti_interception', 'short_deal', 'collision', 'velocity', 'fishing', "
                       "'price_drop', 'unit_rerecorded')", name=op.f("ck_risk_flags_kind_known")),
    sa.CheckConstraint("status IN ('open', 'dismissed', 'disputed')", name=op.f("ck_risk_flags_status_known")),
    sa.CheckConstraint("score BETWEEN 0 AND 100", name=op.f("ck_risk_flags_score_range")),
    sa.CheckConstraint("status <> 'dismissed' OR (dismissed_at IS NOT NULL AND dismiss_reason IS NOT NULL)",
                       name=op.f("ck_risk_flags_dismissal_explained")),
    sa.CheckConstraint("status <> 'disputed' OR dispute_id IS NOT NULL", name=op.f("ck_risk_flags_dispute_named")),
    sa.ForeignKeyConstraint(["buyer_id"], ["buyers.id"], name=op.f("fk_risk_flags_buyer_id_buyers")),
    sa.ForeignKeyConstraint(["consultant_id"], ["consultants.id"],
                            name=op.f("fk_risk_flags_consultant_id_consultants")),
    sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], name=op.f("fk_risk_flags_deal_id_deals")),
    sa.ForeignKeyConstraint(["dismissed_by_id"], ["staff_users.id"],
                            name=op.f("fk_risk_flags_dismissed_by_id_staff_users")),
    sa.ForeignKeyConstraint(["dispute_id"], ["disputes.id"], name=op.f("fk_risk_flags_dispute_id_disputes")),
    sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_risk_flags_project_id_projects")),
    sa.ForeignKeyConstraint(["registration_id"], ["registrations.id"],
                            name=op.f("fk_risk_flags_registration_id_registrations")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_flags")),
    sa.UniqueConstraint("kind", "subject_key", name=op.f("uq_risk_flags_kind_subject_key"))
    )
    with op.batch_alter_table("risk_flags", schema=None) as batch_op:
        batch_op.create_index("ix_risk_flags_status_occurred_at", ["status", "occurred_at"], unique=False)
        batch_op.create_index("ix_risk_flags_project_id_status", ["project_id", "status"], unique=False)
        batch_op.create_index("ix_risk_flags_consultant_id", ["consultant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("risk_flags", schema=None) as batch_op:
        batch_op.drop_index("ix_risk_flags_consultant_id")
        batch_op.drop_index("ix_risk_flags_project_id_status")
        batch_op.drop_index("ix_risk_flags_status_occurred_at")
    op.drop_table("risk_flags")
    with op.batch_alter_table("registration_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_registration_attempts_buyer_id")
        batch_op.drop_index("ix_registration_attempts_project_id_created_at")
        batch_op.drop_index("ix_registration_attempts_consultant_id_created_at")
    op.drop_table("registration_attempts")
    # In place again (no rebuild): SQLite drops a column together with its own check.
    for column, *_ in reversed(THRESHOLDS):
        if op.get_bind().dialect.name == "postgresql":
            op.drop_constraint(op.f(f"ck_projects_{column}_range"), "projects", type_="check")
        op.drop_column("projects", column)
