"""Export jobs and full-phone exports (issue 13 §3, issue 15 §1).

export_jobs: an XLSX written in the background for one staff member, with progress
(CHECK rows_done >= 0 and <= rows_total once counted), a known status, a message when
failed, an expiry when done, and a purpose whenever it holds full phone numbers.
phone_export_reveals: one row per full-phone export (kind, filters, row count, purpose);
phone_reveals is per buyer, and a bulk export names none, so it has its own table.

Revision ID: b9d0e1f2a3c4
Revises: a8c9d0e1f2b3
Create Date: 2026-12-02 15:40:00+00:00
"""
from alembic import op
import sqlalchemy as sa

from estate_platform.db import UtcDateTime

revision = "b9d0e1f2a3c4"
down_revision = "a8c9d0e1f2b3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('export_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('filters', sa.JSON(), nullable=False),
    sa.Column('full_phones', sa.Boolean(), nullable=False),
    sa.Column('purpose', sa.String(length=100), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('rows_done', sa.Integer(), nullable=False),
    sa.Column('rows_total', sa.Integer(), nullable=True),
    sa.Column('file_token', sa.String(length=64), nullable=False),
    sa.Column('filename', sa.String(length=120), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.Column('started_at', UtcDateTime(), nullable=True),
    sa.Column('finished_at', UtcDateTime(), nullable=True),
    sa.Column('expires_at', UtcDateTime(), nullable=True),
    sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed', 'expired')", name=op.f('ck_export_jobs_status_known')),
    sa.CheckConstraint('rows_done >= 0', name=op.f('ck_export_jobs_rows_done_not_negative')),
    sa.CheckConstraint('rows_total IS NULL OR (rows_total >= 0 AND rows_done <= rows_total)', name=op.f('ck_export_jobs_rows_done_within_total')),
    sa.CheckConstraint('full_phones = (purpose IS NOT NULL)', name=op.f('ck_export_jobs_full_phones_have_purpose')),
    sa.CheckConstraint("status <> 'failed' OR error IS NOT NULL", name=op.f('ck_export_jobs_failure_has_message')),
    sa.CheckConstraint("status <> 'done' OR (finished_at IS NOT NULL AND expires_at IS NOT NULL)", name=op.f('ck_export_jobs_done_has_expiry')),
    sa.ForeignKeyConstraint(['staff_user_id'], ['staff_users.id'], name=op.f('fk_export_jobs_staff_user_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_export_jobs')),
    sa.UniqueConstraint('file_token', name=op.f('uq_export_jobs_file_token'))
    )
    op.create_index('ix_export_jobs_staff_user_id_created_at', 'export_jobs', ['staff_user_id', 'created_at'], unique=False)
    op.create_index('ix_export_jobs_status_expires_at', 'export_jobs', ['status', 'expires_at'], unique=False)
    op.create_table('phone_export_reveals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('filters', sa.JSON(), nullable=False),
    sa.Column('row_count', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=100), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.CheckConstraint('row_count >= 0', name=op.f('ck_phone_export_reveals_row_count_not_negative')),
    sa.ForeignKeyConstraint(['job_id'], ['export_jobs.id'], name=op.f('fk_phone_export_reveals_job_id_export_jobs')),
    sa.ForeignKeyConstraint(['staff_user_id'], ['staff_users.id'], name=op.f('fk_phone_export_reveals_staff_user_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_phone_export_reveals')),
    sa.UniqueConstraint('job_id', name=op.f('uq_phone_export_reveals_job_id'))
    )
    op.create_index('ix_phone_export_reveals_staff_user_id_created_at', 'phone_export_reveals', ['staff_user_id', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_phone_export_reveals_staff_user_id_created_at', table_name='phone_export_reveals')
    op.drop_table('phone_export_reveals')
    op.drop_index('ix_export_jobs_status_expires_at', table_name='export_jobs')
    op.drop_index('ix_export_jobs_staff_user_id_created_at', table_name='export_jobs')
    op.drop_table('export_jobs')
