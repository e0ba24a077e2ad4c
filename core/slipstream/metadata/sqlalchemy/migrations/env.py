"""Alembic environment: migrates the connection slipstream hands in (never a URL
from a file), with the store's own table definitions as the target."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from slipstream.metadata.sqlalchemy.migrate import VERSION_TABLE
from slipstream.metadata.sqlalchemy.schema import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, sa.Connection):
    raise RuntimeError("slipstream migrations run through `slipstream db migrate`, not alembic")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
