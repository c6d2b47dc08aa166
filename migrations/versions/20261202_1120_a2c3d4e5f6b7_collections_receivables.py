"""Collections (回款), developer invoices (发票), payable-when rules, commission releases,
Stripe events and developer statement responses (issue 12 §1-2).

New tables only: developer_contracts, developer_invoices, collections (unique bank reference
per developer), collection_allocations, commission_releases (unique step per deal version),
commission_release_lines, stripe_events (unique event id), developer_statement_responses.

Revision ID: a2c3d4e5f6b7
Revises: f1b2c3d4e5a6
Create Date: 2026-12-02 11:20:00+00:00
"""
from alembic import op
import sqlalchemy as sa

from estate_platform.db import UtcDateTime

revision = "a2c3d4e5f6b7"
down_revision = "f1b2c3d4e5a6"
branch_labels = None
depends_on = None

TABLES = ("commission_release_lines", "commission_releases", "collection_allocations", "stripe_events",
          "collections", "developer_statement_responses", "developer_invoices", "developer_contracts")


def upgrade() -> None:
    op.create_table('developer_contracts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('developer_id', sa.Integer(), nullable=False),
    sa.Column('payable_when', sa.String(length=20), nullable=False),
    sa.Column('advance_days', sa.Integer(), nullable=True),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', UtcDateTime(), nullable=False),
    sa.CheckConstraint("(payable_when = 'advance') = (advance_days IS NOT NULL)", name=op.f('ck_developer_contracts_advance_has_days')),
    sa.CheckConstraint("payable_when IN ('pay_when_paid', 'advance')", name=op.f('ck_developer_contracts_payable_when_known')),
    sa.CheckConstraint('advance_days IS NULL OR advance_days BETWEEN 0 AND 365', name=op.f('ck_developer_contracts_advance_days_range')),
    sa.ForeignKeyConstraint(['developer_id'], ['developers.id'], name=op.f('fk_developer_contracts_developer_id_developers')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['staff_users.id'], name=op.f('fk_developer_contracts_updated_by_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_developer_contracts')),
    sa.UniqueConstraint('developer_id', name=op.f('uq_developer_contracts_developer_id'))
    )
    op.create_table('developer_invoices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('developer_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('tax_rate_bps', sa.Integer(), nullable=False),
    sa.Column('stripe_invoice_id', sa.String(length=80), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('voided_at', UtcDateTime(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.CheckConstraint('amount_cents > 0', name=op.f('ck_developer_invoices_amount_positive')),
    sa.CheckConstraint('tax_rate_bps BETWEEN 0 AND 10000', name=op.f('ck_developer_invoices_tax_rate_range')),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff_users.id'], name=op.f('fk_developer_invoices_created_by_id_staff_users')),
    sa.ForeignKeyConstraint(['developer_id'], ['developers.id'], name=op.f('fk_developer_invoices_developer_id_developers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_developer_invoices')),
    sa.UniqueConstraint('number', name=op.f('uq_developer_invoices_number')),
    sa.UniqueConstraint('stripe_invoice_id', name=op.f('uq_developer_invoices_stripe_invoice_id'))
    )
    op.create_index('ix_developer_invoices_developer_id_issued_on', 'developer_invoices', ['developer_id', 'issued_on'], unique=False)
    op.create_table('developer_statement_responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('developer_id', sa.Integer(), nullable=False),
    sa.Column('period_from', sa.Date(), nullable=False),
    sa.Column('period_to', sa.Date(), nullable=False),
    sa.Column('response', sa.String(length=20), nullable=False),
    sa.Column('responded_on', sa.Date(), nullable=False),
    sa.Column('balance_cents', sa.BigInteger(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.CheckConstraint("response IN ('confirmed', 'objected')", name=op.f('ck_developer_statement_responses_response_known')),
    sa.CheckConstraint('period_to >= period_from', name=op.f('ck_developer_statement_responses_period_ordered')),
    sa.ForeignKeyConstraint(['developer_id'], ['developers.id'], name=op.f('fk_developer_statement_responses_developer_id_developers')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['staff_users.id'], name=op.f('fk_developer_statement_responses_recorded_by_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_developer_statement_responses'))
    )
    op.create_index('ix_developer_statement_responses_developer_id_period_from', 'developer_statement_responses', ['developer_id', 'period_from'], unique=False)
    op.create_table('collections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('developer_id', sa.Integer(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('bank_reference', sa.String(length=80), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.Column('reversed_at', UtcDateTime(), nullable=True),
    sa.Column('reversed_by_id', sa.Integer(), nullable=True),
    sa.Column('reverse_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("source IN ('manual', 'stripe')", name=op.f('ck_collections_source_known')),
    sa.CheckConstraint('(reversed_at IS NULL) = (reverse_reason IS NULL)', name=op.f('ck_collections_reversal_explained')),
    sa.CheckConstraint('amount_cents > 0', name=op.f('ck_collections_amount_positive')),
    sa.ForeignKeyConstraint(['developer_id'], ['developers.id'], name=op.f('fk_collections_developer_id_developers')),
    sa.ForeignKeyConstraint(['invoice_id'], ['developer_invoices.id'], name=op.f('fk_collections_invoice_id_developer_invoices')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['staff_users.id'], name=op.f('fk_collections_recorded_by_id_staff_users')),
    sa.ForeignKeyConstraint(['reversed_by_id'], ['staff_users.id'], name=op.f('fk_collections_reversed_by_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_collections')),
    sa.UniqueConstraint('developer_id', 'bank_reference', name=op.f('uq_collections_developer_id_bank_reference'))
    )
    op.create_index('ix_collections_developer_id_received_on', 'collections', ['developer_id', 'received_on'], unique=False)
    op.create_index('ix_collections_invoice_id', 'collections', ['invoice_id'], unique=False)
    op.create_table('stripe_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.String(length=80), nullable=False),
    sa.Column('type', sa.String(length=80), nullable=False),
    sa.Column('outcome', sa.String(length=40), nullable=False),
    sa.Column('collection_id', sa.Integer(), nullable=True),
    sa.Column('received_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['collection_id'], ['collections.id'], name=op.f('fk_stripe_events_collection_id_collections')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_events')),
    sa.UniqueConstraint('event_id', name=op.f('uq_stripe_events_event_id'))
    )
    op.create_table('collection_allocations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('collection_id', sa.Integer(), nullable=False),
    sa.Column('batch', sa.Integer(), nullable=False),
    sa.Column('deal_id', sa.Integer(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.CheckConstraint('amount_cents > 0', name=op.f('ck_collection_allocations_amount_positive')),
    sa.CheckConstraint('batch >= 0', name=op.f('ck_collection_allocations_batch_non_negative')),
    sa.ForeignKeyConstraint(['collection_id'], ['collections.id'], name=op.f('fk_collection_allocations_collection_id_collections')),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff_users.id'], name=op.f('fk_collection_allocations_created_by_id_staff_users')),
    sa.ForeignKeyConstraint(['deal_id'], ['deals.id'], name=op.f('fk_collection_allocations_deal_id_deals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_collection_allocations')),
    sa.UniqueConstraint('collection_id', 'batch', 'deal_id', name=op.f('uq_collection_allocations_collection_id_batch_deal_id'))
    )
    op.create_index('ix_collection_allocations_deal_id', 'collection_allocations', ['deal_id'], unique=False)
    op.create_table('commission_releases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('deal_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('basis_from_cents', sa.BigInteger(), nullable=False),
    sa.Column('basis_to_cents', sa.BigInteger(), nullable=False),
    sa.Column('ledger_transaction_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.CheckConstraint("reason IN ('collection', 'advance', 'sweep', 'undo')", name=op.f('ck_commission_releases_reason_known')),
    sa.CheckConstraint('basis_from_cents >= 0 AND basis_to_cents >= 0 AND basis_to_cents <> basis_from_cents', name=op.f('ck_commission_releases_basis_moves')),
    sa.CheckConstraint('seq >= 1', name=op.f('ck_commission_releases_seq_positive')),
    sa.ForeignKeyConstraint(['deal_id'], ['deals.id'], name=op.f('fk_commission_releases_deal_id_deals')),
    sa.ForeignKeyConstraint(['ledger_transaction_id'], ['ledger_transactions.id'], name=op.f('fk_commission_releases_ledger_transaction_id_ledger_transactions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commission_releases')),
    sa.UniqueConstraint('deal_id', 'version', 'seq', name=op.f('uq_commission_releases_deal_id_version_seq'))
    )
    op.create_table('commission_release_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('release_id', sa.Integer(), nullable=False),
    sa.Column('line_id', sa.Integer(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('amount_cents <> 0', name=op.f('ck_commission_release_lines_amount_non_zero')),
    sa.ForeignKeyConstraint(['line_id'], ['commission_lines.id'], name=op.f('fk_commission_release_lines_line_id_commission_lines')),
    sa.ForeignKeyConstraint(['release_id'], ['commission_releases.id'], name=op.f('fk_commission_release_lines_release_id_commission_releases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commission_release_lines')),
    sa.UniqueConstraint('release_id', 'line_id', name=op.f('uq_commission_release_lines_release_id_line_id'))
    )
    op.create_index('ix_commission_release_lines_line_id', 'commission_release_lines', ['line_id'], unique=False)


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
