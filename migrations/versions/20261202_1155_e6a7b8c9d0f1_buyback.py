"""Buy-back of commission receivables (应收账款回购/佣金垫付, issue 13 §1).

* ``buyback_settings`` (one row) and ``buyback_developer_terms``: prices and exposure limits;
* ``buyback_quotes``/``buyback_quote_lines``: priced offers on a consultant's commission lines;
* ``buyback_requests``: accepted quotes awaiting finance, with the maker-checker CHECK (a second,
  different approver above the set amount);
* ``buyback_lines``: reserved and bought lines, a line in at most one live reservation or
  purchase (partial unique index);
* ``buyback_packages``: bought lines bundled per developer for collection (打包).

Revision ID: e6a7b8c9d0f1
Revises: d5f6a7b8c9e0
Create Date: 2026-12-02 11:55:00+00:00
"""
from alembic import op
import sqlalchemy as sa

from estate_platform.db import UtcDateTime

revision = "e6a7b8c9d0f1"
down_revision = "d5f6a7b8c9e0"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('buyback_developer_terms',
    sa.Column('developer_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('risk_premium_bps', sa.Integer(), nullable=True),
    sa.Column('exposure_limit_cents', sa.BigInteger(), nullable=True),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', UtcDateTime(), nullable=False),
    sa.CheckConstraint('exposure_limit_cents IS NULL OR exposure_limit_cents >= 0', name=op.f('ck_buyback_developer_terms_limit_non_negative')),
    sa.CheckConstraint('risk_premium_bps IS NULL OR risk_premium_bps BETWEEN 0 AND 10000', name=op.f('ck_buyback_developer_terms_risk_premium_bps_range')),
    sa.ForeignKeyConstraint(['developer_id'], ['developers.id'], name=op.f('fk_buyback_developer_terms_developer_id_developers')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['staff_users.id'], name=op.f('fk_buyback_developer_terms_updated_by_id_staff_users')),
    sa.PrimaryKeyConstraint('developer_id', name=op.f('pk_buyback_developer_terms'))
    )
    op.create_table('buyback_packages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('developer_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.Column('sent_at', UtcDateTime(), nullable=True),
    sa.CheckConstraint("status = 'open' OR sent_at IS NOT NULL", name=op.f('ck_buyback_packages_sent_dated')),
    sa.CheckConstraint("status IN ('open', 'sent', 'closed')", name=op.f('ck_buyback_packages_status_known')),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff_users.id'], name=op.f('fk_buyback_packages_created_by_id_staff_users')),
    sa.ForeignKeyConstraint(['developer_id'], ['developers.id'], name=op.f('fk_buyback_packages_developer_id_developers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_buyback_packages'))
    )
    with op.batch_alter_table('buyback_packages', schema=None) as batch_op:
        batch_op.create_index('ix_buyback_packages_developer_id_created_at', ['developer_id', 'created_at'], unique=False)

    op.create_table('buyback_quotes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('consultant_id', sa.Integer(), nullable=False),
    sa.Column('face_cents', sa.BigInteger(), nullable=False),
    sa.Column('discount_cents', sa.BigInteger(), nullable=False),
    sa.Column('advance_cents', sa.BigInteger(), nullable=False),
    sa.Column('remainder_cents', sa.BigInteger(), nullable=False),
    sa.Column('equivalent_annual_bps', sa.Integer(), nullable=False),
    sa.Column('annual_rate_bps', sa.Integer(), nullable=False),
    sa.Column('advance_cap_bps', sa.Integer(), nullable=False),
    sa.Column('min_fee_cents', sa.BigInteger(), nullable=False),
    sa.Column('terms_text', sa.Text(), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.Column('expires_at', UtcDateTime(), nullable=False),
    sa.CheckConstraint('equivalent_annual_bps >= 0', name=op.f('ck_buyback_quotes_annual_non_negative')),
    sa.CheckConstraint('expires_at > created_at', name=op.f('ck_buyback_quotes_expires_after_creation')),
    sa.CheckConstraint('face_cents > 0 AND discount_cents >= 0 AND advance_cents >= 0 AND remainder_cents >= 0 AND advance_cents + discount_cents + remainder_cents = face_cents', name=op.f('ck_buyback_quotes_parts_sum_to_face')),
    sa.ForeignKeyConstraint(['consultant_id'], ['consultants.id'], name=op.f('fk_buyback_quotes_consultant_id_consultants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_buyback_quotes'))
    )
    with op.batch_alter_table('buyback_quotes', schema=None) as batch_op:
        batch_op.create_index('ix_buyback_quotes_consultant_id_created_at', ['consultant_id', 'created_at'], unique=False)

    op.create_table('buyback_settings',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('annual_rate_bps', sa.Integer(), nullable=False),
    sa.Column('risk_premium_bps', sa.Integer(), nullable=False),
    sa.Column('min_fee_cents', sa.BigInteger(), nullable=False),
    sa.Column('advance_cap_bps', sa.Integer(), nullable=False),
    sa.Column('quote_valid_minutes', sa.Integer(), nullable=False),
    sa.Column('request_valid_hours', sa.Integer(), nullable=False),
    sa.Column('credit_threshold', sa.Integer(), nullable=False),
    sa.Column('fallback_days', sa.Integer(), nullable=False),
    sa.Column('developer_limit_cents', sa.BigInteger(), nullable=False),
    sa.Column('consultant_limit_cents', sa.BigInteger(), nullable=False),
    sa.Column('book_limit_cents', sa.BigInteger(), nullable=False),
    sa.Column('second_approver_cents', sa.BigInteger(), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', UtcDateTime(), nullable=False),
    sa.CheckConstraint('advance_cap_bps BETWEEN 0 AND 10000', name=op.f('ck_buyback_settings_advance_cap_bps_range')),
    sa.CheckConstraint('annual_rate_bps BETWEEN 0 AND 10000', name=op.f('ck_buyback_settings_annual_rate_bps_range')),
    sa.CheckConstraint('credit_threshold BETWEEN 0 AND 100', name=op.f('ck_buyback_settings_credit_threshold_range')),
    sa.CheckConstraint('developer_limit_cents >= 0 AND consultant_limit_cents >= 0 AND book_limit_cents >= 0 AND second_approver_cents >= 0', name=op.f('ck_buyback_settings_limits_non_negative')),
    sa.CheckConstraint('fallback_days BETWEEN 0 AND 730', name=op.f('ck_buyback_settings_fallback_days_range')),
    sa.CheckConstraint('id = 1', name=op.f('ck_buyback_settings_single_row')),
    sa.CheckConstraint('min_fee_cents >= 0', name=op.f('ck_buyback_settings_min_fee_non_negative')),
    sa.CheckConstraint('quote_valid_minutes BETWEEN 1 AND 1440', name=op.f('ck_buyback_settings_quote_valid_range')),
    sa.CheckConstraint('request_valid_hours BETWEEN 1 AND 720', name=op.f('ck_buyback_settings_request_valid_range')),
    sa.CheckConstraint('risk_premium_bps BETWEEN 0 AND 10000', name=op.f('ck_buyback_settings_risk_premium_bps_range')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['staff_users.id'], name=op.f('fk_buyback_settings_updated_by_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_buyback_settings'))
    )
    op.create_table('buyback_quote_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('quote_id', sa.Integer(), nullable=False),
    sa.Column('commission_line_id', sa.Integer(), nullable=False),
    sa.Column('deal_id', sa.Integer(), nullable=False),
    sa.Column('developer_id', sa.Integer(), nullable=False),
    sa.Column('face_cents', sa.BigInteger(), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('expected_on', sa.Date(), nullable=False),
    sa.Column('risk_premium_bps', sa.Integer(), nullable=False),
    sa.Column('time_discount_cents', sa.BigInteger(), nullable=False),
    sa.Column('premium_cents', sa.BigInteger(), nullable=False),
    sa.Column('discount_cents', sa.BigInteger(), nullable=False),
    sa.Column('advance_cents', sa.BigInteger(), nullable=False),
    sa.Column('remainder_cents', sa.BigInteger(), nullable=False),
    sa.Column('equivalent_annual_bps', sa.Integer(), nullable=False),
    sa.CheckConstraint('days >= 0', name=op.f('ck_buyback_quote_lines_days_non_negative')),
    sa.CheckConstraint('face_cents > 0 AND discount_cents >= 0 AND advance_cents >= 0 AND remainder_cents >= 0 AND advance_cents + discount_cents + remainder_cents = face_cents', name=op.f('ck_buyback_quote_lines_parts_sum_to_face')),
    sa.ForeignKeyConstraint(['commission_line_id'], ['commission_lines.id'], name=op.f('fk_buyback_quote_lines_commission_line_id_commission_lines')),
    sa.ForeignKeyConstraint(['deal_id'], ['deals.id'], name=op.f('fk_buyback_quote_lines_deal_id_deals')),
    sa.ForeignKeyConstraint(['developer_id'], ['developers.id'], name=op.f('fk_buyback_quote_lines_developer_id_developers')),
    sa.ForeignKeyConstraint(['quote_id'], ['buyback_quotes.id'], name=op.f('fk_buyback_quote_lines_quote_id_buyback_quotes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_buyback_quote_lines')),
    sa.UniqueConstraint('quote_id', 'commission_line_id', name=op.f('uq_buyback_quote_lines_quote_id_commission_line_id'))
    )
    op.create_table('buyback_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('quote_id', sa.Integer(), nullable=False),
    sa.Column('consultant_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('face_cents', sa.BigInteger(), nullable=False),
    sa.Column('discount_cents', sa.BigInteger(), nullable=False),
    sa.Column('advance_cents', sa.BigInteger(), nullable=False),
    sa.Column('remainder_cents', sa.BigInteger(), nullable=False),
    sa.Column('equivalent_annual_bps', sa.Integer(), nullable=False),
    sa.Column('needs_second_approval', sa.Boolean(), nullable=False),
    sa.Column('first_approver_id', sa.Integer(), nullable=True),
    sa.Column('first_approved_at', UtcDateTime(), nullable=True),
    sa.Column('second_approver_id', sa.Integer(), nullable=True),
    sa.Column('second_approved_at', UtcDateTime(), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', UtcDateTime(), nullable=True),
    sa.Column('reject_reason', sa.Text(), nullable=True),
    sa.Column('transaction_id', sa.Integer(), nullable=True),
    sa.Column('expires_at', UtcDateTime(), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.CheckConstraint("(status = 'requested') = (decided_at IS NULL)", name=op.f('ck_buyback_requests_decided_when_closed')),
    sa.CheckConstraint("status <> 'approved' OR (first_approver_id IS NOT NULL AND (NOT needs_second_approval OR second_approver_id IS NOT NULL))", name=op.f('ck_buyback_requests_approved_by_enough')),
    sa.CheckConstraint("status <> 'rejected' OR (reject_reason IS NOT NULL AND decided_by_id IS NOT NULL)", name=op.f('ck_buyback_requests_rejection_explained')),
    sa.CheckConstraint("status IN ('requested', 'approved', 'rejected', 'cancelled', 'expired')", name=op.f('ck_buyback_requests_status_known')),
    sa.CheckConstraint('face_cents > 0 AND discount_cents >= 0 AND advance_cents >= 0 AND remainder_cents >= 0 AND advance_cents + discount_cents + remainder_cents = face_cents', name=op.f('ck_buyback_requests_parts_sum_to_face')),
    sa.CheckConstraint('second_approver_id IS NULL OR second_approver_id <> first_approver_id', name=op.f('ck_buyback_requests_second_approver_differs')),
    sa.ForeignKeyConstraint(['consultant_id'], ['consultants.id'], name=op.f('fk_buyback_requests_consultant_id_consultants')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['staff_users.id'], name=op.f('fk_buyback_requests_decided_by_id_staff_users')),
    sa.ForeignKeyConstraint(['first_approver_id'], ['staff_users.id'], name=op.f('fk_buyback_requests_first_approver_id_staff_users')),
    sa.ForeignKeyConstraint(['quote_id'], ['buyback_quotes.id'], name=op.f('fk_buyback_requests_quote_id_buyback_quotes')),
    sa.ForeignKeyConstraint(['second_approver_id'], ['staff_users.id'], name=op.f('fk_buyback_requests_second_approver_id_staff_users')),
    sa.ForeignKeyConstraint(['transaction_id'], ['ledger_transactions.id'], name=op.f('fk_buyback_requests_transaction_id_ledger_transactions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_buyback_requests')),
    sa.UniqueConstraint('quote_id', name=op.f('uq_buyback_requests_quote_id'))
    )
    with op.batch_alter_table('buyback_requests', schema=None) as batch_op:
        batch_op.create_index('ix_buyback_requests_consultant_id_created_at', ['consultant_id', 'created_at'], unique=False)
        batch_op.create_index('ix_buyback_requests_status_created_at', ['status', 'created_at'], unique=False)

    op.create_table('buyback_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('commission_line_id', sa.Integer(), nullable=False),
    sa.Column('deal_id', sa.Integer(), nullable=False),
    sa.Column('developer_id', sa.Integer(), nullable=False),
    sa.Column('consultant_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('face_cents', sa.BigInteger(), nullable=False),
    sa.Column('discount_cents', sa.BigInteger(), nullable=False),
    sa.Column('advance_cents', sa.BigInteger(), nullable=False),
    sa.Column('remainder_cents', sa.BigInteger(), nullable=False),
    sa.Column('expected_on', sa.Date(), nullable=False),
    sa.Column('collected_cents', sa.BigInteger(), nullable=False),
    sa.Column('deal_collected_cents', sa.BigInteger(), nullable=False),
    sa.Column('remainder_paid_cents', sa.BigInteger(), nullable=False),
    sa.Column('discount_realised_cents', sa.BigInteger(), nullable=False),
    sa.Column('package_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.Column('updated_at', UtcDateTime(), nullable=False),
    sa.CheckConstraint("status IN ('reserved', 'purchased', 'collected', 'recourse', 'released')", name=op.f('ck_buyback_lines_status_known')),
    sa.CheckConstraint('collected_cents BETWEEN 0 AND face_cents', name=op.f('ck_buyback_lines_collected_range')),
    sa.CheckConstraint('discount_realised_cents BETWEEN 0 AND discount_cents', name=op.f('ck_buyback_lines_discount_realised_range')),
    sa.CheckConstraint('face_cents > 0 AND discount_cents >= 0 AND advance_cents >= 0 AND remainder_cents >= 0 AND advance_cents + discount_cents + remainder_cents = face_cents', name=op.f('ck_buyback_lines_parts_sum_to_face')),
    sa.CheckConstraint('remainder_paid_cents BETWEEN 0 AND remainder_cents', name=op.f('ck_buyback_lines_remainder_paid_range')),
    sa.ForeignKeyConstraint(['commission_line_id'], ['commission_lines.id'], name=op.f('fk_buyback_lines_commission_line_id_commission_lines')),
    sa.ForeignKeyConstraint(['consultant_id'], ['consultants.id'], name=op.f('fk_buyback_lines_consultant_id_consultants')),
    sa.ForeignKeyConstraint(['deal_id'], ['deals.id'], name=op.f('fk_buyback_lines_deal_id_deals')),
    sa.ForeignKeyConstraint(['developer_id'], ['developers.id'], name=op.f('fk_buyback_lines_developer_id_developers')),
    sa.ForeignKeyConstraint(['package_id'], ['buyback_packages.id'], name=op.f('fk_buyback_lines_package_id_buyback_packages')),
    sa.ForeignKeyConstraint(['request_id'], ['buyback_requests.id'], name=op.f('fk_buyback_lines_request_id_buyback_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_buyback_lines'))
    )
    with op.batch_alter_table('buyback_lines', schema=None) as batch_op:
        batch_op.create_index('ix_buyback_lines_consultant_id_status', ['consultant_id', 'status'], unique=False)
        batch_op.create_index('ix_buyback_lines_deal_id', ['deal_id'], unique=False)
        batch_op.create_index('ix_buyback_lines_developer_id_status', ['developer_id', 'status'], unique=False)
        batch_op.create_index('ix_buyback_lines_package_id', ['package_id'], unique=False)
        batch_op.create_index('ix_buyback_lines_request_id', ['request_id'], unique=False)
        batch_op.create_index('uq_buyback_lines_commission_line_id_live', ['commission_line_id'], unique=True, sqlite_where=sa.text("status <> 'released'"), postgresql_where=sa.text("status <> 'released'"))


def downgrade() -> None:
    for table in ("buyback_lines", "buyback_requests", "buyback_quote_lines", "buyback_settings", "buyback_quotes",
                  "buyback_packages", "buyback_developer_terms"):
        op.drop_table(table)
