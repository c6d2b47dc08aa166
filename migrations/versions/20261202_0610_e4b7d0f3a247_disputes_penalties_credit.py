"""Disputes, penalty terms and consultant credit (DESIGN §4, §5a, §7.10).

* ``disputes`` with a unique ``source_key`` (whoever opens one opens it once), state and
  party checks; their events, statements and attachments, append-only;
* ``dispute_decisions``: maker-checker. The database refuses an approval by the proposer,
  a second approved decision of one dispute and a second pending proposal (partial
  unique indexes), and a dismissal that would move money;
* structured penalty terms: the agreement's defaults (``agreement_versions``, whose rows
  stay immutable: the columns are added in place, no table is rebuilt) and a project's
  stricter ones, versioned by time (``project_penalty_terms``, append-only);
* ``credit_events``: the history of a consultant's credit score, one per cause
  (unique per consultant and ``ref``), append-only; and a project's daily registration
  cap for consultants whose credit is low.

Revision ID: e4b7d0f3a247
Revises: d3a6c9e2f136
Create Date: 2026-12-02 06:10:00+00:00
"""
from alembic import op
import sqlalchemy as sa

from estate_platform.db import UtcDateTime

revision = "e4b7d0f3a247"
down_revision = "d3a6c9e2f136"
branch_labels = None
depends_on = None

APPEND_ONLY_TABLES = ("dispute_events", "dispute_statements", "dispute_attachments", "credit_events",
                      "project_penalty_terms")

# Columns added to tables that already hold rows: ALTER TABLE ADD COLUMN with the check on
# the column itself, so SQLite does not rebuild the table (which would drop the immutability
# triggers of agreement_versions and trip the foreign keys pointing at projects).
ADDED_COLUMNS = (
    ("agreement_versions", "penalty_fixed_cents", sa.BigInteger(), "0",
     "penalty_fixed_non_negative", "penalty_fixed_cents >= 0"),
    ("agreement_versions", "penalty_multiple_bps", sa.Integer(), "0",
     "penalty_multiple_range", "penalty_multiple_bps BETWEEN 0 AND 1000000"),
    ("projects", "daily_consultant_registration_cap_low_credit", sa.Integer(), "5",
     "low_credit_cap_non_negative", "daily_consultant_registration_cap_low_credit >= 0"),
)


def append_only(direction: str) -> None:
    """UPDATE and DELETE refused, as for the other immutable tables (5b1e7d2a9f30, whose
    PostgreSQL function ``refuse_change_of_immutable_row`` is reused here)."""
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY_TABLES:
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
    for table, column, type_, default, check_name, condition in ADDED_COLUMNS:
        op.add_column(table, sa.Column(column, type_, sa.CheckConstraint(condition, name=op.f(f"ck_{table}_{check_name}")),
                                       server_default=default, nullable=False))

    op.create_table("project_penalty_terms",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("project_id", sa.Integer(), nullable=False),
    sa.Column("effective_at", UtcDateTime(), nullable=False),
    sa.Column("penalty_fixed_cents", sa.BigInteger(), nullable=False),
    sa.Column("penalty_multiple_bps", sa.Integer(), nullable=False),
    sa.Column("created_by_id", sa.Integer(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint("penalty_fixed_cents >= 0", name=op.f("ck_project_penalty_terms_fixed_non_negative")),
    sa.CheckConstraint("penalty_multiple_bps BETWEEN 0 AND 1000000", name=op.f("ck_project_penalty_terms_multiple_range")),
    sa.ForeignKeyConstraint(["created_by_id"], ["staff_users.id"], name=op.f("fk_project_penalty_terms_created_by_id_staff_users")),
    sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_project_penalty_terms_project_id_projects")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_project_penalty_terms")),
    sa.UniqueConstraint("project_id", "effective_at", name=op.f("uq_project_penalty_terms_project_id_effective_at"))
    )

    op.create_table("credit_events",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("consultant_id", sa.Integer(), nullable=False),
    sa.Column("delta", sa.Integer(), nullable=False),
    sa.Column("score_after", sa.Integer(), nullable=False),
    sa.Column("reason_code", sa.String(length=30), nullable=False),
    sa.Column("reason_text", sa.Text(), nullable=False),
    sa.Column("ref", sa.String(length=120), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint("reason_code IN ('dispute_upheld', 'revisit_confirmed', 'risk_flag', 'tenure')", name=op.f("ck_credit_events_reason_code_known")),
    sa.CheckConstraint("delta BETWEEN -100 AND 100", name=op.f("ck_credit_events_delta_range")),
    sa.CheckConstraint("score_after BETWEEN 0 AND 100", name=op.f("ck_credit_events_score_range")),
    sa.ForeignKeyConstraint(["consultant_id"], ["consultants.id"], name=op.f("fk_credit_events_consultant_id_consultants")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_events")),
    sa.UniqueConstraint("consultant_id", "ref", name=op.f("uq_credit_events_consultant_id_ref"))
    )
    with op.batch_alter_table("credit_events", schema=None) as batch_op:
        batch_op.create_index("ix_credit_events_consultant_id_created_at", ["consultant_id", "created_at"], unique=False)

    op.create_table("disputes",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("source", sa.String(length=20), nullable=False),
    sa.Column("source_key", sa.String(length=120), nullable=False),
    sa.Column("status", sa.String(length=20), nullable=False),
    sa.Column("project_id", sa.Integer(), nullable=False),
    sa.Column("developer_id", sa.Integer(), nullable=False),
    sa.Column("buyer_id", sa.Integer(), nullable=False),
    sa.Column("registration_id", sa.Integer(), nullable=True),
    sa.Column("deal_id", sa.Integer(), nullable=True),
    sa.Column("respondent_kind", sa.String(length=20), nullable=False),
    sa.Column("respondent_consultant_id", sa.Integer(), nullable=True),
    sa.Column("claimant_consultant_id", sa.Integer(), nullable=True),
    sa.Column("protected_consultant_id", sa.Integer(), nullable=True),
    sa.Column("subject", sa.String(length=200), nullable=False),
    sa.Column("summary", sa.Text(), nullable=False),
    sa.Column("sale_price_cents", sa.BigInteger(), nullable=True),
    sa.Column("sold_on", sa.Date(), nullable=True),
    sa.Column("deadline_at", UtcDateTime(), nullable=False),
    sa.Column("opened_by_staff_id", sa.Integer(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("closed_at", UtcDateTime(), nullable=True),
    sa.CheckConstraint("(respondent_kind = 'consultant') = (respondent_consultant_id IS NOT NULL)", name=op.f("ck_disputes_respondent_named")),
    sa.CheckConstraint("(status IN ('upheld', 'dismissed', 'withdrawn')) = (closed_at IS NOT NULL)", name=op.f("ck_disputes_closed_when_decided")),
    sa.CheckConstraint("respondent_kind = 'consultant' OR protected_consultant_id IS NOT NULL", name=op.f("ck_disputes_developer_dispute_names_victim")),
    sa.CheckConstraint("respondent_kind IN ('consultant', 'developer')", name=op.f("ck_disputes_respondent_kind_known")),
    sa.CheckConstraint("source IN ('revisit', 'reconciliation', 'risk_flag', 'manual', 'complaint')", name=op.f("ck_disputes_source_known")),
    sa.CheckConstraint("status IN ('open', 'investigating', 'upheld', 'dismissed', 'withdrawn')", name=op.f("ck_disputes_status_known")),
    sa.CheckConstraint("(sale_price_cents IS NULL) = (sold_on IS NULL)", name=op.f("ck_disputes_sale_complete")),
    sa.CheckConstraint("claimant_consultant_id IS NULL OR respondent_consultant_id IS NULL OR claimant_consultant_id <> respondent_consultant_id", name=op.f("ck_disputes_claimant_not_respondent")),
    sa.CheckConstraint("sale_price_cents IS NULL OR sale_price_cents > 0", name=op.f("ck_disputes_sale_price_positive")),
    sa.ForeignKeyConstraint(["buyer_id"], ["buyers.id"], name=op.f("fk_disputes_buyer_id_buyers")),
    sa.ForeignKeyConstraint(["claimant_consultant_id"], ["consultants.id"], name=op.f("fk_disputes_claimant_consultant_id_consultants")),
    sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], name=op.f("fk_disputes_deal_id_deals")),
    sa.ForeignKeyConstraint(["developer_id"], ["developers.id"], name=op.f("fk_disputes_developer_id_developers")),
    sa.ForeignKeyConstraint(["opened_by_staff_id"], ["staff_users.id"], name=op.f("fk_disputes_opened_by_staff_id_staff_users")),
    sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_disputes_project_id_projects")),
    sa.ForeignKeyConstraint(["protected_consultant_id"], ["consultants.id"], name=op.f("fk_disputes_protected_consultant_id_consultants")),
    sa.ForeignKeyConstraint(["registration_id"], ["registrations.id"], name=op.f("fk_disputes_registration_id_registrations")),
    sa.ForeignKeyConstraint(["respondent_consultant_id"], ["consultants.id"], name=op.f("fk_disputes_respondent_consultant_id_consultants")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
    sa.UniqueConstraint("source_key", name=op.f("uq_disputes_source_key"))
    )
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.create_index("ix_disputes_claimant_consultant_id", ["claimant_consultant_id"], unique=False)
        batch_op.create_index("ix_disputes_developer_id_status", ["developer_id", "status"], unique=False)
        batch_op.create_index("ix_disputes_project_id_buyer_id", ["project_id", "buyer_id"], unique=False)
        batch_op.create_index("ix_disputes_protected_consultant_id", ["protected_consultant_id"], unique=False)
        batch_op.create_index("ix_disputes_respondent_consultant_id", ["respondent_consultant_id"], unique=False)
        batch_op.create_index("ix_disputes_status_created_at", ["status", "created_at"], unique=False)

    op.create_table("dispute_decisions",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("dispute_id", sa.Integer(), nullable=False),
    sa.Column("outcome", sa.String(length=20), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("status", sa.String(length=20), nullable=False),
    sa.Column("stake_cents", sa.BigInteger(), nullable=False),
    sa.Column("penalty_cents", sa.BigInteger(), nullable=False),
    sa.Column("penalty_fixed_cents", sa.BigInteger(), nullable=True),
    sa.Column("penalty_multiple_bps", sa.Integer(), nullable=True),
    sa.Column("penalty_overridden", sa.Boolean(), nullable=False),
    sa.Column("terms_note", sa.Text(), nullable=True),
    sa.Column("agreement_version_id", sa.Integer(), nullable=True),
    sa.Column("sale_price_cents", sa.BigInteger(), nullable=True),
    sa.Column("sold_on", sa.Date(), nullable=True),
    sa.Column("rightful_consultant_id", sa.Integer(), nullable=True),
    sa.Column("stake_lines", sa.Text(), nullable=True),
    sa.Column("proposed_by_id", sa.Integer(), nullable=False),
    sa.Column("proposed_at", UtcDateTime(), nullable=False),
    sa.Column("approved_by_id", sa.Integer(), nullable=True),
    sa.Column("approved_at", UtcDateTime(), nullable=True),
    sa.Column("penalty_transaction_id", sa.Integer(), nullable=True),
    sa.Column("stake_transaction_id", sa.Integer(), nullable=True),
    sa.CheckConstraint("(status = 'approved') = (approved_by_id IS NOT NULL AND approved_at IS NOT NULL)", name=op.f("ck_dispute_decisions_approval_recorded")),
    sa.CheckConstraint("outcome = 'upheld' OR (penalty_cents = 0 AND stake_cents = 0 AND rightful_consultant_id IS NULL)", name=op.f("ck_dispute_decisions_dismissed_moves_no_money")),
    sa.CheckConstraint("outcome IN ('upheld', 'dismissed')", name=op.f("ck_dispute_decisions_outcome_known")),
    sa.CheckConstraint("status IN ('proposed', 'approved', 'superseded')", name=op.f("ck_dispute_decisions_status_known")),
    sa.CheckConstraint("approved_by_id IS NULL OR approved_by_id <> proposed_by_id", name=op.f("ck_dispute_decisions_checker_not_maker")),
    sa.CheckConstraint("penalty_cents >= 0 AND stake_cents >= 0", name=op.f("ck_dispute_decisions_amounts_non_negative")),
    sa.ForeignKeyConstraint(["agreement_version_id"], ["agreement_versions.id"], name=op.f("fk_dispute_decisions_agreement_version_id_agreement_versions")),
    sa.ForeignKeyConstraint(["approved_by_id"], ["staff_users.id"], name=op.f("fk_dispute_decisions_approved_by_id_staff_users")),
    sa.ForeignKeyConstraint(["dispute_id"], ["disputes.id"], name=op.f("fk_dispute_decisions_dispute_id_disputes")),
    sa.ForeignKeyConstraint(["penalty_transaction_id"], ["ledger_transactions.id"], name=op.f("fk_dispute_decisions_penalty_transaction_id_ledger_transactions")),
    sa.ForeignKeyConstraint(["proposed_by_id"], ["staff_users.id"], name=op.f("fk_dispute_decisions_proposed_by_id_staff_users")),
    sa.ForeignKeyConstraint(["rightful_consultant_id"], ["consultants.id"], name=op.f("fk_dispute_decisions_rightful_consultant_id_consultants")),
    sa.ForeignKeyConstraint(["stake_transaction_id"], ["ledger_transactions.id"], name=op.f("fk_dispute_decisions_stake_transaction_id_ledger_transactions")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_dispute_decisions"))
    )
    with op.batch_alter_table("dispute_decisions", schema=None) as batch_op:
        batch_op.create_index("ix_dispute_decisions_dispute_id", ["dispute_id"], unique=False)
        batch_op.create_index("uq_dispute_decisions_approved", ["dispute_id"], unique=True, sqlite_where=sa.text("status = 'approved'"), postgresql_where=sa.text("status = 'approved'"))
        batch_op.create_index("uq_dispute_decisions_proposed", ["dispute_id"], unique=True, sqlite_where=sa.text("status = 'proposed'"), postgresql_where=sa.text("status = 'proposed'"))

    op.create_table("dispute_events",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("dispute_id", sa.Integer(), nullable=False),
    sa.Column("event", sa.String(length=40), nullable=False),
    sa.Column("actor_type", sa.String(length=20), nullable=False),
    sa.Column("actor_id", sa.Integer(), nullable=True),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint("actor_type IN ('consultant', 'staff', 'system')", name=op.f("ck_dispute_events_actor_type_known")),
    sa.ForeignKeyConstraint(["dispute_id"], ["disputes.id"], name=op.f("fk_dispute_events_dispute_id_disputes")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_dispute_events"))
    )
    with op.batch_alter_table("dispute_events", schema=None) as batch_op:
        batch_op.create_index("ix_dispute_events_dispute_id", ["dispute_id"], unique=False)

    op.create_table("dispute_statements",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("dispute_id", sa.Integer(), nullable=False),
    sa.Column("consultant_id", sa.Integer(), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["consultant_id"], ["consultants.id"], name=op.f("fk_dispute_statements_consultant_id_consultants")),
    sa.ForeignKeyConstraint(["dispute_id"], ["disputes.id"], name=op.f("fk_dispute_statements_dispute_id_disputes")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_dispute_statements"))
    )
    with op.batch_alter_table("dispute_statements", schema=None) as batch_op:
        batch_op.create_index("ix_dispute_statements_dispute_id", ["dispute_id"], unique=False)

    op.create_table("dispute_attachments",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("statement_id", sa.Integer(), nullable=False),
    sa.Column("filename", sa.String(length=200), nullable=False),
    sa.Column("content_type", sa.String(length=50), nullable=False),
    sa.Column("size_bytes", sa.BigInteger(), nullable=False),
    sa.Column("sha256", sa.String(length=64), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint("content_type IN ('image/jpeg', 'image/png', 'application/pdf')", name=op.f("ck_dispute_attachments_content_type_allowed")),
    sa.CheckConstraint("size_bytes > 0", name=op.f("ck_dispute_attachments_size_positive")),
    sa.ForeignKeyConstraint(["statement_id"], ["dispute_statements.id"], name=op.f("fk_dispute_attachments_statement_id_dispute_statements")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_dispute_attachments"))
    )
    with op.batch_alter_table("dispute_attachments", schema=None) as batch_op:
        batch_op.create_index("ix_dispute_attachments_statement_id", ["statement_id"], unique=False)

    append_only("upgrade")


def downgrade() -> None:
    append_only("downgrade")
    with op.batch_alter_table("dispute_attachments", schema=None) as batch_op:
        batch_op.drop_index("ix_dispute_attachments_statement_id")
    op.drop_table("dispute_attachments")
    with op.batch_alter_table("dispute_statements", schema=None) as batch_op:
        batch_op.drop_index("ix_dispute_statements_dispute_id")
    op.drop_table("dispute_statements")
    with op.batch_alter_table("dispute_events", schema=None) as batch_op:
        batch_op.drop_index("ix_dispute_events_dispute_id")
    op.drop_table("dispute_events")
    with op.batch_alter_table("dispute_decisions", schema=None) as batch_op:
        batch_op.drop_index("uq_dispute_decisions_proposed", sqlite_where=sa.text("status = 'proposed'"), postgresql_where=sa.text("status = 'proposed'"))
        batch_op.drop_index("uq_dispute_decisions_approved", sqlite_where=sa.text("status = 'approved'"), postgresql_where=sa.text("status = 'approved'"))
        batch_op.drop_index("ix_dispute_decisions_dispute_id")
    op.drop_table("dispute_decisions")
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.drop_index("ix_disputes_status_created_at")
        batch_op.drop_index("ix_disputes_respondent_consultant_id")
        batch_op.drop_index("ix_disputes_protected_consultant_id")
        batch_op.drop_index("ix_disputes_project_id_buyer_id")
        batch_op.drop_index("ix_disputes_developer_id_status")
        batch_op.drop_index("ix_disputes_claimant_consultant_id")
    op.drop_table("disputes")
    with op.batch_alter_table("credit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_events_consultant_id_created_at")
    op.drop_table("credit_events")
    op.drop_table("project_penalty_terms")
    # In place again (no rebuild): SQLite drops a column together with its own check.
    for table, column, *_ in reversed(ADDED_COLUMNS):
        if op.get_bind().dialect.name == "postgresql":
            op.drop_constraint(op.f(f"ck_{table}_{_[2]}"), table, type_="check")
        op.drop_column(table, column)
