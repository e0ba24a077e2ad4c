"""``dags pause|unpause|list-runs`` and ``tasks states-for-dag-run`` through the real CLI,
on DAGs and runs put in the store the CLI reads (by the store API, or by really running
a DAG with the embedding runtime)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from crud_support import home_store, in_process

from slipstream.metadata.records import (
    DagMetadata,
    DagRun,
    NewDagRun,
    NewTaskInstance,
    TaskInstanceUpdate,
)
from slipstream.state import DagRunState, DagRunType, TaskInstanceState

if TYPE_CHECKING:
    from conftest import CliRun

T0 = datetime(2025, 3, 1, tzinfo=UTC)
S = TaskInstanceState


@pytest.fixture
def cli(either_cli: CliRun) -> CliRun:
    """Each test runs twice: on the local store, and through a live API server."""
    return either_cli


def _seed(home: Path) -> dict[str, DagRun]:
    """DAG ``etl`` (paused, as new DAGs are) with three runs: two scheduled (one done,
    one running) and a manual one without a logical date, the newest."""
    with home_store(home) as store:
        store.upsert_dags([DagMetadata(dag_id="etl", fileloc="/dags/etl.py", last_parsed_time=T0)])
        for day, run_id, run_type in [
            (0, "scheduled__2025-03-01", DagRunType.SCHEDULED),
            (1, "scheduled__2025-03-02", DagRunType.SCHEDULED),
            (2, "manual__adhoc", DagRunType.MANUAL),
        ]:
            logical = None if run_type == DagRunType.MANUAL else T0 + timedelta(days=day)
            store.create_dag_run(
                NewDagRun(
                    dag_id="etl",
                    run_id=run_id,
                    run_type=run_type,
                    logical_date=logical,
                    run_after=T0 + timedelta(days=day),
                )
            )
        store.set_dag_run_state("etl", "scheduled__2025-03-01", DagRunState.RUNNING)
        store.set_dag_run_state("etl", "scheduled__2025-03-01", DagRunState.SUCCESS)
        store.set_dag_run_state("etl", "scheduled__2025-03-02", DagRunState.RUNNING)

        tis = store.create_task_instances(
            "etl",
            "scheduled__2025-03-01",
            [
                NewTaskInstance(task_id="load", state=S.FAILED, try_number=2, max_tries=1),
                NewTaskInstance(task_id="extract", state=S.SUCCESS, try_number=1),
                NewTaskInstance(task_id="transform", map_index=1, state=S.SUCCESS, try_number=1),
                NewTaskInstance(task_id="transform", map_index=0, state=S.UP_FOR_RETRY),
                NewTaskInstance(task_id="report"),
            ],
        )
        start = T0 + timedelta(hours=1)
        store.update_task_instances(
            [
                TaskInstanceUpdate(
                    ti_id=tis[1].id,
                    fields={"start_date": start, "end_date": start + timedelta(seconds=5)},
                )
            ]
        )
        runs = {run.run_id: run for run in store.list_dag_runs(dag_ids=["etl"], limit=None).items}
    return runs


def _iso(moment: datetime | None) -> str:
    return "" if moment is None else moment.isoformat()


def test_pause_and_unpause(cli: CliRun, home: Path) -> None:
    _seed(home)
    unpaused = cli("dags", "unpause", "etl")
    assert (unpaused.returncode, unpaused.stdout) == (
        0,
        "dag_id  is_paused\n------  ---------\netl     False\n",
    )
    with home_store(home) as store:
        dag = store.get_dag("etl")
        assert dag is not None and not dag.is_paused
    paused = cli("dags", "pause", "etl", "-o", "json")
    assert json.loads(paused.stdout) == [{"dag_id": "etl", "is_paused": True}]
    with home_store(home) as store:
        dag = store.get_dag("etl")
        assert dag is not None and dag.is_paused

    unknown = cli("dags", "unpause", "nope")
    assert (unknown.returncode, unknown.stdout, unknown.stderr) == (
        1,
        "",
        "Error: DAG 'nope' is not in the metadata database "
        "(a DAG is recorded there once the dag processor has parsed its file)\n",
    )


def test_list_runs_newest_first(cli: CliRun, home: Path) -> None:
    runs = _seed(home)
    done, running = runs["scheduled__2025-03-01"], runs["scheduled__2025-03-02"]
    table = cli("dags", "list-runs", "etl")
    width = len(_iso(done.start_date))
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines() == [
        line.rstrip()
        for line in [
            f"run_id                 state    run_type   logical_date               "
            f"{'start_date'.ljust(width)}  end_date",
            f"---------------------  -------  ---------  -------------------------  "
            f"{'-' * width}  {'-' * width}",
            "manual__adhoc          queued   manual",
            f"scheduled__2025-03-02  running  scheduled  2025-03-02T00:00:00+00:00  "
            f"{_iso(running.start_date)}",
            f"scheduled__2025-03-01  success  scheduled  2025-03-01T00:00:00+00:00  "
            f"{_iso(done.start_date)}  {_iso(done.end_date)}",
        ]
    ]
    as_json = json.loads(cli("dags", "list-runs", "etl", "-o", "json").stdout)
    assert [list(row)[:7] for row in as_json] == [
        ["dag_id", "run_id", "state", "run_type", "logical_date", "start_date", "end_date"]
    ] * 3
    assert as_json[2] == {
        "dag_id": "etl",
        "run_id": "scheduled__2025-03-01",
        "state": "success",
        "run_type": "scheduled",
        "logical_date": "2025-03-01T00:00:00+00:00",
        "start_date": _iso(done.start_date),
        "end_date": _iso(done.end_date),
        "data_interval_start": None,
        "data_interval_end": None,
        "run_after": "2025-03-01T00:00:00+00:00",
    }
    assert as_json[0]["logical_date"] is None

    run = in_process(home)
    only_running = json.loads(
        run("dags", "list-runs", "etl", "--state", "running", "-o", "json").stdout
    )
    assert [row["run_id"] for row in only_running] == ["scheduled__2025-03-02"]
    limited = run("dags", "list-runs", "etl", "--limit", "1")
    assert limited.stdout.splitlines()[2].startswith("manual__adhoc")
    assert len(limited.stdout.splitlines()) == 3
    assert limited.stderr == "\n1 of 3 runs shown: raise --limit for more\n"
    unknown = run("dags", "list-runs", "nope")
    assert (
        unknown.returncode == 1 and "DAG 'nope' is not in the metadata database" in unknown.stderr
    )


def test_states_for_dag_run(cli: CliRun, home: Path) -> None:
    _seed(home)
    table = cli("tasks", "states-for-dag-run", "etl", "scheduled__2025-03-01")
    assert table.stdout == (
        "task_id    map_index  state         try_number  start_date                 end_date\n"
        "---------  ---------  ------------  ----------  -------------------------  "
        "-------------------------\n"
        "extract    -1         success       1           2025-03-01T01:00:00+00:00  "
        "2025-03-01T01:00:05+00:00\n"
        "load       -1         failed        2\n"
        "report     -1         none          0\n"
        "transform  0          up_for_retry  0\n"
        "transform  1          success       1\n"
    )
    as_json: list[dict[str, Any]] = json.loads(
        cli("tasks", "states-for-dag-run", "etl", "scheduled__2025-03-01", "-o", "json").stdout
    )
    assert all(list(row)[:4] == ["task_id", "map_index", "state", "try_number"] for row in as_json)
    assert [(r["task_id"], r["map_index"], r["state"], r["try_number"]) for r in as_json] == [
        ("extract", -1, "success", 1),
        ("load", -1, "failed", 2),
        ("report", -1, "none", 0),
        ("transform", 0, "up_for_retry", 0),
        ("transform", 1, "success", 1),
    ]
    assert as_json[0]["start_date"] == "2025-03-01T01:00:00+00:00"

    run = in_process(home)
    for args, message in [
        (
            ("etl", "no_such_run"),
            "DAG 'etl' has no run 'no_such_run' (see `slipstream dags list-runs etl`)",
        ),
        (
            ("nope", "r"),
            "DAG 'nope' is not in the metadata database "
            "(a DAG is recorded there once the dag processor has parsed its file)",
        ),
    ]:
        result = run("tasks", "states-for-dag-run", *args)
        assert (result.returncode, result.stdout, result.stderr) == (1, "", f"Error: {message}\n")
    empty = run("tasks", "states-for-dag-run", "etl", "manual__adhoc")
    assert (empty.returncode, empty.stdout) == (0, "(none)\n")


def test_a_real_run_with_a_mapped_task(cli: CliRun, home: Path) -> None:
    from slipstream import DAG, task
    from slipstream.runtime import Slipstream

    with DAG("mapped", schedule=None) as dag:

        @task
        def numbers() -> list[int]:
            return [1, 2, 3]

        @task
        def double(x: int) -> int:
            return 2 * x

        @task
        def total(values: list[int]) -> int:
            return sum(values)

        total(double.expand(x=numbers()))

    config = {
        "core.metadata": f"sqlite:///{home}/slipstream.db",
        "core.executor": "sequential",
        "core.load_examples": False,
    }
    with Slipstream(config, environ={"SLIPSTREAM_HOME": str(home)}, cwd=home, dags=[dag]) as app:
        finished = app.wait(app.trigger("mapped", run_id="r1"))
    assert finished.state == DagRunState.SUCCESS

    states = json.loads(cli("tasks", "states-for-dag-run", "mapped", "r1", "-o", "json").stdout)
    # The unmapped placeholder that expansion leaves as "removed" is not listed.
    assert [(r["task_id"], r["map_index"], r["state"], r["try_number"]) for r in states] == [
        ("double", 0, "success", 1),
        ("double", 1, "success", 1),
        ("double", 2, "success", 1),
        ("numbers", -1, "success", 1),
        ("total", -1, "success", 1),
    ]
    runs = json.loads(cli("dags", "list-runs", "mapped", "-o", "json").stdout)
    assert [(r["run_id"], r["state"], r["run_type"]) for r in runs] == [("r1", "success", "manual")]
