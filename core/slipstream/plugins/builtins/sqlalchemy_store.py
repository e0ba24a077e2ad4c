"""The SQLAlchemy metadata store for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

from slipstream.metadata.base import MetadataStore, StoreContext
from slipstream.plugins import MetadataBackendSpec, hookimpl


def _make(context: StoreContext) -> MetadataStore:
    from slipstream.metadata.sqlalchemy import SqlAlchemyStore  # type: ignore[import-not-found]

    store: MetadataStore = SqlAlchemyStore.from_context(context)
    return store


@hookimpl
def slipstream_metadata_backends() -> Iterator[MetadataBackendSpec]:
    yield MetadataBackendSpec(
        schemes=("sqlite", "postgresql"),
        factory=_make,
        description="SQLAlchemy store: SQLite (default, embedded) or PostgreSQL (psycopg 3).",
        unavailable="the SQLAlchemy metadata store is not implemented yet in slipstream 0.1.0",
    )
