"""Foundation schema: identity (WeChat users, buyers, staff, SMS codes), developers and projects,
consultants with their invites and status history, agreement versions and signatures.

Revision ID: c043a97a606e
Revises: 
Create Date: 2026-11-25 04:08:58.419681+00:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'c043a97a606e'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('buyers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=True),
    sa.Column('token_version', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_login_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_buyers')),
    sa.UniqueConstraint('phone', name=op.f('uq_buyers_phone'))
    )
    op.create_table('developers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('contact_name', sa.String(length=50), nullable=True),
    sa.Column('contact_phone', sa.String(length=16), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_developers')),
    sa.UniqueConstraint('name', name=op.f('uq_developers_name'))
    )
    op.create_table('sms_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=16), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('consumed_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_sms_codes_attempts_non_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_codes'))
    )
    with op.batch_alter_table('sms_codes', schema=None) as batch_op:
        batch_op.create_index('ix_sms_codes_ip_created_at', ['ip', 'created_at'], unique=False)
        batch_op.create_index('ix_sms_codes_phone_created_at', ['phone', 'created_at'], unique=False)

    op.create_table('wechat_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('unionid', sa.String(length=64), nullable=True),
    sa.Column('token_version', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_login_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wechat_users')),
    sa.UniqueConstraint('openid', name=op.f('uq_wechat_users_openid'))
    )
    op.create_table('consultants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('wechat_user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('phone', sa.String(length=16), nullable=False),
    sa.Column('city', sa.String(length=50), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('company_name', sa.String(length=100), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('invite_code', sa.String(length=12), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('approved_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("kind = 'independent' OR company_name IS NOT NULL", name=op.f('ck_consultants_company_named')),
    sa.CheckConstraint("kind IN ('company', 'store', 'independent')", name=op.f('ck_consultants_kind_known')),
    sa.CheckConstraint("status IN ('pending', 'active', 'rejected', 'suspended', 'terminated')", name=op.f('ck_consultants_status_known')),
    sa.ForeignKeyConstraint(['wechat_user_id'], ['wechat_users.id'], name=op.f('fk_consultants_wechat_user_id_wechat_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consultants')),
    sa.UniqueConstraint('invite_code', name=op.f('uq_consultants_invite_code')),
    sa.UniqueConstraint('phone', name=op.f('uq_consultants_phone')),
    sa.UniqueConstraint('wechat_user_id', name=op.f('uq_consultants_wechat_user_id'))
    )
    with op.batch_alter_table('consultants', schema=None) as batch_op:
        batch_op.create_index('ix_consultants_status_created_at', ['status', 'created_at'], unique=False)

    op.create_table('projects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('developer_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('city', sa.String(length=50), nullable=False),
    sa.Column('district', sa.String(length=50), nullable=True),
    sa.Column('address', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("status IN ('on_sale', 'paused', 'sold_out', 'ended')", name=op.f('ck_projects_status_known')),
    sa.ForeignKeyConstraint(['developer_id'], ['developers.id'], name=op.f('fk_projects_developer_id_developers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_projects'))
    )
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_projects_developer_id'), ['developer_id'], unique=False)

    op.create_table('staff_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=50), nullable=False),
    sa.Column('display_name', sa.String(length=50), nullable=False),
    sa.Column('phone', sa.String(length=16), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('developer_id', sa.Integer(), nullable=True),
    sa.Column('is_active', sa.Boolean(), server_default='1', nullable=False),
    sa.Column('failed_logins', sa.Integer(), server_default='0', nullable=False),
    sa.Column('locked_until', sa.DateTime(), nullable=True),
    sa.Column('token_version', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_login_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("role <> 'site_staff' OR developer_id IS NOT NULL", name=op.f('ck_staff_users_site_staff_has_developer')),
    sa.CheckConstraint("role IN ('admin', 'finance', 'operations', 'site_staff')", name=op.f('ck_staff_users_role_known')),
    sa.CheckConstraint('failed_logins >= 0', name=op.f('ck_staff_users_failed_logins_non_negative')),
    sa.ForeignKeyConstraint(['developer_id'], ['developers.id'], name=op.f('fk_staff_users_developer_id_developers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_users')),
    sa.UniqueConstraint('phone', name=op.f('uq_staff_users_phone')),
    sa.UniqueConstraint('username', name=op.f('uq_staff_users_username'))
    )
    op.create_table('agreement_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('published_at', sa.DateTime(), nullable=False),
    sa.Column('published_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('length(sha256) = 64', name=op.f('ck_agreement_versions_sha256_length')),
    sa.CheckConstraint('version > 0', name=op.f('ck_agreement_versions_version_positive')),
    sa.ForeignKeyConstraint(['published_by_id'], ['staff_users.id'], name=op.f('fk_agreement_versions_published_by_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreement_versions')),
    sa.UniqueConstraint('version', name=op.f('uq_agreement_versions_version'))
    )
    op.create_table('consultant_invites',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('inviter_id', sa.Integer(), nullable=False),
    sa.Column('invitee_id', sa.Integer(), nullable=False),
    sa.Column('valid_from', sa.DateTime(), nullable=False),
    sa.Column('valid_to', sa.DateTime(), nullable=True),
    sa.CheckConstraint('inviter_id <> invitee_id', name=op.f('ck_consultant_invites_not_self')),
    sa.CheckConstraint('valid_to IS NULL OR valid_to > valid_from', name=op.f('ck_consultant_invites_valid_range')),
    sa.ForeignKeyConstraint(['invitee_id'], ['consultants.id'], name=op.f('fk_consultant_invites_invitee_id_consultants')),
    sa.ForeignKeyConstraint(['inviter_id'], ['consultants.id'], name=op.f('fk_consultant_invites_inviter_id_consultants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consultant_invites')),
    sa.UniqueConstraint('invitee_id', name=op.f('uq_consultant_invites_invitee_id'))
    )
    with op.batch_alter_table('consultant_invites', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consultant_invites_inviter_id'), ['inviter_id'], unique=False)

    op.create_table('consultant_status_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('consultant_id', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('actor_type', sa.String(length=20), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("actor_type IN ('consultant', 'staff', 'system')", name=op.f('ck_consultant_status_events_actor_type_known')),
    sa.ForeignKeyConstraint(['consultant_id'], ['consultants.id'], name=op.f('fk_consultant_status_events_consultant_id_consultants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consultant_status_events'))
    )
    with op.batch_alter_table('consultant_status_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consultant_status_events_consultant_id'), ['consultant_id'], unique=False)

    op.create_table('staff_login_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=50), nullable=False),
    sa.Column('staff_user_id', sa.Integer(), nullable=True),
    sa.Column('succeeded', sa.Boolean(), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['staff_user_id'], ['staff_users.id'], name=op.f('fk_staff_login_attempts_staff_user_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_login_attempts'))
    )
    op.create_table('agreement_signatures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('consultant_id', sa.Integer(), nullable=False),
    sa.Column('agreement_version_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('text_sha256', sa.String(length=64), nullable=False),
    sa.Column('signed_at', sa.DateTime(), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('user_agent', sa.String(length=500), nullable=False),
    sa.CheckConstraint('length(text_sha256) = 64', name=op.f('ck_agreement_signatures_sha256_length')),
    sa.ForeignKeyConstraint(['agreement_version_id'], ['agreement_versions.id'], name=op.f('fk_agreement_signatures_agreement_version_id_agreement_versions')),
    sa.ForeignKeyConstraint(['consultant_id'], ['consultants.id'], name=op.f('fk_agreement_signatures_consultant_id_consultants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreement_signatures')),
    sa.UniqueConstraint('consultant_id', 'agreement_version_id', name=op.f('uq_agreement_signatures_consultant_id_agreement_version_id'))
    )
    with op.batch_alter_table('agreement_signatures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agreement_signatures_consultant_id'), ['consultant_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('agreement_signatures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agreement_signatures_consultant_id'))

    op.drop_table('agreement_signatures')
    op.drop_table('staff_login_attempts')
    with op.batch_alter_table('consultant_status_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consultant_status_events_consultant_id'))

    op.drop_table('consultant_status_events')
    with op.batch_alter_table('consultant_invites', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consultant_invites_inviter_id'))

    op.drop_table('consultant_invites')
    op.drop_table('agreement_versions')
    op.drop_table('staff_users')
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_projects_developer_id'))

    op.drop_table('projects')
    with op.batch_alter_table('consultants', schema=None) as batch_op:
        batch_op.drop_index('ix_consultants_status_created_at')

    op.drop_table('consultants')
    op.drop_table('wechat_users')
    with op.batch_alter_table('sms_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_sms_codes_phone_created_at')
        batch_op.drop_index('ix_sms_codes_ip_created_at')

    op.drop_table('sms_codes')
    op.drop_table('developers')
    op.drop_table('buyers')
