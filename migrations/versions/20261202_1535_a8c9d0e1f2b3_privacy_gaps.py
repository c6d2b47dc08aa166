"""Privacy and notices, gaps (issue 15): a buyer's objection opens a risk flag

``risk_flags.kind`` gains ``buyer_objection``: a buyer who received the registration SMS
said he never asked to be registered (privacy.notices), and operations see it in the risk
queue beside the nightly patterns. SQLite rebuilds the table for the new check (nothing
references ``risk_flags``); PostgreSQL replaces the constraint in place.

Revision ID: a8c9d0e1f2b3
Revises: f7b8c9d0e1a2
Create Date: 2026-12-02 15:35:00+00:00
"""
from alembic import op
import sqlalchemy as sa  # noqa: F401


revision = "a8c9d0e1f2b3"
down_revision = "f7b8c9d0e1a2"
branch_labels = None
depends_on = None


OLD = ("anti_interception", "short_deal", "collision", "velocity", "fishing", "price_drop", "unit_rerecorded")
NEW = OLD + ("buyer_objection",)


def _check(kinds) -> str:
    return "kind IN ({})".format(", ".join(f"'{k}'" for k in kinds))


def _replace(kinds) -> None:
    with op.batch_alter_table("risk_flags", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_risk_flags_kind_known"), type_="check")
        batch_op.create_check_constraint(op.f("ck_risk_flags_kind_known"), _check(kinds))


def upgrade() -> None:
    _replace(NEW)


def downgrade() -> None:
    op.execute("DELETE FROM risk_flags WHERE kind = 'buyer_objection'")
    _replace(OLD)
