"""Payout accounts, settlement batches and items, consultant invoices, sensitive reads (issue 12 §2-3).

payout_accounts: where a consultant's or buyer's money goes, account and ID numbers
encrypted, one verified and one pending account per party (partial unique indexes).
settlement_batches: maker-checker in the database (CHECK approved_by_id <> prepared_by_id).
settlement_items: one item per party per batch, net = gross - owes netted - tax.

Revision ID: b3d4e5f6a7c8
Revises: a2c3d4e5f6b7
Create Date: 2026-12-02 11:30:00+00:00
"""
from alembic import op
import sqlalchemy as sa

from estate_platform.db import UtcDateTime

revision = "b3d4e5f6a7c8"
down_revision = "a2c3d4e5f6b7"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('payout_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('party_type', sa.String(length=20), nullable=False),
    sa.Column('party_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('holder_name', sa.String(length=100), nullable=False),
    sa.Column('bank_name', sa.String(length=100), nullable=False),
    sa.Column('account_number_enc', sa.Text(), nullable=False),
    sa.Column('account_last4', sa.String(length=4), nullable=False),
    sa.Column('id_number_enc', sa.Text(), nullable=True),
    sa.Column('id_last4', sa.String(length=4), nullable=True),
    sa.Column('status', sa.String(length=30), nullable=False),
    sa.Column('gateway_account_id', sa.String(length=100), nullable=True),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.Column('verified_at', UtcDateTime(), nullable=True),
    sa.Column('payable_from', UtcDateTime(), nullable=True),
    sa.Column('replaced_at', UtcDateTime(), nullable=True),
    sa.CheckConstraint("kind = 'corporate' OR id_number_enc IS NOT NULL", name=op.f('ck_payout_accounts_personal_has_id_number')),
    sa.CheckConstraint("kind IN ('personal', 'corporate')", name=op.f('ck_payout_accounts_kind_known')),
    sa.CheckConstraint("party_type IN ('consultant', 'buyer')", name=op.f('ck_payout_accounts_party_type_known')),
    sa.CheckConstraint("status IN ('pending_verification', 'verified', 'replaced', 'abandoned')", name=op.f('ck_payout_accounts_status_known')),
    sa.CheckConstraint("status NOT IN ('verified', 'replaced') OR (verified_at IS NOT NULL AND payable_from IS NOT NULL)", name=op.f('ck_payout_accounts_verification_recorded')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payout_accounts'))
    )
    op.create_index('ix_payout_accounts_party', 'payout_accounts', ['party_type', 'party_id'], unique=False)
    op.create_index('uq_payout_accounts_pending', 'payout_accounts', ['party_type', 'party_id'], unique=True, sqlite_where=sa.text("status = 'pending_verification'"), postgresql_where=sa.text("status = 'pending_verification'"))
    op.create_index('uq_payout_accounts_verified', 'payout_accounts', ['party_type', 'party_id'], unique=True, sqlite_where=sa.text("status = 'verified'"), postgresql_where=sa.text("status = 'verified'"))
    op.create_table('sensitive_reads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('actor_type', sa.String(length=20), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('subject_type', sa.String(length=30), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('what', sa.String(length=100), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.CheckConstraint("actor_type IN ('staff', 'consultant', 'buyer', 'system')", name=op.f('ck_sensitive_reads_actor_type_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sensitive_reads'))
    )
    op.create_index('ix_sensitive_reads_subject', 'sensitive_reads', ['subject_type', 'subject_id'], unique=False)
    op.create_table('settlement_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('prepared_by_id', sa.Integer(), nullable=True),
    sa.Column('prepared_at', UtcDateTime(), nullable=False),
    sa.Column('approved_by_id', sa.Integer(), nullable=True),
    sa.Column('approved_at', UtcDateTime(), nullable=True),
    sa.Column('second_approved_by_id', sa.Integer(), nullable=True),
    sa.Column('second_approved_at', UtcDateTime(), nullable=True),
    sa.Column('item_count', sa.Integer(), nullable=False),
    sa.Column('gross_cents', sa.BigInteger(), nullable=False),
    sa.Column('tax_cents', sa.BigInteger(), nullable=False),
    sa.Column('net_cents', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("(status = 'prepared') = (approved_by_id IS NULL)", name=op.f('ck_settlement_batches_approval_recorded')),
    sa.CheckConstraint("channel IN ('gateway', 'provider')", name=op.f('ck_settlement_batches_channel_known')),
    sa.CheckConstraint("status IN ('prepared', 'approved', 'completed')", name=op.f('ck_settlement_batches_status_known')),
    sa.CheckConstraint('approved_by_id IS NULL OR prepared_by_id IS NULL OR approved_by_id <> prepared_by_id', name=op.f('ck_settlement_batches_checker_not_maker')),
    sa.CheckConstraint('second_approved_by_id IS NULL OR (second_approved_by_id <> approved_by_id AND (prepared_by_id IS NULL OR second_approved_by_id <> prepared_by_id))', name=op.f('ck_settlement_batches_second_checker_distinct')),
    sa.ForeignKeyConstraint(['approved_by_id'], ['staff_users.id'], name=op.f('fk_settlement_batches_approved_by_id_staff_users')),
    sa.ForeignKeyConstraint(['prepared_by_id'], ['staff_users.id'], name=op.f('fk_settlement_batches_prepared_by_id_staff_users')),
    sa.ForeignKeyConstraint(['second_approved_by_id'], ['staff_users.id'], name=op.f('fk_settlement_batches_second_approved_by_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_batches')),
    sa.UniqueConstraint('key', name=op.f('uq_settlement_batches_key'))
    )
    op.create_table('settlement_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('party_type', sa.String(length=20), nullable=False),
    sa.Column('party_id', sa.Integer(), nullable=False),
    sa.Column('payout_account_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=30), nullable=False),
    sa.Column('gross_cents', sa.BigInteger(), nullable=False),
    sa.Column('owes_netted_cents', sa.BigInteger(), nullable=False),
    sa.Column('tax_cents', sa.BigInteger(), nullable=False),
    sa.Column('net_cents', sa.BigInteger(), nullable=False),
    sa.Column('withheld_by', sa.String(length=20), nullable=False),
    sa.Column('tax_month', sa.String(length=7), nullable=False),
    sa.Column('provider_tax_cents', sa.BigInteger(), nullable=True),
    sa.Column('first_to_account', sa.Boolean(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=120), nullable=False),
    sa.Column('gateway_ref', sa.String(length=120), nullable=True),
    sa.Column('failure_reason', sa.Text(), nullable=True),
    sa.Column('hold_reason', sa.Text(), nullable=True),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.Column('sent_at', UtcDateTime(), nullable=True),
    sa.Column('settled_at', UtcDateTime(), nullable=True),
    sa.CheckConstraint("party_type IN ('consultant', 'buyer')", name=op.f('ck_settlement_items_party_type_known')),
    sa.CheckConstraint("status IN ('ready', 'awaiting_invoice', 'awaiting_second_approval', 'sending', 'paid', 'failed', 'held')", name=op.f('ck_settlement_items_status_known')),
    sa.CheckConstraint("withheld_by = 'platform' OR tax_cents = 0", name=op.f('ck_settlement_items_only_platform_withholds')),
    sa.CheckConstraint("withheld_by IN ('platform', 'provider', 'none')", name=op.f('ck_settlement_items_withheld_by_known')),
    sa.CheckConstraint('gross_cents > 0 AND owes_netted_cents >= 0 AND tax_cents >= 0 AND net_cents > 0', name=op.f('ck_settlement_items_amounts_positive')),
    sa.CheckConstraint('net_cents = gross_cents - owes_netted_cents - tax_cents', name=op.f('ck_settlement_items_net_is_gross_less_deductions')),
    sa.ForeignKeyConstraint(['batch_id'], ['settlement_batches.id'], name=op.f('fk_settlement_items_batch_id_settlement_batches')),
    sa.ForeignKeyConstraint(['payout_account_id'], ['payout_accounts.id'], name=op.f('fk_settlement_items_payout_account_id_payout_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_items')),
    sa.UniqueConstraint('batch_id', 'party_type', 'party_id', name='uq_settlement_items_party'),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_settlement_items_idempotency_key'))
    )
    op.create_index('ix_settlement_items_party', 'settlement_items', ['party_type', 'party_id', 'tax_month'], unique=False)
    op.create_index('ix_settlement_items_status', 'settlement_items', ['status'], unique=False)
    op.create_table('consultant_invoices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('consultant_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('invoice_number', sa.String(length=50), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=50), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.CheckConstraint('amount_cents > 0', name=op.f('ck_consultant_invoices_amount_positive')),
    sa.ForeignKeyConstraint(['consultant_id'], ['consultants.id'], name=op.f('fk_consultant_invoices_consultant_id_consultants')),
    sa.ForeignKeyConstraint(['item_id'], ['settlement_items.id'], name=op.f('fk_consultant_invoices_item_id_settlement_items')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consultant_invoices')),
    sa.UniqueConstraint('item_id', name=op.f('uq_consultant_invoices_item_id'))
    )
    op.create_index('ix_consultant_invoices_consultant_id', 'consultant_invoices', ['consultant_id'], unique=False)


def downgrade() -> None:
    op.drop_index("ix_consultant_invoices_consultant_id", table_name="consultant_invoices")
    op.drop_table("consultant_invoices")
    op.drop_index("ix_settlement_items_status", table_name="settlement_items")
    op.drop_index("ix_settlement_items_party", table_name="settlement_items")
    op.drop_table("settlement_items")
    op.drop_table("settlement_batches")
    op.drop_index("ix_sensitive_reads_subject", table_name="sensitive_reads")
    op.drop_table("sensitive_reads")
    op.drop_index("uq_payout_accounts_verified", table_name="payout_accounts")
    op.drop_index("uq_payout_accounts_pending", table_name="payout_accounts")
    op.drop_index("ix_payout_accounts_party", table_name="payout_accounts")
    op.drop_table("payout_accounts")
