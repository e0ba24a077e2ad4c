"""``slipstream connections``: how DAGs reach external systems.

Passwords and extras are encrypted at rest and never printed: a password shows
as ``***`` and an extra only by its keys, since any of its values may be a token.
"""

from __future__ import annotations

import sys
from typing import Any
from urllib.parse import urlsplit

import attrs
import click

from slipstream import admin
from slipstream.cli.crud_helpers import check_name, fail
from slipstream.cli.output import emit, emit_one, output_option
from slipstream.cli.store_access import cli_store
from slipstream.metadata.base import MetadataStore
from slipstream.metadata.records import Connection

MASK = "***"
LIST_COLUMNS = [
    "conn_id",
    "conn_type",
    "host",
    "port",
    "schema",
    "login",
    "extra_keys",
    "description",
]
# Flags that describe what a --conn-uri already says (Airflow refuses them together too).
URI_CONFLICTS = (
    "conn_type",
    "conn_host",
    "conn_login",
    "conn_password",
    "conn_schema",
    "conn_port",
)


@click.group("connections")
def connections() -> None:
    """Connections: add, get, list, delete."""


# -- what the commands do (the REST API mode will call the server instead) ------------


def connection_record(conn: Connection) -> dict[str, Any]:
    """What may be shown of a connection: no password, no extra values."""
    return {
        "conn_id": conn.conn_id,
        "conn_type": conn.conn_type,
        "description": conn.description,
        "host": conn.host,
        "schema": conn.schema,
        "login": conn.login,
        "password": MASK if conn.password else None,
        "port": conn.port,
        "extra_keys": sorted(conn.extra),
    }


def connection_records(store: MetadataStore) -> list[dict[str, Any]]:
    return [connection_record(conn) for conn in store.list_connections().items]


def get_connection_record(store: MetadataStore, conn_id: str) -> dict[str, Any]:
    conn = store.get_connection(conn_id)
    if conn is None:
        fail(f"connection {conn_id!r} does not exist")
    return connection_record(conn)


def add_connection(store: MetadataStore, conn: Connection, *, overwrite: bool) -> bool:
    """Store ``conn``; returns whether it replaced one. A duplicate without
    ``overwrite`` is an error and changes nothing."""
    exists = store.get_connection(conn.conn_id) is not None
    if exists and not overwrite:
        fail(f"connection {conn.conn_id!r} already exists; pass --overwrite to replace it")
    store.set_connection(conn)
    return exists


def parse_port(value: str | None, flag: str = "--conn-port") -> int | None:
    if value is None:
        return None
    try:
        port = int(value)
    except ValueError:
        port = 0
    try:
        admin.check_port(port)
    except ValueError:
        fail(f"{flag}: {value!r} is not a port number (1-65535)")
    return port


def parse_extra(value: str | None) -> dict[str, Any]:
    if value is None:
        return {}
    try:
        return admin.parse_extra(value, "--conn-extra")
    except ValueError as exc:
        fail(str(exc))


def from_uri(conn_id: str, uri: str) -> Connection:
    """Parse ``--conn-uri``. Errors never repeat the URI: it may hold a password."""
    from slipstream.models.connection import Connection as ModelConnection

    hint = "expected scheme://[login[:password]@]host[:port][/schema][?key=value...]"
    try:
        parts = urlsplit(uri)
        # A host, or (sqlite:////path/x.db) an empty host and an absolute path.
        hostless = "://" in uri and parts.path.startswith("/")
        if not parts.scheme or not (parts.netloc or hostless):
            raise ValueError("no scheme, or neither a host nor a path")
    except ValueError:
        fail(f"--conn-uri is not a connection URI ({hint})")
    try:
        parsed = ModelConnection.from_uri(conn_id, uri)
    except ValueError as exc:
        # The parser's messages may quote parts of the URI: say what was wrong instead.
        if "port" in str(exc).lower():
            fail("--conn-uri: its port is not a port number (1-65535)")
        if "extra" in str(exc).lower():
            fail("--conn-uri: its __extra__ parameter is not a JSON object")
        fail(f"--conn-uri is not a connection URI ({hint})")
    if parsed.port is not None:
        parse_port(str(parsed.port), "--conn-uri port")
    return Connection(
        conn_id=conn_id,
        conn_type=parsed.conn_type,
        host=parsed.host,
        schema=parsed.schema,
        login=parsed.login,
        password=parsed.password,
        port=parsed.port,
        extra=parsed.extra,
    )


def read_password() -> str:
    """Hidden prompt on a terminal; otherwise the first line of standard input,
    so scripts can pipe a password in without it showing in ``ps``."""
    if sys.stdin.isatty():
        password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        fail("--conn-password-prompt: the password is empty")
    return password


# -- the commands ------------------------------------------------------------------------


@connections.command("add")
@click.argument("conn_id")
@click.option("--conn-uri", help="The whole connection as a URI (scheme://login:password@host).")
@click.option("--conn-type", help="Type of the connection (postgres, http, ...).")
@click.option("--conn-host")
@click.option("--conn-login")
@click.option("--conn-password", help="Prefer --conn-password-prompt: flags end up in history.")
@click.option(
    "--conn-password-prompt",
    is_flag=True,
    help="Ask for the password (hidden), or read it from standard input.",
)
@click.option("--conn-schema")
@click.option("--conn-port", help="Port number, 1-65535.")
@click.option("--conn-extra", help="Extra settings as a JSON object.")
@click.option("--conn-description")
@click.option("--overwrite", is_flag=True, help="Replace a connection with the same id.")
def add_cmd(
    conn_id: str,
    conn_uri: str | None,
    conn_type: str | None,
    conn_host: str | None,
    conn_login: str | None,
    conn_password: str | None,
    conn_password_prompt: bool,
    conn_schema: str | None,
    conn_port: str | None,
    conn_extra: str | None,
    conn_description: str | None,
    overwrite: bool,
) -> None:
    """Add a connection, from a URI or from its parts."""
    check_name("connection id", conn_id)
    given = {
        "conn_type": conn_type,
        "conn_host": conn_host,
        "conn_login": conn_login,
        "conn_password": conn_password,
        "conn_schema": conn_schema,
        "conn_port": conn_port,
    }
    extra = parse_extra(conn_extra)
    if conn_password_prompt and conn_password is not None:
        fail("--conn-password and --conn-password-prompt exclude each other")
    if conn_uri is not None:
        clashing = [f"--{name.replace('_', '-')}" for name in URI_CONFLICTS if given[name]]
        if clashing:
            fail(f"--conn-uri cannot be combined with {', '.join(clashing)}")
        conn = from_uri(conn_id, conn_uri)
        if conn_password_prompt and conn.password:
            fail("--conn-uri holds a password already; drop --conn-password-prompt")
        # --conn-extra adds to (and wins over) the extras of the URI's query.
        conn = attrs.evolve(conn, extra={**conn.extra, **extra}, description=conn_description)
    elif not conn_type:
        fail("give either --conn-uri or --conn-type")
    else:
        conn = Connection(
            conn_id=conn_id,
            conn_type=conn_type,
            host=conn_host,
            schema=conn_schema,
            login=conn_login,
            password=conn_password,
            port=parse_port(conn_port),
            extra=extra,
            description=conn_description,
        )
    if conn_password_prompt:
        conn = attrs.evolve(conn, password=read_password())
    with cli_store() as store:
        replaced = add_connection(store, conn, overwrite=overwrite)
    click.echo(f"Connection {conn_id} {'replaced' if replaced else 'added'}")


@connections.command("get")
@click.argument("conn_id")
@output_option
def get_cmd(conn_id: str, output: str) -> None:
    """Show one connection (its password as ***)."""
    with cli_store() as store:
        record = get_connection_record(store, conn_id)
    emit_one(record, output)


@connections.command("list")
@output_option
def list_cmd(output: str) -> None:
    """Every connection, without passwords or extra values."""
    with cli_store() as store:
        rows = connection_records(store)
    emit(rows, LIST_COLUMNS, output)


@connections.command("delete")
@click.argument("conn_id")
def delete_cmd(conn_id: str) -> None:
    """Delete a connection."""
    with cli_store() as store:
        store.delete_connection(conn_id)
    click.echo(f"Connection {conn_id} deleted")
