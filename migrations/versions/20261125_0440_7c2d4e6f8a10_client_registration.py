"""Client registration: project rules, existing customers, invite links and tracking,
registrations (one binding per project and buyer), visits and attachments, handoffs,
the client book, notifications, phone reveals, and the evidence log (hash chain).

Revision ID: 7c2d4e6f8a10
Revises: 5b1e7d2a9f30
Create Date: 2026-11-25 04:31:27.191600+00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '7c2d4e6f8a10'
down_revision = '5b1e7d2a9f30'
branch_labels = None
depends_on = None

PROJECT_CHECKS = [
    ("protection_mode_known", "protection_mode IN ('report_visit_deal', 'report_deal', 'visit_deal')"),
    ("phone_disclosure_known", "phone_disclosure IN ('full', 'first3_last4', 'first4_last3')"),
    ("price_range", "price_min_cents >= 0 AND price_max_cents >= price_min_cents"),
    ("windows_positive", "visit_window_hours > 0 AND deal_window_hours > 0"),
    ("daily_limit_positive", "daily_buyer_project_limit >= 1"),
    ("cooldown_non_negative", "reregister_cooldown_hours >= 0"),
    ("attribution_window_positive", "attribution_window_days >= 1"),
    ("remind_non_negative", "remind_before_hours >= 0"),
    ("cooperation_range", "cooperation_end IS NULL OR cooperation_start IS NULL OR cooperation_end >= cooperation_start"),
]


def immutable_evidence(direction: str) -> None:
    """The evidence log is append-only, like signatures (see 5b1e7d2a9f30)."""
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        if direction == "upgrade":
            op.execute("""
                CREATE TRIGGER evidence_records_immutable
                BEFORE UPDATE OR DELETE ON evidence_records
                FOR EACH ROW EXECUTE FUNCTION refuse_change_of_immutable_row()
            """)
        else:
            op.execute("DROP TRIGGER IF EXISTS evidence_records_immutable ON evidence_records")
    else:
        for action in ("UPDATE", "DELETE"):
            if direction == "upgrade":
                op.execute(f"""
                    CREATE TRIGGER evidence_records_no_{action.lower()}
                    BEFORE {action} ON evidence_records
                    BEGIN
                        SELECT RAISE(ABORT, 'evidence_records rows are immutable ({action} refused)');
                    END
                """)
            else:
                op.execute(f"DROP TRIGGER IF EXISTS evidence_records_no_{action.lower()}")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    op.create_table('evidence_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_type', sa.String(length=20), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('actor_type', sa.String(length=20), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.CheckConstraint("actor_type IN ('consultant', 'staff', 'buyer', 'system')", name=op.f('ck_evidence_records_actor_type_known')),
    sa.CheckConstraint('length(hash) = 64 AND length(prev_hash) = 64', name=op.f('ck_evidence_records_hash_length')),
    sa.CheckConstraint('seq >= 1', name=op.f('ck_evidence_records_seq_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evidence_records')),
    sa.UniqueConstraint('subject_type', 'subject_id', 'seq', name=op.f('uq_evidence_records_subject_type_subject_id_seq'))
    )
    op.create_table('client_cards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('consultant_id', sa.Integer(), nullable=False),
    sa.Column('buyer_id', sa.Integer(), nullable=False),
    sa.Column('display_name', sa.String(length=50), nullable=False),
    sa.Column('tier', sa.String(length=1), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("tier IS NULL OR tier IN ('A', 'B', 'C', 'D')", name=op.f('ck_client_cards_tier_known')),
    sa.ForeignKeyConstraint(['buyer_id'], ['buyers.id'], name=op.f('fk_client_cards_buyer_id_buyers')),
    sa.ForeignKeyConstraint(['consultant_id'], ['consultants.id'], name=op.f('fk_client_cards_consultant_id_consultants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_client_cards')),
    sa.UniqueConstraint('consultant_id', 'buyer_id', name=op.f('uq_client_cards_consultant_id_buyer_id'))
    )
    op.create_table('existing_customers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=True),
    sa.Column('marked_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['marked_by_id'], ['staff_users.id'], name=op.f('fk_existing_customers_marked_by_id_staff_users')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_existing_customers_project_id_projects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_existing_customers')),
    sa.UniqueConstraint('project_id', 'phone', name=op.f('uq_existing_customers_project_id_phone'))
    )
    op.create_table('invite_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('consultant_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('scene', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('disabled_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("channel IN ('moments', 'group', 'chat', 'poster', 'offline')", name=op.f('ck_invite_links_channel_known')),
    sa.ForeignKeyConstraint(['consultant_id'], ['consultants.id'], name=op.f('fk_invite_links_consultant_id_consultants')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_invite_links_project_id_projects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invite_links')),
    sa.UniqueConstraint('scene', name=op.f('uq_invite_links_scene')),
    sa.UniqueConstraint('token', name=op.f('uq_invite_links_token'))
    )
    with op.batch_alter_table('invite_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invite_links_consultant_id'), ['consultant_id'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('consultant_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('read_at', sa.DateTime(), nullable=True),
    sa.Column('delivered_at', sa.DateTime(), nullable=True),
    sa.Column('delivery_error', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['consultant_id'], ['consultants.id'], name=op.f('fk_notifications_consultant_id_consultants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_consultant_id_created_at', ['consultant_id', 'created_at'], unique=False)

    op.create_table('attributions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('buyer_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.Column('link_id', sa.Integer(), nullable=False),
    sa.Column('consultant_id', sa.Integer(), nullable=False),
    sa.Column('first_opened_at', sa.DateTime(), nullable=False),
    sa.Column('attributed_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['buyer_id'], ['buyers.id'], name=op.f('fk_attributions_buyer_id_buyers')),
    sa.ForeignKeyConstraint(['consultant_id'], ['consultants.id'], name=op.f('fk_attributions_consultant_id_consultants')),
    sa.ForeignKeyConstraint(['link_id'], ['invite_links.id'], name=op.f('fk_attributions_link_id_invite_links')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_attributions_project_id_projects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attributions'))
    )
    with op.batch_alter_table('attributions', schema=None) as batch_op:
        batch_op.create_index('ix_attributions_buyer_id_project_id', ['buyer_id', 'project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_attributions_link_id'), ['link_id'], unique=False)

    op.create_table('client_tags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('card_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('value', sa.String(length=30), nullable=False),
    sa.CheckConstraint("category IN ('budget', 'layout', 'purpose', 'financing', 'free')", name=op.f('ck_client_tags_category_known')),
    sa.ForeignKeyConstraint(['card_id'], ['client_cards.id'], name=op.f('fk_client_tags_card_id_client_cards')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_client_tags')),
    sa.UniqueConstraint('card_id', 'category', 'value', name=op.f('uq_client_tags_card_id_category_value'))
    )
    with op.batch_alter_table('client_tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_client_tags_card_id'), ['card_id'], unique=False)

    op.create_table('follow_up_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('card_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('next_contact_at', sa.DateTime(), nullable=True),
    sa.Column('reminded_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['card_id'], ['client_cards.id'], name=op.f('fk_follow_up_notes_card_id_client_cards')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_up_notes'))
    )
    with op.batch_alter_table('follow_up_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_follow_up_notes_card_id'), ['card_id'], unique=False)
        batch_op.create_index('ix_follow_up_notes_next_contact_at_reminded_at', ['next_contact_at', 'reminded_at'], unique=False)

    op.create_table('link_opens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('link_id', sa.Integer(), nullable=False),
    sa.Column('visitor_id', sa.String(length=40), nullable=False),
    sa.Column('opened_at', sa.DateTime(), nullable=False),
    sa.Column('ip_hash', sa.String(length=64), nullable=False),
    sa.Column('user_agent', sa.String(length=500), nullable=False),
    sa.Column('referrer', sa.String(length=500), nullable=True),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['link_id'], ['invite_links.id'], name=op.f('fk_link_opens_link_id_invite_links')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_link_opens'))
    )
    with op.batch_alter_table('link_opens', schema=None) as batch_op:
        batch_op.create_index('ix_link_opens_link_id_opened_at', ['link_id', 'opened_at'], unique=False)
        batch_op.create_index('ix_link_opens_visitor_id_opened_at', ['visitor_id', 'opened_at'], unique=False)

    op.create_table('registrations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('buyer_id', sa.Integer(), nullable=False),
    sa.Column('consultant_id', sa.Integer(), nullable=False),
    sa.Column('buyer_name', sa.String(length=50), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('expected_visit_at', sa.DateTime(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('binding', sa.Boolean(), nullable=False),
    sa.Column('protection_mode', sa.String(length=20), nullable=False),
    sa.Column('protected_until', sa.DateTime(), nullable=False),
    sa.Column('reminded_at', sa.DateTime(), nullable=True),
    sa.Column('source_link_id', sa.Integer(), nullable=True),
    sa.Column('referrer_consultant_id', sa.Integer(), nullable=True),
    sa.Column('handoff_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('end_reason', sa.String(length=200), nullable=True),
    sa.CheckConstraint("NOT binding OR status IN ('reported', 'visited')", name=op.f('ck_registrations_binding_is_open')),
    sa.CheckConstraint("status IN ('reported', 'visited', 'expired', 'lost', 'cancelled')", name=op.f('ck_registrations_status_known')),
    sa.ForeignKeyConstraint(['buyer_id'], ['buyers.id'], name=op.f('fk_registrations_buyer_id_buyers')),
    sa.ForeignKeyConstraint(['consultant_id'], ['consultants.id'], name=op.f('fk_registrations_consultant_id_consultants')),
    *([sa.ForeignKeyConstraint(['handoff_id'], ['handoffs.id'], name=op.f('fk_registrations_handoff_id_handoffs'))]
      if sqlite else []),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_registrations_project_id_projects')),
    sa.ForeignKeyConstraint(['referrer_consultant_id'], ['consultants.id'], name=op.f('fk_registrations_referrer_consultant_id_consultants')),
    sa.ForeignKeyConstraint(['source_link_id'], ['invite_links.id'], name=op.f('fk_registrations_source_link_id_invite_links')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registrations'))
    )
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.create_index('ix_registrations_buyer_id_created_at', ['buyer_id', 'created_at'], unique=False)
        batch_op.create_index('ix_registrations_consultant_id_status', ['consultant_id', 'status'], unique=False)
        batch_op.create_index('ix_registrations_status_protected_until', ['status', 'protected_until'], unique=False)
        batch_op.create_index('uq_registrations_binding_project_buyer', ['project_id', 'buyer_id'], unique=True, sqlite_where=sa.text('binding'), postgresql_where=sa.text('binding'))
        batch_op.create_index('uq_registrations_open_per_consultant', ['project_id', 'buyer_id', 'consultant_id'], unique=True, sqlite_where=sa.text("status IN ('reported', 'visited')"), postgresql_where=sa.text("status IN ('reported', 'visited')"))

    op.create_table('handoffs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('from_consultant_id', sa.Integer(), nullable=False),
    sa.Column('requested_consultant_id', sa.Integer(), nullable=True),
    sa.Column('via_pool', sa.Boolean(), nullable=False),
    sa.Column('buyer_id', sa.Integer(), nullable=False),
    sa.Column('buyer_name', sa.String(length=50), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('offered_to_id', sa.Integer(), nullable=True),
    sa.Column('respond_by', sa.DateTime(), nullable=True),
    sa.Column('registration_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("status <> 'offered' OR offered_to_id IS NOT NULL", name=op.f('ck_handoffs_offered_has_receiver')),
    sa.CheckConstraint("status IN ('offered', 'accepted', 'unrouted', 'cancelled')", name=op.f('ck_handoffs_status_known')),
    sa.CheckConstraint('offered_to_id IS NULL OR offered_to_id <> from_consultant_id', name=op.f('ck_handoffs_not_to_self')),
    sa.ForeignKeyConstraint(['buyer_id'], ['buyers.id'], name=op.f('fk_handoffs_buyer_id_buyers')),
    sa.ForeignKeyConstraint(['from_consultant_id'], ['consultants.id'], name=op.f('fk_handoffs_from_consultant_id_consultants')),
    sa.ForeignKeyConstraint(['offered_to_id'], ['consultants.id'], name=op.f('fk_handoffs_offered_to_id_consultants')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_handoffs_project_id_projects')),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_handoffs_registration_id_registrations')),
    sa.ForeignKeyConstraint(['requested_consultant_id'], ['consultants.id'], name=op.f('fk_handoffs_requested_consultant_id_consultants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handoffs'))
    )
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_handoffs_from_consultant_id'), ['from_consultant_id'], unique=False)
        batch_op.create_index('ix_handoffs_offered_to_id_status', ['offered_to_id', 'status'], unique=False)
        batch_op.create_index('ix_handoffs_status_respond_by', ['status', 'respond_by'], unique=False)

    if not sqlite:  # registrations ⇄ handoffs reference each other
        op.create_foreign_key(op.f('fk_registrations_handoff_id_handoffs'), 'registrations', 'handoffs',
                              ['handoff_id'], ['id'])
    op.create_table('phone_reveals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_user_id', sa.Integer(), nullable=False),
    sa.Column('buyer_id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=True),
    sa.Column('purpose', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['buyer_id'], ['buyers.id'], name=op.f('fk_phone_reveals_buyer_id_buyers')),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_phone_reveals_registration_id_registrations')),
    sa.ForeignKeyConstraint(['staff_user_id'], ['staff_users.id'], name=op.f('fk_phone_reveals_staff_user_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_phone_reveals'))
    )
    with op.batch_alter_table('phone_reveals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_phone_reveals_staff_user_id'), ['staff_user_id'], unique=False)

    op.create_table('visits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('scheduled_at', sa.DateTime(), nullable=False),
    sa.Column('check_in_code', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(), nullable=True),
    sa.Column('confirmed_by_type', sa.String(length=10), nullable=True),
    sa.Column('confirmed_by_id', sa.Integer(), nullable=True),
    sa.Column('invalid_reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("confirmed_by_type IS NULL OR confirmed_by_type IN ('staff', 'buyer')", name=op.f('ck_visits_confirmed_by_known')),
    sa.CheckConstraint("status <> 'invalid' OR invalid_reason IS NOT NULL", name=op.f('ck_visits_invalid_has_reason')),
    sa.CheckConstraint("status IN ('scheduled', 'confirmed', 'invalid', 'cancelled')", name=op.f('ck_visits_status_known')),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_visits_registration_id_registrations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visits')),
    sa.UniqueConstraint('check_in_code', name=op.f('uq_visits_check_in_code'))
    )
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.create_index('ix_visits_registration_id_status', ['registration_id', 'status'], unique=False)

    op.create_table('handoff_offers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('handoff_id', sa.Integer(), nullable=False),
    sa.Column('consultant_id', sa.Integer(), nullable=False),
    sa.Column('offered_at', sa.DateTime(), nullable=False),
    sa.Column('respond_by', sa.DateTime(), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=True),
    sa.Column('responded_at', sa.DateTime(), nullable=True),
    sa.Column('decline_reason', sa.String(length=200), nullable=True),
    sa.CheckConstraint("outcome IS NULL OR outcome IN ('accepted', 'declined', 'timed_out', 'withdrawn')", name=op.f('ck_handoff_offers_outcome_known')),
    sa.ForeignKeyConstraint(['consultant_id'], ['consultants.id'], name=op.f('fk_handoff_offers_consultant_id_consultants')),
    sa.ForeignKeyConstraint(['handoff_id'], ['handoffs.id'], name=op.f('fk_handoff_offers_handoff_id_handoffs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handoff_offers')),
    sa.UniqueConstraint('handoff_id', 'consultant_id', name=op.f('uq_handoff_offers_handoff_id_consultant_id'))
    )
    with op.batch_alter_table('handoff_offers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_handoff_offers_handoff_id'), ['handoff_id'], unique=False)

    op.create_table('visit_attachments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=50), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_by_type', sa.String(length=20), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("content_type IN ('image/jpeg', 'image/png', 'application/pdf')", name=op.f('ck_visit_attachments_content_type_allowed')),
    sa.CheckConstraint('size_bytes > 0', name=op.f('ck_visit_attachments_size_positive')),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_visit_attachments_visit_id_visits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visit_attachments'))
    )
    with op.batch_alter_table('visit_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_visit_attachments_visit_id'), ['visit_id'], unique=False)

    with op.batch_alter_table('consultants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rating', sa.Integer(), server_default='80', nullable=False))

    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('description', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('price_min_cents', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('price_max_cents', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('cooperation_start', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('cooperation_end', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('protection_mode', sa.String(length=20), server_default='report_visit_deal', nullable=False))
        batch_op.add_column(sa.Column('visit_window_hours', sa.Integer(), server_default='720', nullable=False))
        batch_op.add_column(sa.Column('deal_window_hours', sa.Integer(), server_default='2160', nullable=False))
        batch_op.add_column(sa.Column('phone_disclosure', sa.String(length=20), server_default='first3_last4', nullable=False))
        batch_op.add_column(sa.Column('daily_buyer_project_limit', sa.Integer(), server_default='3', nullable=False))
        batch_op.add_column(sa.Column('reregister_cooldown_hours', sa.Integer(), server_default='72', nullable=False))
        batch_op.add_column(sa.Column('attribution_window_days', sa.Integer(), server_default='30', nullable=False))
        batch_op.add_column(sa.Column('remind_before_hours', sa.Integer(), server_default='72', nullable=False))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(), nullable=True))
    op.execute("UPDATE projects SET updated_at = created_at")
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.alter_column('updated_at', existing_type=sa.DateTime(), nullable=False)
        for name, condition in PROJECT_CHECKS:
            batch_op.create_check_constraint(op.f(f'ck_projects_{name}'), condition)
    with op.batch_alter_table('consultants', schema=None) as batch_op:
        batch_op.create_check_constraint(op.f('ck_consultants_rating_range'), 'rating >= 0 AND rating <= 100')
    immutable_evidence('upgrade')



def downgrade() -> None:
    immutable_evidence('downgrade')
    with op.batch_alter_table('consultants', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_consultants_rating_range'), type_='check')
    with op.batch_alter_table('projects', schema=None) as batch_op:
        for name, _ in PROJECT_CHECKS:
            batch_op.drop_constraint(op.f(f'ck_projects_{name}'), type_='check')
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint(op.f('fk_registrations_handoff_id_handoffs'), 'registrations', type_='foreignkey')
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_column('updated_at')
        batch_op.drop_column('remind_before_hours')
        batch_op.drop_column('attribution_window_days')
        batch_op.drop_column('reregister_cooldown_hours')
        batch_op.drop_column('daily_buyer_project_limit')
        batch_op.drop_column('phone_disclosure')
        batch_op.drop_column('deal_window_hours')
        batch_op.drop_column('visit_window_hours')
        batch_op.drop_column('protection_mode')
        batch_op.drop_column('cooperation_end')
        batch_op.drop_column('cooperation_start')
        batch_op.drop_column('price_max_cents')
        batch_op.drop_column('price_min_cents')
        batch_op.drop_column('description')

    with op.batch_alter_table('consultants', schema=None) as batch_op:
        batch_op.drop_column('rating')

    with op.batch_alter_table('visit_attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_visit_attachments_visit_id'))

    op.drop_table('visit_attachments')
    with op.batch_alter_table('handoff_offers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_handoff_offers_handoff_id'))

    op.drop_table('handoff_offers')
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_index('ix_visits_registration_id_status')

    op.drop_table('visits')
    with op.batch_alter_table('phone_reveals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_phone_reveals_staff_user_id'))

    op.drop_table('phone_reveals')
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.drop_index('ix_handoffs_status_respond_by')
        batch_op.drop_index('ix_handoffs_offered_to_id_status')
        batch_op.drop_index(batch_op.f('ix_handoffs_from_consultant_id'))

    op.drop_table('handoffs')
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_index('uq_registrations_open_per_consultant', sqlite_where=sa.text("status IN ('reported', 'visited')"), postgresql_where=sa.text("status IN ('reported', 'visited')"))
        batch_op.drop_index('uq_registrations_binding_project_buyer', sqlite_where=sa.text('binding'), postgresql_where=sa.text('binding'))
        batch_op.drop_index('ix_registrations_status_protected_until')
        batch_op.drop_index('ix_registrations_consultant_id_status')
        batch_op.drop_index('ix_registrations_buyer_id_created_at')

    op.drop_table('registrations')
    with op.batch_alter_table('link_opens', schema=None) as batch_op:
        batch_op.drop_index('ix_link_opens_visitor_id_opened_at')
        batch_op.drop_index('ix_link_opens_link_id_opened_at')

    op.drop_table('link_opens')
    with op.batch_alter_table('follow_up_notes', schema=None) as batch_op:
        batch_op.drop_index('ix_follow_up_notes_next_contact_at_reminded_at')
        batch_op.drop_index(batch_op.f('ix_follow_up_notes_card_id'))

    op.drop_table('follow_up_notes')
    with op.batch_alter_table('client_tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_client_tags_card_id'))

    op.drop_table('client_tags')
    with op.batch_alter_table('attributions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attributions_link_id'))
        batch_op.drop_index('ix_attributions_buyer_id_project_id')

    op.drop_table('attributions')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_consultant_id_created_at')

    op.drop_table('notifications')
    with op.batch_alter_table('invite_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invite_links_consultant_id'))

    op.drop_table('invite_links')
    op.drop_table('existing_customers')
    op.drop_table('client_cards')
    op.drop_table('evidence_records')
