"""``slipstream db``: create, check and reset the metadata database's schema."""

from __future__ import annotations

import sys

import click

from slipstream.cli.state import get_state
from slipstream.config import mask_url_password
from slipstream.metadata import MetadataStore, open_store


def _store() -> MetadataStore:
    state = get_state()
    return open_store(state.config, state.manager)


def _where() -> str:
    return mask_url_password(str(get_state().config["core.metadata"]))


@click.group("db")
def db() -> None:
    """The metadata database: migrate, check, reset."""
    from slipstream.cli.store_access import require_local

    require_local("db")


@db.command("migrate")
def migrate() -> None:
    """Create the schema, or upgrade it to this slipstream's version."""
    store = _store()
    try:
        store.migrate()
        status = store.check()
    finally:
        store.close()
    click.echo(f"{_where()}: {status.message}")


@db.command("check")
def check() -> None:
    """Exit 0 if the schema is at this slipstream's version, 1 otherwise."""
    store = _store()
    try:
        status = store.check()
    finally:
        store.close()
    click.echo(f"{_where()}: {status.message}")
    if not status.ok:
        sys.exit(1)


@db.command("reset")
@click.option("--yes", is_flag=True, help="Really delete every slipstream table and its data.")
def reset(yes: bool) -> None:
    """Delete all slipstream data and create an empty schema."""
    if not yes:
        raise click.UsageError(
            f"this deletes every DAG, run, variable and connection in {_where()}; "
            "pass --yes to do it"
        )
    store = _store()
    try:
        store.reset()
    finally:
        store.close()
    click.echo(f"{_where()}: reset; the schema is empty and at the latest version")
