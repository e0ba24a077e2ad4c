"""``slipstream pools``: named slot limits that cap how many tasks run at once."""

from __future__ import annotations

import contextlib
from typing import Any

import click

from slipstream.admin import MAX_POOL_NAME_LEN, check_slots, set_pool
from slipstream.cli.crud_helpers import (
    check_name,
    done,
    fail,
    read_json_file,
    write_json_file,
)
from slipstream.cli.output import emit, emit_one, output_option
from slipstream.cli.store_access import cli_store
from slipstream.metadata.base import MetadataStore
from slipstream.metadata.records import DEFAULT_POOL, Pool

COLUMNS = [
    "name",
    "slots",
    "occupied_slots",
    "running_slots",
    "queued_slots",
    "open_slots",
    "description",
]
IMPORT_KEYS = {"slots", "description"}


@click.group("pools")
def pools() -> None:
    """Pools: set, get, list, delete, import, export."""


# -- what the commands do (the REST API mode will call the server instead) ------------


def pool_record(pool: Pool) -> dict[str, Any]:
    return {
        "name": pool.name,
        "slots": pool.slots,
        "occupied_slots": pool.occupied_slots,
        "running_slots": pool.running_slots,
        "queued_slots": pool.queued_slots,
        "scheduled_slots": pool.scheduled_slots,
        "open_slots": pool.open_slots,
        "description": pool.description,
    }


def pool_records(store: MetadataStore) -> list[dict[str, Any]]:
    return [pool_record(pool) for pool in store.list_pools()]


def get_pool_record(store: MetadataStore, name: str) -> dict[str, Any]:
    pool = store.get_pool(name)
    if pool is None:
        fail(f"pool {name!r} does not exist")
    return pool_record(pool)


def parse_slots(value: Any, what: str = "SLOTS") -> int:
    """A whole number >= 0 (0 stops the pool's tasks from running)."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = int(value)
    try:
        return check_slots(value, what)
    except ValueError as exc:
        fail(str(exc))


def import_pools(data: Any, source: str) -> dict[str, tuple[int, str | None]]:
    """Check a whole import file before anything is written:
    ``{name: {"slots": n, "description": "..."}}``."""
    if not isinstance(data, dict):
        fail(f'{source} must hold a JSON object of name -> {{"slots": n, "description": "..."}}')
    pools: dict[str, tuple[int, str | None]] = {}
    problems: list[str] = []
    for name, spec in data.items():
        try:
            check_name("pool name", name, MAX_POOL_NAME_LEN)
            if not isinstance(spec, dict):
                fail(f'pool {name!r}: expected {{"slots": n, "description": "..."}}')
            unknown = sorted(set(spec) - IMPORT_KEYS)
            if unknown:
                allowed = ", ".join(sorted(IMPORT_KEYS))
                fail(f"pool {name!r}: unknown key(s) {', '.join(unknown)}; allowed: {allowed}")
            if "slots" not in spec:
                fail(f"pool {name!r}: slots is missing")
            slots = parse_slots(spec["slots"], f"pool {name!r}: slots")
            description = spec.get("description")
            if description is not None and not isinstance(description, str):
                fail(f"pool {name!r}: description must be a string")
        except click.ClickException as exc:
            problems.append(exc.message)
            continue
        pools[name] = (slots, description)
    if problems:
        fail(f"{source}: nothing imported:\n  " + "\n  ".join(problems))
    return pools


def export_pools(store: MetadataStore) -> dict[str, dict[str, Any]]:
    return {
        pool.name: {"slots": pool.slots, "description": pool.description}
        for pool in store.list_pools()
    }


# -- the commands ------------------------------------------------------------------------


# Unknown options pass through as arguments, so a negative SLOTS reaches the check
# below (a clear message) instead of being taken for an option.
@pools.command("set", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("slots")
@click.argument("description", required=False)
def set_cmd(name: str, slots: str, description: str | None) -> None:
    """Create a pool or change its slots (and description, when given)."""
    check_name("pool name", name, MAX_POOL_NAME_LEN)
    count = parse_slots(slots)
    with cli_store() as store:
        created, pool = set_pool(store, name, count, description)
    click.echo(f"Pool {name} {'created' if created else 'updated'}: {pool.slots} slots")


@pools.command("get")
@click.argument("name")
@output_option
def get_cmd(name: str, output: str) -> None:
    """Show one pool and how its slots are used."""
    with cli_store() as store:
        record = get_pool_record(store, name)
    emit_one(record, output)


@pools.command("list")
@output_option
def list_cmd(output: str) -> None:
    """Every pool and how its slots are used."""
    with cli_store() as store:
        rows = pool_records(store)
    emit(rows, COLUMNS, output)


@pools.command("delete")
@click.argument("name")
def delete_cmd(name: str) -> None:
    """Delete a pool (not the default pool)."""
    if name == DEFAULT_POOL:  # refused here, so both local and remote say the same
        fail(f"the {DEFAULT_POOL!r} pool cannot be deleted (set its slots instead)")
    with cli_store() as store:
        store.delete_pool(name)
    click.echo(f"Pool {name} deleted")


@pools.command("import")
@click.argument("file")
def import_cmd(file: str) -> None:
    """Create or update pools from a JSON file (``-``: standard input).

    The whole file is checked first: if any entry is bad, nothing is written."""
    found = import_pools(read_json_file(file), file)
    with cli_store() as store:
        for name, (slots, description) in found.items():
            set_pool(store, name, slots, description)
    click.echo(f"{len(found)} pool(s) imported from {file}")


@pools.command("export")
@click.argument("file")
def export_cmd(file: str) -> None:
    """Write every pool to a JSON file (``-``: standard output)."""
    with cli_store() as store:
        found = export_pools(store)
    write_json_file(file, found)
    done(f"{len(found)} pool(s) exported to {file}", file)
