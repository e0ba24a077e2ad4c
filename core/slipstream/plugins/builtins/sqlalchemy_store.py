"""The SQLAlchemy metadata store for SQLite, PostgreSQL and MySQL/MariaDB."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

from slipstream.metadata.base import MetadataStore, StoreContext
from slipstream.plugins import MetadataBackendSpec, hookimpl


def _make(context: StoreContext) -> MetadataStore:
    from slipstream.metadata.sqlalchemy import SqlAlchemyStore

    return SqlAlchemyStore.from_context(context)


def _missing(module: str, extra: str, what: str) -> str | None:
    """Found without importing the driver, so listing plugins stays fast."""
    if importlib.util.find_spec(module) is None:
        return f'the {what} driver {module!r} is not installed: pip install "slipstream[{extra}]"'
    return None


@hookimpl
def slipstream_metadata_backends() -> Iterator[MetadataBackendSpec]:
    yield MetadataBackendSpec(
        schemes=("sqlite",),
        factory=_make,
        description="SQLAlchemy store on SQLite (default, embedded; one writer at a time).",
    )
    yield MetadataBackendSpec(
        schemes=("postgresql",),
        factory=_make,
        description="SQLAlchemy store on PostgreSQL (psycopg 3): several schedulers.",
        unavailable=_missing("psycopg", "postgres", "PostgreSQL"),
    )
    yield MetadataBackendSpec(
        schemes=("mysql", "mariadb"),
        factory=_make,
        description="SQLAlchemy store on MySQL 8 / MariaDB 10.6+ (pymysql).",
        unavailable=_missing("pymysql", "mysql", "MySQL"),
    )
