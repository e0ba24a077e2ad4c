"""``slipstream variables``: the key/value settings DAGs read (``var`` in templates).

Values are encrypted at rest but shown by ``get`` and ``list``, as Airflow's CLI
does; they are never logged.
"""

from __future__ import annotations

import json
from typing import Any

import click

from slipstream.admin import canonical_json, set_variable, variable_text
from slipstream.cli.crud_helpers import (
    check_name,
    done,
    fail,
    read_json_file,
    write_json_file,
)
from slipstream.cli.output import emit, output_option
from slipstream.cli.store_access import cli_store
from slipstream.metadata.base import MetadataStore
from slipstream.metadata.records import Variable

COLUMNS = ["key", "value", "description"]


@click.group("variables")
def variables() -> None:
    """Variables: set, get, list, delete, import, export."""


# -- what the commands do (the REST API mode will call the server instead) ------------


def variable_record(var: Variable) -> dict[str, Any]:
    return {"key": var.key, "value": var.value, "description": var.description}


def variable_records(store: MetadataStore) -> list[dict[str, Any]]:
    return [variable_record(var) for var in store.list_variables().items]


def import_values(data: Any, source: str) -> dict[str, str]:
    """Check a whole import file before anything is written: a JSON object of
    key -> value, where a string is stored as it is and any other JSON value as
    its canonical JSON text."""
    if not isinstance(data, dict):
        fail(f"{source} must hold a JSON object of variable key -> value")
    values: dict[str, str] = {}
    problems: list[str] = []
    for key, value in data.items():
        try:
            check_name("variable key", key)
        except click.ClickException as exc:
            problems.append(exc.message)
            continue
        try:
            values[key] = variable_text(value)
        except ValueError:
            problems.append(f"variable {key!r}: null is not a value")
    if problems:
        fail(f"{source}: nothing imported:\n  " + "\n  ".join(problems))
    return values


def export_values(store: MetadataStore) -> dict[str, Any]:
    """Key -> value; a value stored as canonical JSON (``set --json``, import) is
    written as that JSON, so an export imports back to exactly the same strings."""
    out: dict[str, Any] = {}
    for var in store.list_variables().items:
        out[var.key] = var.value
        try:
            decoded = json.loads(var.value)
        except ValueError:
            continue
        if not isinstance(decoded, str) and canonical_json(decoded) == var.value:
            out[var.key] = decoded
    return out


# -- the commands ------------------------------------------------------------------------


# Unknown options pass through as arguments, so a VALUE like "-5" is a value.
@variables.command("set", context_settings={"ignore_unknown_options": True})
@click.argument("key")
@click.argument("value")
@click.option("--description", help="What the variable is for (kept if omitted).")
@click.option(
    "-j", "--json", "as_json", is_flag=True, help="VALUE is JSON: check it, store it canonically."
)
def set_cmd(key: str, value: str, description: str | None, as_json: bool) -> None:
    """Create or update a variable."""
    check_name("variable key", key)
    if as_json:
        try:
            value = canonical_json(json.loads(value))
        except json.JSONDecodeError as exc:
            fail(f"VALUE is not valid JSON (--json): {exc}")
    with cli_store() as store:
        created, _ = set_variable(store, key, value, description)
    click.echo(f"Variable {key} {'created' if created else 'updated'}")


@variables.command("get")
@click.argument("key")
@click.option("-j", "--json", "as_json", is_flag=True, help="Print the value as indented JSON.")
@click.option("-d", "--default", help="Print this when the variable does not exist.")
def get_cmd(key: str, as_json: bool, default: str | None) -> None:
    """Print a variable's value."""
    with cli_store() as store:
        var = store.get_variable(key)
    if var is None:
        if default is None:
            fail(f"variable {key!r} does not exist")
        click.echo(default)
        return
    if not as_json:
        click.echo(var.value)
        return
    try:
        decoded = json.loads(var.value)
    except json.JSONDecodeError:
        fail(f"variable {key!r} is not JSON; get it without --json")
    click.echo(json.dumps(decoded, indent=2, ensure_ascii=False))


@variables.command("list")
@output_option
def list_cmd(output: str) -> None:
    """Every variable: key, value and description."""
    with cli_store() as store:
        rows = variable_records(store)
    emit(rows, COLUMNS, output)


@variables.command("delete")
@click.argument("key")
def delete_cmd(key: str) -> None:
    """Delete a variable."""
    with cli_store() as store:
        store.delete_variable(key)
    click.echo(f"Variable {key} deleted")


@variables.command("import")
@click.argument("file")
def import_cmd(file: str) -> None:
    """Set variables from a JSON file of key -> value (``-``: standard input).

    The whole file is checked first: if any entry is bad, nothing is written."""
    values = import_values(read_json_file(file), file)
    with cli_store() as store:
        for key, value in values.items():
            set_variable(store, key, value, None)
    click.echo(f"{len(values)} variable(s) imported from {file}")


@variables.command("export")
@click.argument("file")
def export_cmd(file: str) -> None:
    """Write every variable to a JSON file of key -> value (``-``: standard output)."""
    with cli_store() as store:
        values = export_values(store)
    write_json_file(file, values)
    done(f"{len(values)} variable(s) exported to {file}", file)
