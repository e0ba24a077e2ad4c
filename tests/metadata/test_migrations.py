"""Migrations: the migrated schema is exactly the models, on every dialect."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from slipstream.errors import SchemaError, StoreError
from slipstream.metadata.sqlalchemy import SqlAlchemyStore, migrate, schema

from .helpers import make_store


def test_migrated_schema_matches_the_models(store: SqlAlchemyStore) -> None:
    with store._engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": migrate.VERSION_TABLE}
        )
        assert compare_metadata(context, schema.metadata) == []


def test_check_migrate_reset(store_url: str, home: Path) -> None:
    store = make_store(store_url, home)
    status = store.check()
    assert not status.ok and status.current is None
    assert "slipstream db migrate" in status.message
    store.migrate()
    store.migrate()  # idempotent
    status = store.check()
    assert status.ok and status.current == status.head == migrate.head_revision()
    store.set_pool("p", 3)
    store.set_variable("v", "1")
    store.reset()
    assert store.check().ok
    assert [p.name for p in store.list_pools()] == ["default_pool"]
    assert store.get_variable("v") is None
    store.close()


def test_unmigrated_database_says_to_migrate(store_url: str, home: Path) -> None:
    store = make_store(store_url, home)
    with pytest.raises(SchemaError, match="run `slipstream db migrate`"):
        store.list_dags()
    store.close()


def test_unreachable_server_is_a_clear_error(home: Path) -> None:
    store = make_store("postgresql+psycopg://u:secret@127.0.0.1:1/db", home)
    with pytest.raises(StoreError, match="cannot connect") as info:
        store.check()
    assert "secret" not in str(info.value)


def test_the_quick_schema_check_knows_the_newest_migration() -> None:
    from slipstream.metadata.sqlalchemy import migrate
    from slipstream.metadata.sqlalchemy.store import HEAD_REVISION

    assert migrate.head_revision() == HEAD_REVISION, (
        "a migration was added: set HEAD_REVISION in metadata/sqlalchemy/store.py to it"
    )
