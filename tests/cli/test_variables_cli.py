"""``slipstream variables`` through the real CLI, on a migrated SQLite store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from crud_support import in_process

if TYPE_CHECKING:
    from conftest import CliRun


@pytest.fixture
def cli(either_cli: CliRun) -> CliRun:
    """Each test runs twice: on the local store, and through a live API server."""
    return either_cli


def listed(run: CliRun) -> list[dict[str, object]]:
    result = run("variables", "list", "-o", "json")
    assert result.returncode == 0, result.stderr
    records: list[dict[str, object]] = json.loads(result.stdout)
    return records


def test_set_get_list_delete(cli: CliRun, home: Path) -> None:
    steps = [
        (("variables", "set", "region", "eu-west-1", "--description", "where"), "created"),
        (("variables", "set", "cfg", '{"b": [1, 2], "a": "x"}', "--json"), "created"),
        (("variables", "set", "region", "us-east-2"), "updated"),
    ]
    for args, verb in steps:
        result = cli(*args)
        assert (result.returncode, result.stdout, result.stderr) == (
            0,
            f"Variable {args[2]} {verb}\n",
            "",
        )

    table = cli("variables", "list")
    assert table.stdout == (
        "key     value                description\n"
        "------  -------------------  -----------\n"
        'cfg     {"a":"x","b":[1,2]}\n'
        "region  us-east-2            where\n"
    )
    assert table.stderr == ""  # values are shown, never logged
    # --json stored the value canonically; an update without --description kept it.
    assert listed(cli) == [
        {"key": "cfg", "value": '{"a":"x","b":[1,2]}', "description": None},
        {"key": "region", "value": "us-east-2", "description": "where"},
    ]
    assert cli("variables", "get", "region").stdout == "us-east-2\n"
    assert cli("variables", "get", "cfg", "--json").stdout == (
        '{\n  "a": "x",\n  "b": [\n    1,\n    2\n  ]\n}\n'
    )
    assert cli("variables", "get", "gone", "--default", "fallback").stdout == "fallback\n"

    negative = in_process(home)("variables", "set", "offset", "-5")  # a value, not an option
    assert (negative.returncode, negative.stdout) == (0, "Variable offset created\n")
    assert cli("variables", "get", "offset").stdout == "-5\n"
    assert cli("variables", "delete", "offset").returncode == 0

    deleted = cli("variables", "delete", "region")
    assert (deleted.returncode, deleted.stdout) == (0, "Variable region deleted\n")
    assert [row["key"] for row in listed(in_process(home))] == ["cfg"]


def test_bad_input_is_a_clear_error_and_changes_nothing(cli: CliRun, home: Path) -> None:
    assert cli("variables", "set", "keep", "1").returncode == 0
    missing = cli("variables", "get", "nope")
    assert (missing.returncode, missing.stdout, missing.stderr) == (
        1,
        "",
        "Error: variable 'nope' does not exist\n",
    )
    run = in_process(home)
    cases = [
        (("variables", "delete", "nope"), "Error: variable 'nope' does not exist\n"),
        (
            ("variables", "set", "keep", "{oops", "--json"),
            "Error: VALUE is not valid JSON (--json): Expecting property name enclosed in "
            "double quotes: line 1 column 2 (char 1)\n",
        ),
        (
            ("variables", "set", "", "x"),
            "Error: variable key '' must be non-empty, without leading or trailing spaces\n",
        ),
        (("variables", "get", "keep", "--json"), None),  # "1" is JSON: fine
    ]
    for args, error in cases:
        result = run(*args)
        if error is None:
            assert (result.returncode, result.stdout) == (0, "1\n")
            continue
        assert (result.returncode, result.stdout, result.stderr) == (1, "", error), args
        assert "Traceback" not in result.stderr
    assert listed(run) == [{"key": "keep", "value": "1", "description": None}]


def test_import_export_round_trip_and_a_bad_file_writes_nothing(
    cli: CliRun, home: Path, tmp_path: Path
) -> None:
    run = in_process(home)
    source = tmp_path / "in.json"
    source.write_text(json.dumps({"name": "plain text", "conf": {"z": 1, "a": [True]}, "n": 3}))
    imported = cli("variables", "import", str(source))
    assert (imported.returncode, imported.stdout) == (0, f"3 variable(s) imported from {source}\n")
    # Strings are kept as they are; other JSON values are stored as canonical JSON text.
    assert {row["key"]: row["value"] for row in listed(run)} == {
        "conf": '{"a":[true],"z":1}',
        "n": "3",
        "name": "plain text",
    }

    target = tmp_path / "out.json"
    exported = cli("variables", "export", str(target))
    assert (exported.returncode, exported.stdout) == (0, f"3 variable(s) exported to {target}\n")
    assert json.loads(target.read_text()) == {
        "conf": {"a": [True], "z": 1},
        "n": 3,
        "name": "plain text",
    }
    assert target.stat().st_mode & 0o077 == 0  # values may be secrets: owner only
    to_stdout = cli("variables", "export", "-")
    assert json.loads(to_stdout.stdout) == json.loads(target.read_text())
    assert to_stdout.stderr == "3 variable(s) exported to -\n"

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"fresh": "ok", "": "no key", "empty": None, "name": "changed"}))
    refused = cli("variables", "import", str(bad))
    assert refused.returncode == 1
    assert refused.stderr == (
        f"Error: {bad}: nothing imported:\n"
        "  variable key '' must be non-empty, without leading or trailing spaces\n"
        "  variable 'empty': null is not a value\n"
    )
    not_json = tmp_path / "not.json"
    not_json.write_text("{'single': 'quotes'}")
    for path, message in [
        (not_json, f"Error: {not_json} is not valid JSON: Expecting property name enclosed"),
        (tmp_path / "missing.json", f"Error: cannot read {tmp_path / 'missing.json'}: No such"),
    ]:
        result = run("variables", "import", str(path))
        assert result.returncode == 1 and result.stderr.startswith(message), result.stderr
    # Re-importing the export gives back exactly what was stored; the bad files wrote nothing.
    assert run("variables", "import", str(target)).returncode == 0
    assert {row["key"]: row["value"] for row in listed(run)} == {
        "conf": '{"a":[true],"z":1}',
        "n": "3",
        "name": "plain text",
    }
