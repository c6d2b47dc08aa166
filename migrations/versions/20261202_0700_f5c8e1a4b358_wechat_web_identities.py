"""WeChat web identities: one user whether he comes through the mini-program or the
consultant pages opened inside WeChat (the Official Account's web authorisation).

* ``wechat_users.oa_openid``: the Official Account's openid, unique;
* ``wechat_users.unionid`` becomes unique: one person, one row, across both apps;
* ``wechat_users.openid`` (the mini-program's) may be empty for a person who so far used
  only the web pages; a check keeps at least one of the two openids.

Revision ID: f5c8e1a4b358
Revises: e4b7d0f3a247
Create Date: 2026-12-02 07:00:00+00:00
"""
from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa


revision = "f5c8e1a4b358"
down_revision = "e4b7d0f3a247"
branch_labels = None
depends_on = None


@contextmanager
def altering_wechat_users():
    """Batch-alter ``wechat_users``. On SQLite that copies the table and drops the old one,
    which the foreign key from ``consultants`` refuses while enforced; so, as SQLite's own
    procedure for table changes says: foreign keys off outside any transaction, the rebuild
    in one transaction, ``foreign_key_check``, commit, back on."""
    if op.get_bind().dialect.name != "sqlite":
        with op.batch_alter_table("wechat_users", schema=None) as batch_op:
            yield batch_op
        return
    with op.get_context().autocommit_block():
        connection = op.get_bind()
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.exec_driver_sql("BEGIN")
        try:
            with op.batch_alter_table("wechat_users", schema=None) as batch_op:
                yield batch_op
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"rebuilding wechat_users broke foreign keys: {broken[:5]}")
        except BaseException:
            connection.exec_driver_sql("ROLLBACK")
            raise
        else:
            connection.exec_driver_sql("COMMIT")
        finally:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")


def upgrade() -> None:
    with altering_wechat_users() as batch_op:
        batch_op.add_column(sa.Column("oa_openid", sa.String(length=64), nullable=True))
        batch_op.alter_column("openid", existing_type=sa.String(length=64), nullable=True)
        batch_op.create_unique_constraint(batch_op.f("uq_wechat_users_oa_openid"), ["oa_openid"])
        batch_op.create_unique_constraint(batch_op.f("uq_wechat_users_unionid"), ["unionid"])
        batch_op.create_check_constraint(batch_op.f("ck_wechat_users_has_openid"),
                                         "openid IS NOT NULL OR oa_openid IS NOT NULL")


def downgrade() -> None:
    # A person known only through the web pages: forgotten when he never applied, otherwise
    # kept under a mini-program openid that cannot collide with a real one.
    op.execute("DELETE FROM wechat_users WHERE openid IS NULL "
               "AND id NOT IN (SELECT wechat_user_id FROM consultants)")
    op.execute("UPDATE wechat_users SET openid = 'web:' || oa_openid WHERE openid IS NULL")
    with altering_wechat_users() as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_wechat_users_has_openid"), type_="check")
        batch_op.drop_constraint(batch_op.f("uq_wechat_users_unionid"), type_="unique")
        batch_op.drop_constraint(batch_op.f("uq_wechat_users_oa_openid"), type_="unique")
        batch_op.alter_column("openid", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column("oa_openid")
