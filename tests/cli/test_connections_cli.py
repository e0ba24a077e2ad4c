"""``slipstream connections`` through the real CLI: passwords encrypted at rest, never printed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from crud_support import home_store, in_process
from cryptography.fernet import Fernet

if TYPE_CHECKING:
    from conftest import CliRun

DB_PASSWORD = "pa:ss@w0rd/Secret"
API_TOKEN = "tok-3f9a1c"
EXTRA_SECRET = "extra-value-b71e"
URI = "postgresql://bob:pa%3Ass%40w0rd%2FSecret@db.example.com:5432/sales?sslmode=require"


@pytest.fixture
def cli(either_cli: CliRun) -> CliRun:
    """Each test runs twice: on the local store, and through a live API server."""
    return either_cli


def listed(run: CliRun) -> list[dict[str, object]]:
    result = run("connections", "list", "-o", "json")
    assert result.returncode == 0, result.stderr
    records: list[dict[str, object]] = json.loads(result.stdout)
    return records


def test_add_get_list_delete_never_print_secrets(cli: CliRun, home: Path) -> None:
    outputs = []
    for args in [
        ("sales_db", "--conn-uri", URI, "--conn-description", "sales warehouse"),
        (
            "api",
            "--conn-type",
            "http",
            "--conn-host",
            "api.example.com",
            "--conn-port",
            "443",
            "--conn-login",
            "svc",
            "--conn-password",
            API_TOKEN,
            "--conn-extra",
            json.dumps({"token": EXTRA_SECRET, "verify": True}),
        ),
    ]:
        added = cli("connections", "add", *args)
        assert (added.returncode, added.stdout, added.stderr) == (
            0,
            f"Connection {args[0]} added\n",
            "",
        )

    table = cli("connections", "list")
    as_json = listed(cli)
    got = cli("connections", "get", "sales_db")
    got_json = cli("connections", "get", "api", "-o", "json")
    outputs += [table, got, got_json]
    assert table.stdout == (
        "conn_id   conn_type   host             port  schema  login  "
        "extra_keys     description\n"
        "--------  ----------  ---------------  ----  ------  -----  "
        "-------------  ---------------\n"
        "api       http        api.example.com  443           svc    token, verify\n"
        "sales_db  postgresql  db.example.com   5432  sales   bob    "
        "sslmode        sales warehouse\n"
    )
    assert as_json[1] == {
        "conn_id": "sales_db",
        "conn_type": "postgresql",
        "description": "sales warehouse",
        "host": "db.example.com",
        "schema": "sales",
        "login": "bob",
        "password": "***",
        "port": 5432,
        "extra_keys": ["sslmode"],
    }
    assert got.stdout == (
        "conn_id      sales_db\n"
        "conn_type    postgresql\n"
        "description  sales warehouse\n"
        "host         db.example.com\n"
        "schema       sales\n"
        "login        bob\n"
        "password     ***\n"
        "port         5432\n"
        "extra_keys   sslmode\n"
    )
    assert (
        json.loads(got_json.stdout)
        == as_json[0]
        == {
            "conn_id": "api",
            "conn_type": "http",
            "description": None,
            "host": "api.example.com",
            "schema": None,
            "login": "svc",
            "password": "***",
            "port": 443,
            "extra_keys": ["token", "verify"],
        }
    )
    for result in outputs:
        for secret in (DB_PASSWORD, API_TOKEN, EXTRA_SECRET):
            assert secret not in result.stdout + result.stderr

    # The store still has every secret, intact (URI escapes decoded).
    with home_store(home) as store:
        sales, api = store.get_connection("sales_db"), store.get_connection("api")
    assert sales is not None and sales.password == DB_PASSWORD
    assert sales.extra == {"sslmode": "require"}
    assert api is not None and api.password == API_TOKEN
    assert api.extra == {"token": EXTRA_SECRET, "verify": True}

    deleted = cli("connections", "delete", "api")
    assert (deleted.returncode, deleted.stdout) == (0, "Connection api deleted\n")
    assert [row["conn_id"] for row in listed(in_process(home))] == ["sales_db"]


def test_password_is_encrypted_at_rest_and_can_come_from_stdin(cli: CliRun, home: Path) -> None:
    added = cli(
        "connections",
        "add",
        "warehouse",
        "--conn-uri",
        "postgresql://loader@wh.internal/dwh",
        "--conn-extra",
        json.dumps({"private_key": EXTRA_SECRET}),
        "--conn-password-prompt",
        input=DB_PASSWORD + "\n",
    )
    assert (added.returncode, added.stdout) == (0, "Connection warehouse added\n"), added.stderr
    assert DB_PASSWORD not in added.stdout + added.stderr

    with sqlite3.connect(home / "slipstream.db") as raw:
        password, extra = raw.execute(
            "SELECT password, extra FROM connection WHERE conn_id = 'warehouse'"
        ).fetchone()
    assert DB_PASSWORD not in password and EXTRA_SECRET not in extra
    fernet = Fernet((home / "fernet.key").read_text().strip().encode())
    assert fernet.decrypt(password.encode()).decode() == DB_PASSWORD
    assert json.loads(fernet.decrypt(extra.encode())) == {"private_key": EXTRA_SECRET}
    for path in home.glob("slipstream.db*"):  # the WAL too: no plaintext anywhere on disk
        assert DB_PASSWORD.encode() not in path.read_bytes()
        assert EXTRA_SECRET.encode() not in path.read_bytes()
    assert cli("connections", "get", "warehouse", "-o", "json").stdout.count("***") == 1


def test_bad_input_is_a_clear_error_and_changes_nothing(cli: CliRun, home: Path) -> None:
    assert (
        cli("connections", "add", "db", "--conn-type", "postgres", "--conn-host", "h1").returncode
        == 0
    )
    run = in_process(home)
    before = listed(run)
    cases = [
        (
            ("add", "db", "--conn-type", "postgres", "--conn-host", "h2"),
            "connection 'db' already exists; pass --overwrite to replace it",
        ),
        (
            ("add", "x", "--conn-uri", "bob:" + DB_PASSWORD + "@nohost"),
            "--conn-uri is not a connection URI "
            "(expected scheme://[login[:password]@]host[:port][/schema][?key=value...])",
        ),
        (
            ("add", "x", "--conn-uri", "pg://bob:" + API_TOKEN + "@h:54x2/db"),
            "--conn-uri: its port is not a port number (1-65535)",
        ),
        (
            ("add", "x", "--conn-uri", "pg://bob:" + API_TOKEN + "@[::1/db"),
            "--conn-uri is not a connection URI "
            "(expected scheme://[login[:password]@]host[:port][/schema][?key=value...])",
        ),
        (
            ("add", "x", "--conn-uri", "pg://h/db?__extra__=%5B1%5D"),
            "--conn-uri: its __extra__ parameter is not a JSON object",
        ),
        (
            ("add", "x", "--conn-type", "http", "--conn-port", "http"),
            "--conn-port: 'http' is not a port number (1-65535)",
        ),
        (
            ("add", "x", "--conn-type", "http", "--conn-port", "70000"),
            "--conn-port: '70000' is not a port number (1-65535)",
        ),
        (
            ("add", "x", "--conn-type", "http", "--conn-extra", "{'a': 1}"),
            "--conn-extra is not valid JSON: Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1)",
        ),
        (
            ("add", "x", "--conn-type", "http", "--conn-extra", "[1]"),
            "--conn-extra must be a JSON object",
        ),
        (
            ("add", "x", "--conn-uri", "pg://h/db", "--conn-host", "other", "--conn-port", "1"),
            "--conn-uri cannot be combined with --conn-host, --conn-port",
        ),
        (("add", "x"), "give either --conn-uri or --conn-type"),
        (("get", "nope"), "connection 'nope' does not exist"),
        (("delete", "nope"), "connection 'nope' does not exist"),
    ]
    for args, message in cases:
        result = run("connections", *args)
        assert (result.returncode, result.stdout, result.stderr) == (1, "", f"Error: {message}\n")
        for secret in (DB_PASSWORD, API_TOKEN):
            assert secret not in result.stderr
    assert listed(run) == before

    replaced = cli(
        "connections", "add", "db", "--conn-type", "postgres", "--conn-host", "h2", "--overwrite"
    )
    assert (replaced.returncode, replaced.stdout) == (0, "Connection db replaced\n")
    assert [row["host"] for row in listed(run)] == ["h2"]


def test_a_sqlite_uri_names_a_file_and_no_host(cli: CliRun) -> None:
    added = cli("connections", "add", "lite", "--conn-uri", "sqlite:////var/data/x.db")
    shown = cli("connections", "get", "lite", "-o", "json")

    assert added.returncode == 0, added.stderr
    record = json.loads(shown.stdout)
    assert (record["conn_type"], record["host"], record["schema"]) == (
        "sqlite",
        None,
        "/var/data/x.db",
    )
