"""Ledger account kinds for money in and out and buy-back (issues 12, 13).

New kinds: ``unapplied`` (a developer's payment not yet applied), ``tax_payable``
(withholding owed to the tax office), ``in_transit`` (a payout sent, not yet
confirmed), ``purchased`` (receivables the platform bought) and ``remainder`` (what a
bought receivable still owes its consultant when the developer pays).

PostgreSQL replaces the check constraint in place. SQLite cannot alter a check, and
rebuilding the table would drop a parent of every posting; instead its stored
``CREATE TABLE`` text gets the new list (SQLite's documented procedure for changes
that leave the stored rows valid: writable schema, then a new schema version so
every connection re-reads it).

Revision ID: e0a1b2c3d4f5
Revises: d9a2c5e8f79c
Create Date: 2026-12-02 11:00:00+00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = "e0a1b2c3d4f5"
down_revision = "d9a2c5e8f79c"
branch_labels = None
depends_on = None


OLD = ("receivable", "revenue", "pending", "available", "owes", "cash")
NEW = OLD + ("unapplied", "tax_payable", "in_transit", "purchased", "remainder")


def _check(kinds) -> str:
    return "kind IN ({})".format(", ".join(f"'{k}'" for k in kinds))


def _replace(kinds) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        (sql,) = bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'ledger_accounts'").one()
        old = next(_check(k) for k in (OLD, NEW) if _check(k) in sql)
        if old == _check(kinds):
            return
        version = bind.exec_driver_sql("PRAGMA schema_version").scalar()
        bind.exec_driver_sql("PRAGMA writable_schema = ON")
        bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'ledger_accounts'",
                             (sql.replace(old, _check(kinds)),))
        bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")
    else:
        op.drop_constraint(op.f("ck_ledger_accounts_kind_known"), "ledger_accounts", type_="check")
        op.create_check_constraint("kind_known", "ledger_accounts", _check(kinds))


def upgrade() -> None:
    _replace(NEW)


def downgrade() -> None:
    _replace(OLD)
