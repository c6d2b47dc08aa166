"""Sales-list reconciliation (销售台账对账, DESIGN §4, §5a).

* ``sales_list_uploads``: one developer's list for one project and period, the file kept
  by its SHA-256; unique per (project, SHA-256), so the same file uploaded again is the
  same upload and opens nothing; status, progress and the counts per category;
* ``sales_list_rows``: the result of each row by the line a person sees (unique per
  upload and line, so a resumed run stores no line twice), its category and match, the
  masked phone only, and the buyer, registration, deal and dispute it points at (plain
  ids but for the upload and the dispute: the three foreign-key checks doubled the time
  to store a 100k-row list);
* ``developer_column_mappings``: the column mapping last confirmed for a developer.

Revision ID: b7e0a3c6d57a
Revises: a6d9f2b5c469
Create Date: 2026-12-02 06:20:00+00:00
"""
from alembic import op
import sqlalchemy as sa

from estate_platform.db import UtcDateTime

revision = "b7e0a3c6d57a"
down_revision = "a6d9f2b5c469"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("developer_column_mappings",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("developer_id", sa.Integer(), nullable=False),
    sa.Column("mapping", sa.JSON(), nullable=False),
    sa.Column("updated_by_id", sa.Integer(), nullable=True),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["developer_id"], ["developers.id"], name=op.f("fk_developer_column_mappings_developer_id_developers")),
    sa.ForeignKeyConstraint(["updated_by_id"], ["staff_users.id"], name=op.f("fk_developer_column_mappings_updated_by_id_staff_users")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_developer_column_mappings")),
    sa.UniqueConstraint("developer_id", name=op.f("uq_developer_column_mappings_developer_id"))
    )
    op.create_table("sales_list_uploads",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("developer_id", sa.Integer(), nullable=False),
    sa.Column("project_id", sa.Integer(), nullable=False),
    sa.Column("period_from", sa.Date(), nullable=False),
    sa.Column("period_to", sa.Date(), nullable=False),
    sa.Column("filename", sa.String(length=200), nullable=False),
    sa.Column("file_format", sa.String(length=10), nullable=False),
    sa.Column("size_bytes", sa.BigInteger(), nullable=False),
    sa.Column("content_sha256", sa.String(length=64), nullable=False),
    sa.Column("mapping", sa.JSON(), nullable=False),
    sa.Column("status", sa.String(length=20), nullable=False),
    sa.Column("rows_total", sa.Integer(), nullable=True),
    sa.Column("rows_done", sa.Integer(), nullable=False),
    sa.Column("counts", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("disputes_opened", sa.Integer(), nullable=False),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=True),
    sa.Column("finished_at", UtcDateTime(), nullable=True),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint("file_format IN ('csv', 'xlsx')", name=op.f("ck_sales_list_uploads_file_format_known")),
    sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name=op.f("ck_sales_list_uploads_status_known")),
    sa.CheckConstraint("period_from <= period_to", name=op.f("ck_sales_list_uploads_period_ordered")),
    sa.CheckConstraint("rows_done >= 0 AND (rows_total IS NULL OR rows_total >= 0)", name=op.f("ck_sales_list_uploads_progress_non_negative")),
    sa.ForeignKeyConstraint(["developer_id"], ["developers.id"], name=op.f("fk_sales_list_uploads_developer_id_developers")),
    sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_sales_list_uploads_project_id_projects")),
    sa.ForeignKeyConstraint(["uploaded_by_id"], ["staff_users.id"], name=op.f("fk_sales_list_uploads_uploaded_by_id_staff_users")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_list_uploads")),
    sa.UniqueConstraint("project_id", "content_sha256", name=op.f("uq_sales_list_uploads_project_id_content_sha256"))
    )
    op.create_index("ix_sales_list_uploads_created_at", "sales_list_uploads", ["created_at"], unique=False)
    op.create_index("ix_sales_list_uploads_developer_id", "sales_list_uploads", ["developer_id"], unique=False)
    op.create_table("sales_list_rows",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("upload_id", sa.Integer(), nullable=False),
    sa.Column("line", sa.Integer(), nullable=False),
    sa.Column("category", sa.String(length=20), nullable=False),
    sa.Column("match_kind", sa.String(length=10), nullable=False),
    sa.Column("buyer_id", sa.Integer(), nullable=True),
    sa.Column("registration_id", sa.Integer(), nullable=True),
    sa.Column("deal_id", sa.Integer(), nullable=True),
    sa.Column("dispute_id", sa.Integer(), nullable=True),
    sa.Column("phone_masked", sa.String(length=100), nullable=True),
    sa.Column("buyer_name", sa.String(length=100), nullable=True),
    sa.Column("unit", sa.String(length=100), nullable=True),
    sa.Column("price_cents", sa.BigInteger(), nullable=True),
    sa.Column("sale_date", sa.Date(), nullable=True),
    sa.Column("channel", sa.String(length=10), nullable=True),
    sa.Column("agency", sa.String(length=200), nullable=True),
    sa.Column("stake_cents", sa.BigInteger(), nullable=True),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("raw", sa.Text(), nullable=True),
    sa.CheckConstraint("category IN ('jumped', 'poached', 'unit_mismatch', 'price_mismatch', 'ambiguous', 'unreadable', 'unmatched', 'ok')", name=op.f("ck_sales_list_rows_category_known")),
    sa.CheckConstraint("channel IS NULL OR channel IN ('direct', 'agency')", name=op.f("ck_sales_list_rows_channel_known")),
    sa.CheckConstraint("match_kind IN ('exact', 'masked', 'ambiguous', 'none')", name=op.f("ck_sales_list_rows_match_kind_known")),
    sa.CheckConstraint("line > 0", name=op.f("ck_sales_list_rows_line_positive")),
    sa.ForeignKeyConstraint(["dispute_id"], ["disputes.id"], name=op.f("fk_sales_list_rows_dispute_id_disputes")),
    sa.ForeignKeyConstraint(["upload_id"], ["sales_list_uploads.id"], name=op.f("fk_sales_list_rows_upload_id_sales_list_uploads")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_list_rows")),
    sa.UniqueConstraint("upload_id", "line", name=op.f("uq_sales_list_rows_upload_id_line"))
    )
    op.create_index("ix_sales_list_rows_upload_id_category_line", "sales_list_rows", ["upload_id", "category", "line"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_sales_list_rows_upload_id_category_line", table_name="sales_list_rows")
    op.drop_table("sales_list_rows")
    op.drop_index("ix_sales_list_uploads_developer_id", table_name="sales_list_uploads")
    op.drop_index("ix_sales_list_uploads_created_at", table_name="sales_list_uploads")
    op.drop_table("sales_list_uploads")
    op.drop_table("developer_column_mappings")
