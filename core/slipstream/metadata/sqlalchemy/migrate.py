"""Alembic, driven from code: the migrations ship inside the package, so users
need no ``alembic.ini``."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory

SCRIPT_LOCATION = "slipstream.metadata.sqlalchemy:migrations"
VERSION_TABLE = "alembic_version"


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """The Alembic configuration; ``connection`` is what ``env.py`` migrates."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the store ships at least one migration"
    return head


def current_revision(connection: sa.Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def upgrade(connection: sa.Connection, revision: str = "head") -> None:
    command.upgrade(alembic_config(connection), revision)


def all_revisions() -> list[Script]:
    return list(ScriptDirectory.from_config(alembic_config()).walk_revisions())
