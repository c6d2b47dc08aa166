"""The schema is made by alembic only, and the migrated schema equals the models."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from estate_platform import migrate
from estate_platform.models import metadata


def schema_differences(url: str):
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                                   "compare_server_default": False})
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


def test_migrated_schema_equals_the_models(database_url):
    """Runs on SQLite, and on PostgreSQL when TEST_DATABASE_URL points there."""
    assert schema_differences(database_url) == []


@pytest.mark.postgres
def test_migrated_schema_equals_the_models_on_postgresql(postgres_db):
    assert schema_differences(postgres_db.url) == []


def test_migrations_downgrade_to_nothing_and_upgrade_again(tmp_path):
    url = f"sqlite:///{tmp_path / 'roundtrip.db'}"
    migrate.upgrade(url)
    migrate.downgrade(url, "base")
    engine = create_engine(url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    migrate.upgrade(url)
    assert schema_differences(url) == []


def test_every_constraint_has_a_predictable_name(database_url):
    engine = create_engine(database_url)
    inspector = inspect(engine)
    unnamed = []
    for table in metadata.sorted_tables:
        for check in inspector.get_check_constraints(table.name):
            if not (check["name"] or "").startswith("ck_"):
                unnamed.append((table.name, check))
        for unique in inspector.get_unique_constraints(table.name):
            if not (unique["name"] or "").startswith("uq_"):
                unnamed.append((table.name, unique))
    engine.dispose()
    assert unnamed == []
