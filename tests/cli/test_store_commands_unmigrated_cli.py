"""On a fresh home (no schema yet) every store-backed command says to run
``slipstream db migrate``: exit status 1, one line, no traceback."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from crud_support import in_process

if TYPE_CHECKING:
    from conftest import CliRun

COMMANDS = [
    ("variables", "set", "k", "v"),
    ("variables", "get", "k"),
    ("variables", "list"),
    ("variables", "delete", "k"),
    ("variables", "export", "-"),
    ("connections", "add", "c", "--conn-type", "http", "--conn-password", "hunter2"),
    ("connections", "get", "c"),
    ("connections", "list", "-o", "json"),
    ("connections", "delete", "c"),
    ("pools", "set", "p", "1"),
    ("pools", "get", "p"),
    ("pools", "list"),
    ("pools", "delete", "p"),
    ("pools", "export", "-"),
    ("dags", "pause", "etl"),
    ("dags", "unpause", "etl"),
    ("dags", "list-runs", "etl"),
    ("tasks", "states-for-dag-run", "etl", "r1"),
]


def test_every_store_command_asks_for_db_migrate(slipstream: CliRun, home: Path) -> None:
    expected = (
        f"Error: sqlite:///{home}/slipstream.db: the database has no slipstream schema: "
        "run `slipstream db migrate`\n"
    )
    for args in COMMANDS[:2]:  # end to end, as a user sees it
        result = slipstream(*args)
        assert (result.returncode, result.stdout, result.stderr) == (1, "", expected), args
    run = in_process(home)
    for args in COMMANDS[2:]:
        result = run(*args)
        assert (result.returncode, result.stdout, result.stderr) == (1, "", expected), args

    assert slipstream("db", "migrate").returncode == 0
    assert slipstream("pools", "list", "-o", "json").returncode == 0
