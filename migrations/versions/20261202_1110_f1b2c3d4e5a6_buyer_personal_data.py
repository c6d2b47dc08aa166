"""Buyers' personal data (issue 15 §1): a per-buyer evidence key and the erasure mark on
buyers, erasure requests and their audit trail, buyers' objections to registrations, the
registration notice (a column written with the registration's INSERT, its outbox index)
and the per-project switch; existing evidence payloads rewritten without phones or names
under a chain of custody (estate_platform/evidence/custody.py explains why).

Revision ID: f1b2c3d4e5a6
Revises: e0a1b2c3d4f5
Create Date: 2026-12-02 11:10:00+00:00
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


revision = "f1b2c3d4e5a6"
down_revision = "e0a1b2c3d4f5"
branch_labels = None
depends_on = None


def _fill_buyer_keys(connection) -> None:
    from estate_platform.evidence.pseudonyms import new_buyer_key
    buyers = sa.table("buyers", sa.column("id", sa.Integer), sa.column("evidence_key", sa.String))
    last = 0
    while True:
        ids = connection.execute(sa.select(buyers.c.id).where(buyers.c.id > last, buyers.c.evidence_key.is_(None))
                                 .order_by(buyers.c.id).limit(1000)).scalars().all()
        if not ids:
            return
        connection.execute(buyers.update().where(buyers.c.id == sa.bindparam("bid"))
                           .values(evidence_key=sa.bindparam("key")),
                           [{"bid": i, "key": new_buyer_key()} for i in ids])
        last = ids[-1]


def _rewrite_evidence(connection) -> None:
    from sqlalchemy.orm import Session

    from estate_platform.evidence import custody
    session = Session(bind=connection)
    with custody.immutability_lifted(connection):
        custody.rewrite_legacy(session, now=datetime.now(timezone.utc))
        session.flush()


def upgrade() -> None:
    op.add_column("buyers", sa.Column("evidence_key", sa.String(length=64), nullable=True))
    op.add_column("buyers", sa.Column("erased_at", sa.DateTime(), nullable=True))
    op.add_column("projects", sa.Column("notify_buyer_on_registration", sa.Boolean(), server_default="1",
                                        nullable=False))
    op.add_column("registrations", sa.Column("buyer_notice", sa.String(length=10), nullable=True))
    op.create_index("ix_registrations_buyer_notice_pending", "registrations", ["id"], unique=False,
                    sqlite_where=sa.text("buyer_notice = 'pending'"),
                    postgresql_where=sa.text("buyer_notice = 'pending'"))

    op.create_table("privacy_requests",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("buyer_id", sa.Integer(), nullable=False),
    sa.Column("status", sa.String(length=20), nullable=False),
    sa.Column("channel", sa.String(length=20), nullable=False),
    sa.Column("hold_code", sa.String(length=30), nullable=True),
    sa.Column("note", sa.String(length=500), nullable=True),
    sa.Column("requested_by_id", sa.Integer(), nullable=True),
    sa.Column("decided_by_id", sa.Integer(), nullable=True),
    sa.Column("decided_at", sa.DateTime(), nullable=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.CheckConstraint("(status = 'pending') = (decided_at IS NULL)",
                       name=op.f("ck_privacy_requests_decided_when_closed")),
    sa.CheckConstraint("(status = 'refused') = (hold_code IS NOT NULL)",
                       name=op.f("ck_privacy_requests_refusal_names_hold")),
    sa.CheckConstraint("channel <> 'operations' OR requested_by_id IS NOT NULL",
                       name=op.f("ck_privacy_requests_operations_named")),
    sa.CheckConstraint("channel IN ('h5', 'operations', 'retention')", name=op.f("ck_privacy_requests_channel_known")),
    sa.CheckConstraint("hold_code IS NULL OR hold_code IN ('live_deal', 'open_dispute', 'finance_retention', "
                       "'open_protection')", name=op.f("ck_privacy_requests_hold_known")),
    sa.CheckConstraint("status IN ('pending', 'erased', 'refused', 'rejected')",
                       name=op.f("ck_privacy_requests_status_known")),
    sa.ForeignKeyConstraint(["buyer_id"], ["buyers.id"], name=op.f("fk_privacy_requests_buyer_id_buyers")),
    sa.ForeignKeyConstraint(["decided_by_id"], ["staff_users.id"],
                            name=op.f("fk_privacy_requests_decided_by_id_staff_users")),
    sa.ForeignKeyConstraint(["requested_by_id"], ["staff_users.id"],
                            name=op.f("fk_privacy_requests_requested_by_id_staff_users")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_requests"))
    )
    with op.batch_alter_table("privacy_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_privacy_requests_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index("ix_privacy_requests_status_created_at", ["status", "created_at"], unique=False)
        batch_op.create_index("uq_privacy_requests_pending_buyer", ["buyer_id"], unique=True,
                              sqlite_where=sa.text("status = 'pending'"),
                              postgresql_where=sa.text("status = 'pending'"))

    op.create_table("privacy_events",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("buyer_id", sa.Integer(), nullable=False),
    sa.Column("request_id", sa.Integer(), nullable=True),
    sa.Column("action", sa.String(length=20), nullable=False),
    sa.Column("actor_type", sa.String(length=10), nullable=False),
    sa.Column("actor_id", sa.Integer(), nullable=True),
    sa.Column("detail", sa.String(length=500), nullable=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.CheckConstraint("action IN ('requested', 'erased', 'refused', 'rejected', 'exported', 'objected')",
                       name=op.f("ck_privacy_events_action_known")),
    sa.CheckConstraint("actor_type IN ('staff', 'buyer', 'system')", name=op.f("ck_privacy_events_actor_type_known")),
    sa.ForeignKeyConstraint(["buyer_id"], ["buyers.id"], name=op.f("fk_privacy_events_buyer_id_buyers")),
    sa.ForeignKeyConstraint(["request_id"], ["privacy_requests.id"],
                            name=op.f("fk_privacy_events_request_id_privacy_requests")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_events"))
    )
    with op.batch_alter_table("privacy_events", schema=None) as batch_op:
        batch_op.create_index("ix_privacy_events_buyer_id_created_at", ["buyer_id", "created_at"], unique=False)

    op.create_table("registration_objections",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("registration_id", sa.Integer(), nullable=False),
    sa.Column("buyer_id", sa.Integer(), nullable=False),
    sa.Column("consultant_id", sa.Integer(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(["buyer_id"], ["buyers.id"], name=op.f("fk_registration_objections_buyer_id_buyers")),
    sa.ForeignKeyConstraint(["consultant_id"], ["consultants.id"],
                            name=op.f("fk_registration_objections_consultant_id_consultants")),
    sa.ForeignKeyConstraint(["registration_id"], ["registrations.id"],
                            name=op.f("fk_registration_objections_registration_id_registrations")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_registration_objections")),
    sa.UniqueConstraint("registration_id", name=op.f("uq_registration_objections_registration_id"))
    )
    with op.batch_alter_table("registration_objections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_registration_objections_consultant_id"), ["consultant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_registration_objections_created_at"), ["created_at"], unique=False)

    connection = op.get_bind()
    _fill_buyer_keys(connection)
    _rewrite_evidence(connection)


def downgrade() -> None:
    # The rewritten evidence payloads stay pseudonymised: the full phones are not restored.
    op.drop_table("registration_objections")
    op.drop_table("privacy_events")
    op.drop_table("privacy_requests")
    # Plain ALTER TABLE (SQLite ≥ 3.35 drops a column in place): a batch copy of these tables
    # would rebuild their constraints under other names for the older revisions' downgrades.
    op.drop_index("ix_registrations_buyer_notice_pending", table_name="registrations")
    op.drop_column("registrations", "buyer_notice")
    op.drop_column("projects", "notify_buyer_on_registration")
    op.drop_column("buyers", "erased_at")
    op.drop_column("buyers", "evidence_key")
