"""Revisits (回访): the calls operations make to buyers (DESIGN §4, §5a).

* ``revisits``: one task per subject and kind (unique (kind, subject_id): the scheduler
  inserts with ON CONFLICT DO NOTHING, so a re-run or two overlapping runs create each
  task once); checks that a closed task has its outcome, a claim has its holder and its
  end, and a purchase through another agency names it; the queue's indexes (status and
  due time, per project, per buyer);
* ``revisit_calls``: every recorded call, append-only (UPDATE and DELETE refused, as for
  the other immutable tables);
* ``revisit_opt_outs``: buyers who asked not to be called again (one row per buyer).

Revision ID: a6d9f2b5c469
Revises: f5c8e1a4b358
Create Date: 2026-12-02 07:10:00+00:00
"""
from alembic import op
import sqlalchemy as sa

from estate_platform.db import UtcDateTime

revision = "a6d9f2b5c469"
down_revision = "f5c8e1a4b358"
branch_labels = None
depends_on = None

OUTCOMES = ("'confirmed', 'denied_visit', 'bought_direct', 'bought_other_agent', 'unreachable', "
            "'do_not_contact'")


def append_only(table: str, direction: str) -> None:
    """UPDATE and DELETE refused (PostgreSQL reuses 5b1e7d2a9f30's ``refuse_change_of_immutable_row``)."""
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        if direction == "upgrade":
            op.execute(f"""
                CREATE TRIGGER {table}_immutable
                BEFORE UPDATE OR DELETE ON {table}
                FOR EACH ROW EXECUTE FUNCTION refuse_change_of_immutable_row()
            """)
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_immutable ON {table}")
    elif dialect == "sqlite":
        for action in ("UPDATE", "DELETE"):
            if direction == "upgrade":
                op.execute(f"""
                    CREATE TRIGGER {table}_no_{action.lower()}
                    BEFORE {action} ON {table}
                    BEGIN
                        SELECT RAISE(ABORT, '{table} rows are immutable ({action} refused)');
                    END
                """)
            else:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action.lower()}")
    else:
        raise NotImplementedError(f"append-only triggers are not written for {dialect}")


def upgrade() -> None:
    op.create_table("revisits",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("kind", sa.String(length=20), nullable=False),
    sa.Column("subject_id", sa.Integer(), nullable=False),
    sa.Column("project_id", sa.Integer(), nullable=False),
    sa.Column("buyer_id", sa.Integer(), nullable=False),
    sa.Column("registration_id", sa.Integer(), nullable=False),
    sa.Column("visit_id", sa.Integer(), nullable=True),
    sa.Column("deal_id", sa.Integer(), nullable=True),
    sa.Column("consultant_id", sa.Integer(), nullable=False),
    sa.Column("status", sa.String(length=10), nullable=False),
    sa.Column("due_at", UtcDateTime(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("claimed_by_id", sa.Integer(), nullable=True),
    sa.Column("claimed_until", UtcDateTime(), nullable=True),
    sa.Column("outcome", sa.String(length=20), nullable=True),
    sa.Column("agency", sa.String(length=100), nullable=True),
    sa.Column("bought_on", sa.Date(), nullable=True),
    sa.Column("dispute_id", sa.Integer(), nullable=True),
    sa.Column("closed_by_id", sa.Integer(), nullable=True),
    sa.Column("closed_at", UtcDateTime(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('after_visit', 'before_expiry', 'after_expiry', 'deal_sample')", name=op.f("ck_revisits_kind_known")),
    sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_revisits_status_known")),
    sa.CheckConstraint(f"outcome IS NULL OR outcome IN ({OUTCOMES})", name=op.f("ck_revisits_outcome_known")),
    sa.CheckConstraint("(status = 'closed') = (outcome IS NOT NULL AND closed_at IS NOT NULL)", name=op.f("ck_revisits_closed_has_outcome")),
    sa.CheckConstraint("outcome IS NULL OR outcome <> 'bought_other_agent' OR agency IS NOT NULL", name=op.f("ck_revisits_other_agent_named")),
    sa.CheckConstraint("attempts >= 0", name=op.f("ck_revisits_attempts_non_negative")),
    sa.CheckConstraint("(claimed_by_id IS NULL) = (claimed_until IS NULL)", name=op.f("ck_revisits_claim_complete")),
    sa.CheckConstraint("kind <> 'after_visit' OR visit_id = subject_id", name=op.f("ck_revisits_after_visit_subject")),
    sa.CheckConstraint("kind NOT IN ('before_expiry', 'after_expiry') OR registration_id = subject_id", name=op.f("ck_revisits_registration_subject")),
    sa.CheckConstraint("kind <> 'deal_sample' OR deal_id = subject_id", name=op.f("ck_revisits_deal_subject")),
    sa.ForeignKeyConstraint(["buyer_id"], ["buyers.id"], name=op.f("fk_revisits_buyer_id_buyers")),
    sa.ForeignKeyConstraint(["claimed_by_id"], ["staff_users.id"], name=op.f("fk_revisits_claimed_by_id_staff_users")),
    sa.ForeignKeyConstraint(["closed_by_id"], ["staff_users.id"], name=op.f("fk_revisits_closed_by_id_staff_users")),
    sa.ForeignKeyConstraint(["consultant_id"], ["consultants.id"], name=op.f("fk_revisits_consultant_id_consultants")),
    sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], name=op.f("fk_revisits_deal_id_deals")),
    sa.ForeignKeyConstraint(["dispute_id"], ["disputes.id"], name=op.f("fk_revisits_dispute_id_disputes")),
    sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_revisits_project_id_projects")),
    sa.ForeignKeyConstraint(["registration_id"], ["registrations.id"], name=op.f("fk_revisits_registration_id_registrations")),
    sa.ForeignKeyConstraint(["visit_id"], ["visits.id"], name=op.f("fk_revisits_visit_id_visits")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_revisits")),
    sa.UniqueConstraint("kind", "subject_id", name=op.f("uq_revisits_kind_subject_id"))
    )
    with op.batch_alter_table("revisits", schema=None) as batch_op:
        batch_op.create_index("ix_revisits_status_due_at", ["status", "due_at"], unique=False)
        batch_op.create_index("ix_revisits_project_id_status_due_at", ["project_id", "status", "due_at"], unique=False)
        batch_op.create_index("ix_revisits_buyer_id_status", ["buyer_id", "status"], unique=False)

    op.create_table("revisit_calls",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("revisit_id", sa.Integer(), nullable=False),
    sa.Column("staff_user_id", sa.Integer(), nullable=False),
    sa.Column("outcome", sa.String(length=20), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=True),
    sa.Column("agency", sa.String(length=100), nullable=True),
    sa.Column("bought_on", sa.Date(), nullable=True),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint(f"outcome IN ({OUTCOMES})", name=op.f("ck_revisit_calls_outcome_known")),
    sa.ForeignKeyConstraint(["revisit_id"], ["revisits.id"], name=op.f("fk_revisit_calls_revisit_id_revisits")),
    sa.ForeignKeyConstraint(["staff_user_id"], ["staff_users.id"], name=op.f("fk_revisit_calls_staff_user_id_staff_users")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_revisit_calls"))
    )
    with op.batch_alter_table("revisit_calls", schema=None) as batch_op:
        batch_op.create_index("ix_revisit_calls_revisit_id", ["revisit_id"], unique=False)
    append_only("revisit_calls", "upgrade")

    op.create_table("revisit_opt_outs",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("buyer_id", sa.Integer(), nullable=False),
    sa.Column("revisit_id", sa.Integer(), nullable=False),
    sa.Column("staff_user_id", sa.Integer(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["buyer_id"], ["buyers.id"], name=op.f("fk_revisit_opt_outs_buyer_id_buyers")),
    sa.ForeignKeyConstraint(["revisit_id"], ["revisits.id"], name=op.f("fk_revisit_opt_outs_revisit_id_revisits")),
    sa.ForeignKeyConstraint(["staff_user_id"], ["staff_users.id"], name=op.f("fk_revisit_opt_outs_staff_user_id_staff_users")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_revisit_opt_outs")),
    sa.UniqueConstraint("buyer_id", name=op.f("uq_revisit_opt_outs_buyer_id"))
    )


def downgrade() -> None:
    op.drop_table("revisit_opt_outs")
    append_only("revisit_calls", "downgrade")
    with op.batch_alter_table("revisit_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_revisit_calls_revisit_id")
    op.drop_table("revisit_calls")
    with op.batch_alter_table("revisits", schema=None) as batch_op:
        batch_op.drop_index("ix_revisits_buyer_id_status")
        batch_op.drop_index("ix_revisits_project_id_status_due_at")
        batch_op.drop_index("ix_revisits_status_due_at")
    op.drop_table("revisits")
