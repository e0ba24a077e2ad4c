"""``slipstream pools`` through the real CLI, slot usage counted from task instances."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from crud_support import home_store, in_process

from slipstream.metadata.records import DagMetadata, NewDagRun, NewTaskInstance
from slipstream.state import DagRunType, TaskInstanceState

if TYPE_CHECKING:
    from conftest import CliRun

T0 = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture
def cli(either_cli: CliRun) -> CliRun:
    """Each test runs twice: on the local store, and through a live API server."""
    return either_cli


def test_set_get_list_delete_with_slot_usage(cli: CliRun, home: Path) -> None:
    created = cli("pools", "set", "etl", "4", "ETL jobs")
    assert (created.returncode, created.stdout) == (0, "Pool etl created: 4 slots\n")
    # An update without a description keeps the stored one.
    updated = cli("pools", "set", "etl", "6")
    assert (updated.returncode, updated.stdout) == (0, "Pool etl updated: 6 slots\n")

    with home_store(home) as store:
        store.upsert_dags(
            [DagMetadata(dag_id="load", fileloc="/dags/load.py", last_parsed_time=T0)]
        )
        store.create_dag_run(
            NewDagRun(dag_id="load", run_id="r1", run_type=DagRunType.MANUAL, run_after=T0)
        )
        store.create_task_instances(
            "load",
            "r1",
            [
                NewTaskInstance(task_id="a", pool="etl", state=TaskInstanceState.RUNNING),
                NewTaskInstance(
                    task_id="b", pool="etl", pool_slots=2, state=TaskInstanceState.QUEUED
                ),
                NewTaskInstance(task_id="c", pool="etl", state=TaskInstanceState.SCHEDULED),
            ],
        )

    table = cli("pools", "list")
    assert table.stdout == (
        "name          slots  occupied_slots  running_slots  queued_slots  open_slots  "
        "description\n"
        "------------  -----  --------------  -------------  ------------  ----------  "
        "------------\n"
        "default_pool  128    0               0              0             128         "
        "Default pool\n"
        "etl           6      3               1              2             3           ETL jobs\n"
    )
    got = cli("pools", "get", "etl")
    assert got.stdout == (
        "name             etl\n"
        "slots            6\n"
        "occupied_slots   3\n"
        "running_slots    1\n"
        "queued_slots     2\n"
        "scheduled_slots  1\n"
        "open_slots       3\n"
        "description      ETL jobs\n"
    )
    as_json = json.loads(cli("pools", "list", "-o", "json").stdout)
    assert as_json[1] == json.loads(cli("pools", "get", "etl", "-o", "json").stdout)
    assert as_json[1] == {
        "name": "etl",
        "slots": 6,
        "occupied_slots": 3,
        "running_slots": 1,
        "queued_slots": 2,
        "scheduled_slots": 1,
        "open_slots": 3,
        "description": "ETL jobs",
    }

    deleted = cli("pools", "delete", "etl")
    assert (deleted.returncode, deleted.stdout) == (0, "Pool etl deleted\n")
    with home_store(home) as store:
        assert [pool.name for pool in store.list_pools()] == ["default_pool"]


def test_bad_input_is_a_clear_error_and_changes_nothing(
    cli: CliRun, home: Path, tmp_path: Path
) -> None:
    # Through the subprocess: a negative count is not taken for an option.
    negative = cli("pools", "set", "default_pool", "-1")
    assert (negative.returncode, negative.stdout, negative.stderr) == (
        1,
        "",
        "Error: SLOTS must be a whole number >= 0, got -1\n",
    )
    undeletable = cli("pools", "delete", "default_pool")
    assert (undeletable.returncode, undeletable.stderr) == (
        1,
        "Error: the 'default_pool' pool cannot be deleted (set its slots instead)\n",
    )
    bad_file = tmp_path / "pools.json"
    bad_file.write_text(
        json.dumps(
            {
                "fine": {"slots": 2},
                "minus": {"slots": -3},
                "text": {"slots": "many"},
                "flat": 5,
                "typo": {"slot": 1, "description": "x"},
                "nodesc": {"slots": 1, "description": 7},
            }
        )
    )
    run = in_process(home)
    cases = [
        (("set", "p", "2.5"), "SLOTS must be a whole number >= 0, got '2.5'"),
        (
            ("set", " p", "1"),
            "pool name ' p' must be non-empty, without leading or trailing spaces",
        ),
        (("get", "nope"), "pool 'nope' does not exist"),
        (("delete", "nope"), "pool 'nope' does not exist"),
        (
            ("import", str(bad_file)),
            f"{bad_file}: nothing imported:\n"
            "  pool 'minus': slots must be a whole number >= 0, got -3\n"
            "  pool 'text': slots must be a whole number >= 0, got 'many'\n"
            '  pool \'flat\': expected {"slots": n, "description": "..."}\n'
            "  pool 'typo': unknown key(s) slot; allowed: description, slots\n"
            "  pool 'nodesc': description must be a string",
        ),
    ]
    for args, message in cases:
        result = run("pools", *args)
        assert (result.returncode, result.stdout, result.stderr) == (1, "", f"Error: {message}\n")
    with home_store(home) as store:
        assert [(p.name, p.slots) for p in store.list_pools()] == [("default_pool", 128)]


def test_import_export_round_trip(cli: CliRun, tmp_path: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text(
        json.dumps({"etl": {"slots": 3, "description": "ETL"}, "default_pool": {"slots": 16}})
    )
    imported = cli("pools", "import", str(source))
    assert (imported.returncode, imported.stdout) == (0, f"2 pool(s) imported from {source}\n")
    exported = cli("pools", "export", "-")
    assert exported.stderr == "2 pool(s) exported to -\n"
    # default_pool kept its description: the import file did not give one.
    assert json.loads(exported.stdout) == {
        "default_pool": {"slots": 16, "description": "Default pool"},
        "etl": {"slots": 3, "description": "ETL"},
    }
