"""Deals, commission rules and split policies, commission lines, the double-entry
ledger, and the referral edges (handoffs, 老带新) with buyers' referral codes.

The database refuses what must never happen (DESIGN §7): a second live deal of a
unit, a split policy with three or more upline levels, a posting of zero, a
transaction whose legs do not sum to zero or that has fewer than two, and any
UPDATE or DELETE of postings, ledger transactions and commission lines.

Revision ID: 9a3c5e7b1d20
Revises: f1a2b3c4d5e6
Create Date: 2026-12-02 00:44:47+00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '9a3c5e7b1d20'
down_revision = 'f1a2b3c4d5e6'
branch_labels = None
depends_on = None

IMMUTABLE_TABLES = ("ledger_transactions", "ledger_postings", "commission_lines")

# All legs of a transaction are inserted in one statement (ledger.services.post_many):
# this statement trigger sees them together and refuses any transaction they touch
# that does not balance. SQLSTATE 23514 (check_violation) maps to a conflict.
POSTGRES_BALANCED = """
CREATE OR REPLACE FUNCTION ledger_refuse_unbalanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    bad integer;
BEGIN
    SELECT p.transaction_id INTO bad
      FROM ledger_postings p
     WHERE p.transaction_id IN (SELECT DISTINCT transaction_id FROM new_postings)
     GROUP BY p.transaction_id
    HAVING SUM(p.amount_cents) <> 0 OR COUNT(*) < 2
     LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'ledger transaction % is unbalanced', bad USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
END;
$$
"""

# A transaction row must not be left without legs: checked at commit.
POSTGRES_HAS_LEGS = """
CREATE OR REPLACE FUNCTION ledger_refuse_empty_transaction() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT COUNT(*) FROM ledger_postings WHERE transaction_id = NEW.id) < 2 THEN
        RAISE EXCEPTION 'ledger transaction % has fewer than two postings', NEW.id USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
END;
$$
"""


def ledger_triggers(direction: str) -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        if direction == "upgrade":
            op.execute(POSTGRES_BALANCED)
            op.execute("""
                CREATE TRIGGER ledger_postings_balanced
                AFTER INSERT ON ledger_postings
                REFERENCING NEW TABLE AS new_postings
                FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_unbalanced()
            """)
            op.execute(POSTGRES_HAS_LEGS)
            op.execute("""
                CREATE CONSTRAINT TRIGGER ledger_transactions_have_legs
                AFTER INSERT ON ledger_transactions
                DEFERRABLE INITIALLY DEFERRED
                FOR EACH ROW EXECUTE FUNCTION ledger_refuse_empty_transaction()
            """)
            for table in IMMUTABLE_TABLES:
                op.execute(f"""
                    CREATE TRIGGER {table}_immutable
                    BEFORE UPDATE OR DELETE ON {table}
                    FOR EACH ROW EXECUTE FUNCTION refuse_change_of_immutable_row()
                """)
        else:
            for table in IMMUTABLE_TABLES:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_immutable ON {table}")
            op.execute("DROP TRIGGER IF EXISTS ledger_transactions_have_legs ON ledger_transactions")
            op.execute("DROP TRIGGER IF EXISTS ledger_postings_balanced ON ledger_postings")
            op.execute("DROP FUNCTION IF EXISTS ledger_refuse_empty_transaction()")
            op.execute("DROP FUNCTION IF EXISTS ledger_refuse_unbalanced()")
    elif dialect == "sqlite":
        # SQLite has no statement triggers: the model checks balance before inserting
        # (ledger.services.check_balanced); the database still refuses any change.
        for table in IMMUTABLE_TABLES:
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
        raise NotImplementedError(f"ledger triggers are not written for {dialect}")


def upgrade() -> None:
    op.create_table('commission_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('basis', sa.String(length=10), nullable=False),
    sa.Column('rate_bps', sa.Integer(), nullable=True),
    sa.Column('fixed_cents', sa.BigInteger(), nullable=True),
    sa.Column('tier_metric', sa.String(length=10), nullable=True),
    sa.Column('trigger', sa.String(length=20), nullable=False),
    sa.Column('payment_terms_days', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("(basis = 'rate' AND rate_bps BETWEEN 1 AND 10000 AND fixed_cents IS NULL) OR (basis = 'fixed' AND fixed_cents > 0 AND rate_bps IS NULL)", name=op.f('ck_commission_rules_amount_matches_basis')),
    sa.CheckConstraint("basis IN ('rate', 'fixed')", name=op.f('ck_commission_rules_basis_known')),
    sa.CheckConstraint("tier_metric IS NULL OR tier_metric IN ('units', 'amount')", name=op.f('ck_commission_rules_tier_metric_known')),
    sa.CheckConstraint("trigger IN ('signed', 'loan_disbursed', 'paid_in_full')", name=op.f('ck_commission_rules_trigger_known')),
    sa.CheckConstraint('payment_terms_days BETWEEN 0 AND 730', name=op.f('ck_commission_rules_payment_terms_range')),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff_users.id'], name=op.f('fk_commission_rules_created_by_id_staff_users')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_commission_rules_project_id_projects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commission_rules')),
    sa.UniqueConstraint('project_id', 'effective_from', name=op.f('uq_commission_rules_project_id_effective_from'))
    )
    with op.batch_alter_table('commission_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_commission_rules_project_id'), ['project_id'], unique=False)

    op.create_table('commission_tiers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule_id', sa.Integer(), nullable=False),
    sa.Column('threshold', sa.BigInteger(), nullable=False),
    sa.Column('rate_bps', sa.Integer(), nullable=True),
    sa.Column('fixed_cents', sa.BigInteger(), nullable=True),
    sa.CheckConstraint('(rate_bps IS NOT NULL AND rate_bps BETWEEN 1 AND 10000) OR (fixed_cents IS NOT NULL AND fixed_cents > 0)', name=op.f('ck_commission_tiers_amount_given')),
    sa.CheckConstraint('threshold >= 1', name=op.f('ck_commission_tiers_threshold_positive')),
    sa.ForeignKeyConstraint(['rule_id'], ['commission_rules.id'], name=op.f('fk_commission_tiers_rule_id_commission_rules')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commission_tiers')),
    sa.UniqueConstraint('rule_id', 'threshold', name=op.f('uq_commission_tiers_rule_id_threshold'))
    )
    op.create_table('split_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('platform_fee_bps', sa.Integer(), nullable=False),
    sa.Column('referral_bps', sa.Integer(), nullable=False),
    sa.Column('max_upline_levels', sa.Integer(), nullable=False),
    sa.Column('upline_l1_bps', sa.Integer(), nullable=False),
    sa.Column('upline_l2_bps', sa.Integer(), nullable=False),
    sa.Column('buyer_referral_reward_cents', sa.BigInteger(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('(max_upline_levels >= 1 OR upline_l1_bps = 0) AND (max_upline_levels = 2 OR upline_l2_bps = 0)', name=op.f('ck_split_policies_unused_levels_zero')),
    sa.CheckConstraint('max_upline_levels BETWEEN 0 AND 2', name=op.f('ck_split_policies_at_most_two_upline_levels')),
    sa.CheckConstraint('platform_fee_bps BETWEEN 0 AND 10000', name=op.f('ck_split_policies_fee_range')),
    sa.CheckConstraint('referral_bps + upline_l1_bps + upline_l2_bps <= 10000', name=op.f('ck_split_policies_shares_fit')),
    sa.CheckConstraint('referral_bps BETWEEN 0 AND 10000', name=op.f('ck_split_policies_referral_range')),
    sa.CheckConstraint('upline_l1_bps BETWEEN 0 AND 10000 AND upline_l2_bps BETWEEN 0 AND 10000', name=op.f('ck_split_policies_upline_range')),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff_users.id'], name=op.f('fk_split_policies_created_by_id_staff_users')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_split_policies_project_id_projects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_split_policies'))
    )
    with op.batch_alter_table('split_policies', schema=None) as batch_op:
        batch_op.create_index('uq_split_policies_platform_effective_from', ['effective_from'], unique=True, sqlite_where=sa.text('project_id IS NULL'), postgresql_where=sa.text('project_id IS NULL'))
        batch_op.create_index('uq_split_policies_project_effective_from', ['project_id', 'effective_from'], unique=True, sqlite_where=sa.text('project_id IS NOT NULL'), postgresql_where=sa.text('project_id IS NOT NULL'))

    op.create_table('deals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('buyer_id', sa.Integer(), nullable=False),
    sa.Column('consultant_id', sa.Integer(), nullable=False),
    sa.Column('unit', sa.String(length=50), nullable=False),
    sa.Column('price_cents', sa.BigInteger(), nullable=False),
    sa.Column('subscribed_on', sa.Date(), nullable=False),
    sa.Column('stage', sa.String(length=20), nullable=False),
    sa.Column('signed_on', sa.Date(), nullable=True),
    sa.Column('completed_on', sa.Date(), nullable=True),
    sa.Column('trigger_reached_on', sa.Date(), nullable=True),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(), nullable=True),
    sa.Column('cancel_reason', sa.Text(), nullable=True),
    sa.Column('rule_id', sa.Integer(), nullable=False),
    sa.Column('rule_snapshot', sa.Text(), nullable=False),
    sa.Column('policy_id', sa.Integer(), nullable=False),
    sa.Column('policy_snapshot', sa.Text(), nullable=False),
    sa.Column('tier_index', sa.Integer(), nullable=True),
    sa.Column('tier_position', sa.BigInteger(), nullable=True),
    sa.Column('commission_cents', sa.BigInteger(), nullable=False),
    sa.Column('lines_version', sa.Integer(), nullable=False),
    sa.Column('recognised', sa.Boolean(), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("NOT recognised OR (lines_version >= 1 AND stage <> 'cancelled')", name=op.f('ck_deals_recognised_has_lines')),
    sa.CheckConstraint("stage <> 'cancelled' OR (cancel_reason IS NOT NULL AND cancelled_at IS NOT NULL)", name=op.f('ck_deals_cancellation_explained')),
    sa.CheckConstraint("stage IN ('subscribed', 'signed', 'loan_disbursed', 'paid_in_full', 'cancelled')", name=op.f('ck_deals_stage_known')),
    sa.CheckConstraint('commission_cents >= 0', name=op.f('ck_deals_commission_non_negative')),
    sa.CheckConstraint('lines_version >= 0', name=op.f('ck_deals_lines_version_non_negative')),
    sa.CheckConstraint('price_cents > 0', name=op.f('ck_deals_price_positive')),
    sa.ForeignKeyConstraint(['buyer_id'], ['buyers.id'], name=op.f('fk_deals_buyer_id_buyers')),
    sa.ForeignKeyConstraint(['consultant_id'], ['consultants.id'], name=op.f('fk_deals_consultant_id_consultants')),
    sa.ForeignKeyConstraint(['policy_id'], ['split_policies.id'], name=op.f('fk_deals_policy_id_split_policies')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_deals_project_id_projects')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['staff_users.id'], name=op.f('fk_deals_recorded_by_id_staff_users')),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_deals_registration_id_registrations')),
    sa.ForeignKeyConstraint(['rule_id'], ['commission_rules.id'], name=op.f('fk_deals_rule_id_commission_rules')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deals'))
    )
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deals_buyer_id'), ['buyer_id'], unique=False)
        batch_op.create_index('ix_deals_consultant_id_subscribed_on', ['consultant_id', 'subscribed_on'], unique=False)
        batch_op.create_index('ix_deals_project_id_subscribed_on', ['project_id', 'subscribed_on'], unique=False)
        batch_op.create_index('ix_deals_recognised_trigger_reached_on', ['recognised', 'trigger_reached_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_deals_registration_id'), ['registration_id'], unique=False)
        batch_op.create_index('uq_deals_live_unit', ['project_id', 'unit'], unique=True, sqlite_where=sa.text("stage <> 'cancelled'"), postgresql_where=sa.text("stage <> 'cancelled'"))

    op.create_table('commission_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('deal_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('party_type', sa.String(length=20), nullable=False),
    sa.Column('party_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('level', sa.Integer(), nullable=True),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("party_type IN ('platform', 'consultant', 'buyer')", name=op.f('ck_commission_lines_party_type_known')),
    sa.CheckConstraint("role IN ('platform_fee', 'referral', 'upline', 'serving', 'buyer_referral')", name=op.f('ck_commission_lines_role_known')),
    sa.CheckConstraint('amount_cents > 0', name=op.f('ck_commission_lines_amount_positive')),
    sa.CheckConstraint('level IS NULL OR level BETWEEN 1 AND 2', name=op.f('ck_commission_lines_level_at_most_two')),
    sa.ForeignKeyConstraint(['deal_id'], ['deals.id'], name=op.f('fk_commission_lines_deal_id_deals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commission_lines')),
    sa.UniqueConstraint('deal_id', 'version', 'seq', name=op.f('uq_commission_lines_deal_id_version_seq'))
    )
    with op.batch_alter_table('commission_lines', schema=None) as batch_op:
        batch_op.create_index('ix_commission_lines_party_type_party_id', ['party_type', 'party_id'], unique=False)

    op.create_table('ledger_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('party_type', sa.String(length=20), nullable=False),
    sa.Column('party_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("(party_type = 'platform') = (party_id = 0)", name=op.f('ck_ledger_accounts_platform_is_zero')),
    sa.CheckConstraint("kind IN ('receivable', 'revenue', 'pending', 'available', 'owes', 'cash')", name=op.f('ck_ledger_accounts_kind_known')),
    sa.CheckConstraint("party_type IN ('platform', 'developer', 'consultant', 'buyer')", name=op.f('ck_ledger_accounts_party_type_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_accounts')),
    sa.UniqueConstraint('party_type', 'party_id', 'kind', name=op.f('uq_ledger_accounts_party_type_party_id_kind'))
    )
    op.create_table('ledger_transactions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('deal_id', sa.Integer(), nullable=True),
    sa.Column('actor_type', sa.String(length=20), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['deal_id'], ['deals.id'], name=op.f('fk_ledger_transactions_deal_id_deals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_transactions')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_ledger_transactions_idempotency_key'))
    )
    with op.batch_alter_table('ledger_transactions', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_transactions_deal_id', ['deal_id'], unique=False)

    op.create_table('ledger_postings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('transaction_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('memo', sa.Text(), nullable=True),
    sa.CheckConstraint('amount_cents <> 0', name=op.f('ck_ledger_postings_amount_non_zero')),
    sa.ForeignKeyConstraint(['account_id'], ['ledger_accounts.id'], name=op.f('fk_ledger_postings_account_id_ledger_accounts')),
    sa.ForeignKeyConstraint(['transaction_id'], ['ledger_transactions.id'], name=op.f('fk_ledger_postings_transaction_id_ledger_transactions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_postings'))
    )
    with op.batch_alter_table('ledger_postings', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_postings_account_id', ['account_id'], unique=False)
        batch_op.create_index('ix_ledger_postings_transaction_id', ['transaction_id'], unique=False)

    op.create_table('referral_edges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('source_type', sa.String(length=20), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('target_type', sa.String(length=20), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('buyer_id', sa.Integer(), nullable=True),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.Column('handoff_id', sa.Integer(), nullable=True),
    sa.Column('valid_from', sa.DateTime(), nullable=False),
    sa.Column('valid_to', sa.DateTime(), nullable=True),
    sa.CheckConstraint("(kind = 'handoff' AND source_type = 'consultant' AND target_type = 'consultant' AND buyer_id IS NOT NULL AND project_id IS NOT NULL) OR (kind = 'buyer_referral' AND source_type = 'buyer' AND target_type = 'buyer')", name=op.f('ck_referral_edges_ends_match_kind')),
    sa.CheckConstraint("kind IN ('handoff', 'buyer_referral')", name=op.f('ck_referral_edges_kind_known')),
    sa.CheckConstraint('NOT (source_type = target_type AND source_id = target_id)', name=op.f('ck_referral_edges_not_self')),
    sa.CheckConstraint('valid_to IS NULL OR valid_to > valid_from', name=op.f('ck_referral_edges_valid_range')),
    sa.ForeignKeyConstraint(['buyer_id'], ['buyers.id'], name=op.f('fk_referral_edges_buyer_id_buyers')),
    sa.ForeignKeyConstraint(['handoff_id'], ['handoffs.id'], name=op.f('fk_referral_edges_handoff_id_handoffs')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_referral_edges_project_id_projects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referral_edges'))
    )
    with op.batch_alter_table('referral_edges', schema=None) as batch_op:
        batch_op.create_index('ix_referral_edges_kind_buyer_id_project_id', ['kind', 'buyer_id', 'project_id'], unique=False)
        batch_op.create_index('ix_referral_edges_source_type_source_id', ['source_type', 'source_id'], unique=False)
        batch_op.create_index('uq_referral_edges_buyer_referral_target', ['target_id'], unique=True, sqlite_where=sa.text("kind = 'buyer_referral'"), postgresql_where=sa.text("kind = 'buyer_referral'"))




    op.create_table('buyer_referral_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('buyer_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['buyer_id'], ['buyers.id'], name=op.f('fk_buyer_referral_codes_buyer_id_buyers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_buyer_referral_codes')),
    sa.UniqueConstraint('buyer_id', name=op.f('uq_buyer_referral_codes_buyer_id')),
    sa.UniqueConstraint('code', name=op.f('uq_buyer_referral_codes_code'))
    )
    ledger_triggers("upgrade")


def downgrade() -> None:
    ledger_triggers("downgrade")
    op.drop_table('buyer_referral_codes')
    with op.batch_alter_table('referral_edges', schema=None) as batch_op:
        batch_op.drop_index('uq_referral_edges_buyer_referral_target', sqlite_where=sa.text("kind = 'buyer_referral'"), postgresql_where=sa.text("kind = 'buyer_referral'"))
        batch_op.drop_index('ix_referral_edges_source_type_source_id')
        batch_op.drop_index('ix_referral_edges_kind_buyer_id_project_id')

    op.drop_table('referral_edges')
    with op.batch_alter_table('ledger_postings', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_postings_transaction_id')
        batch_op.drop_index('ix_ledger_postings_account_id')

    op.drop_table('ledger_postings')
    with op.batch_alter_table('ledger_transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_transactions_deal_id')

    op.drop_table('ledger_transactions')
    op.drop_table('ledger_accounts')

    with op.batch_alter_table('commission_lines', schema=None) as batch_op:
        batch_op.drop_index('ix_commission_lines_party_type_party_id')

    op.drop_table('commission_lines')
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.drop_index('uq_deals_live_unit', sqlite_where=sa.text("stage <> 'cancelled'"), postgresql_where=sa.text("stage <> 'cancelled'"))
        batch_op.drop_index(batch_op.f('ix_deals_registration_id'))
        batch_op.drop_index('ix_deals_recognised_trigger_reached_on')
        batch_op.drop_index('ix_deals_project_id_subscribed_on')
        batch_op.drop_index('ix_deals_consultant_id_subscribed_on')
        batch_op.drop_index(batch_op.f('ix_deals_buyer_id'))

    op.drop_table('deals')
    with op.batch_alter_table('split_policies', schema=None) as batch_op:
        batch_op.drop_index('uq_split_policies_project_effective_from', sqlite_where=sa.text('project_id IS NOT NULL'), postgresql_where=sa.text('project_id IS NOT NULL'))
        batch_op.drop_index('uq_split_policies_platform_effective_from', sqlite_where=sa.text('project_id IS NULL'), postgresql_where=sa.text('project_id IS NULL'))

    op.drop_table('split_policies')
    op.drop_table('commission_tiers')
    with op.batch_alter_table('commission_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_commission_rules_project_id'))

    op.drop_table('commission_rules')
