"""Running DAGs from the command line: dags test, trigger, backfill, tasks clear,
and the errors bad input gets (with nothing changed)."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import CliRun

DAGS = {
    "good.py": """
        from datetime import datetime
        from slipstream import DAG, Param, task

        with DAG("good", start_date=datetime(2024, 1, 1), schedule="@daily",
                 params={"n": Param(2, type="integer")}) as dag:
            @task
            def double(params=None):
                print("doubling", params["n"])
                return params["n"] * 2

            double()
    """,
    "bad.py": """
        from datetime import datetime
        from slipstream import DAG
        from slipstream.operators.bash import BashOperator

        with DAG("bad", start_date=datetime(2024, 1, 1)) as dag:
            BashOperator(task_id="fails", bash_command="echo going down; exit 3")
    """,
}


@pytest.fixture
def project(home: Path) -> dict[str, str]:
    dags = home / "dags"
    dags.mkdir()
    for name, source in DAGS.items():
        (dags / name).write_text(textwrap.dedent(source))
    return {"SLIPSTREAM__CORE__LOAD_EXAMPLES": "false"}


def runs_in(home: Path) -> list[tuple[str, str, str]]:
    db = home / "slipstream.db"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute("select dag_id, run_id, state from dag_run order by id").fetchall()
        except sqlite3.OperationalError:
            return []


def test_dags_test_runs_the_whole_dag_and_reports(
    slipstream: CliRun, project: dict[str, str], home: Path
) -> None:
    ok = slipstream("dags", "test", "good", "--conf", '{"n": 21}', env=project)
    assert ok.returncode == 0, ok.stderr
    assert "doubling 21" in ok.stdout
    assert "Run manual__" in ok.stdout and ": success" in ok.stdout
    assert runs_in(home)[-1][0] == "good" and runs_in(home)[-1][2] == "success"

    failed = slipstream("dags", "test", "bad", env=project)
    assert failed.returncode == 1
    assert "going down" in failed.stdout
    assert "fails" in failed.stdout and "failed" in failed.stdout
    logs = list((home / "logs" / "dag_id=bad").rglob("attempt=1.log"))
    assert len(logs) == 1 and "exit code 3" in logs[0].read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["dags", "trigger", "nope"], "DAG 'nope' not found"),
        (["dags", "trigger", "good", "--conf", "{not json"], "--conf"),
        (["dags", "trigger", "good", "--conf", "[1, 2]"], "must be a JSON object"),
        (["dags", "trigger", "good", "--conf", '{"n": "two"}'], "param 'n'"),
        (["dags", "trigger", "good", "--logical-date", "yesterday"], "not an ISO date"),
        (["dags", "test", "nope"], "DAG 'nope' not found"),
        (["dags", "backfill", "good", "-s", "2024-01-05", "-e", "2024-01-01"], "before --start"),
        (["tasks", "clear", "good", "--task-regex", "(", "--yes"], "--task-regex"),
        (["tasks", "clear", "nope", "--use-latest-version", "--yes"], "DAG 'nope' not found"),
    ],
)
def test_bad_input_is_a_clear_error_and_changes_nothing(
    slipstream: CliRun, project: dict[str, str], home: Path, args: list[str], message: str
) -> None:
    assert slipstream("db", "migrate", env=project).returncode == 0
    before = runs_in(home)

    result = slipstream(*args, env=project)

    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert runs_in(home) == before


def test_trigger_queues_a_run_with_conf_and_says_when_paused(
    slipstream: CliRun, project: dict[str, str], home: Path
) -> None:
    slipstream("db", "migrate", env=project)
    result = slipstream(
        "dags",
        "trigger",
        "good",
        "--conf",
        '{"n": 5}',
        "--run-id",
        "my-run",
        "-o",
        "json",
        env=project,
    )

    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["run_id"] == "my-run" and run["state"] == "queued" and run["conf"] == {"n": 5}
    assert "DAG good is paused" in result.stderr
    assert runs_in(home) == [("good", "my-run", "queued")]
    again = slipstream("dags", "trigger", "good", "--run-id", "my-run", env=project)
    assert again.returncode == 1 and "my-run" in again.stderr


def test_backfill_runs_each_day_and_clear_reruns_a_task(
    slipstream: CliRun, project: dict[str, str], home: Path
) -> None:
    slipstream("db", "migrate", env=project)
    env = {**project, "SLIPSTREAM__CORE__EXECUTOR": "sequential"}
    result = slipstream("dags", "backfill", "good", "-s", "2024-01-01", "-e", "2024-01-03", env=env)

    assert result.returncode == 0, result.stderr
    assert "3 success" in result.stdout
    assert [r[1] for r in runs_in(home)] == [
        "backfill__2024-01-01T00:00:00+00:00",
        "backfill__2024-01-02T00:00:00+00:00",
        "backfill__2024-01-03T00:00:00+00:00",
    ]
    # Backfilling the same range again runs nothing twice.
    again = slipstream("dags", "backfill", "good", "-s", "2024-01-01", "-e", "2024-01-03", env=env)
    assert again.returncode == 0 and len(runs_in(home)) == 3

    cleared = slipstream(
        "tasks",
        "clear",
        "good",
        "--start-date",
        "2024-01-02",
        "--end-date",
        "2024-01-02",
        "--yes",
        env=env,
    )
    assert cleared.returncode == 0, cleared.stderr
    assert "Cleared 1 task instance(s) in 1 run(s)." in cleared.stdout
    assert runs_in(home)[1][2] == "queued"


GOOD_V2 = """
    from datetime import datetime
    from slipstream import DAG, Param, task

    with DAG("good", start_date=datetime(2024, 1, 1), schedule="@daily",
             params={"n": Param(2, type="integer")}) as dag:
        @task
        def double(params=None):
            return params["n"] * 2

        @task
        def announce(value):
            print("announcing", value)

        announce(double())
"""


def test_tasks_clear_with_the_latest_version_moves_the_run_to_it(
    slipstream: CliRun, project: dict[str, str], home: Path
) -> None:
    env = {**project, "SLIPSTREAM__CORE__EXECUTOR": "sequential"}
    slipstream("db", "migrate", env=env)
    assert slipstream("dags", "test", "good", env=env).returncode == 0
    (home / "dags" / "good.py").write_text(textwrap.dedent(GOOD_V2))
    assert slipstream("dag-processor", "--num-runs", "1", env=env).returncode == 0

    def run_and_tasks() -> tuple[int, list[tuple[str, str]]]:
        with sqlite3.connect(home / "slipstream.db") as conn:
            number = conn.execute(
                "select v.version_number from dag_run r join dag_version v"
                " on v.id = r.dag_version_id where r.dag_id = 'good'"
            ).fetchone()[0]
            tis = conn.execute(
                "select task_id, state from task_instance order by task_id"
            ).fetchall()
        return number, tis

    before = run_and_tasks()
    declined = slipstream("tasks", "clear", "good", "--use-latest-version", input="n\n", env=env)
    after_declining = run_and_tasks()
    cleared = slipstream("tasks", "clear", "good", "--use-latest-version", "--yes", env=env)

    assert before == (1, [("double", "success")])
    assert "announce  (new in the latest version: added)" in declined.stdout
    assert "Nothing cleared." in declined.stdout and after_declining == before
    assert cleared.returncode == 0, cleared.stderr
    assert "Cleared 1 task instance(s) in 1 run(s)." in cleared.stdout
    assert "Latest version: 1 task instance(s) added, 0 removed." in cleared.stdout
    assert run_and_tasks() == (2, [("announce", "none"), ("double", "none")])
    assert runs_in(home)[0][2] == "queued"


def test_choosing_an_executor_that_is_not_ready_is_a_clear_error(
    slipstream: CliRun, project: dict[str, str]
) -> None:
    slipstream("db", "migrate", env=project)
    result = slipstream(
        "scheduler", "--num-runs", "1", env={**project, "SLIPSTREAM__CORE__EXECUTOR": "celery"}
    )

    assert result.returncode == 1
    assert "core.executor = 'celery'" in result.stderr
    assert "not implemented yet in slipstream-celery-executor" in result.stderr


def test_scheduler_on_an_unmigrated_store_says_to_migrate(
    slipstream: CliRun, project: dict[str, str]
) -> None:
    result = slipstream("scheduler", "--num-runs", "1", env=project)

    assert result.returncode == 1
    assert "slipstream db migrate" in result.stderr


def test_tasks_run_runs_a_queued_try_once_and_records_it(
    slipstream: CliRun, project: dict[str, str], home: Path
) -> None:
    from datetime import UTC, datetime

    from slipstream.execution.worker import dag_file_for
    from slipstream.executors.base import TaskInstanceKey, Workload
    from slipstream.runtime import Slipstream

    environ = {"SLIPSTREAM_HOME": str(home), **project}
    with Slipstream({"core.executor": "sequential"}, environ=environ) as app:
        app.parse()
        run = app.trigger("good", conf={"n": 4})
        app.start()
        app.scheduler.start_run(run)
        now = datetime.now(UTC)
        current = app.store.get_dag_run("good", run.run_id)
        assert current is not None
        app.scheduler.schedule_run(current, now)
        app.scheduler.queue_tasks(now)
        ti = app.store.list_task_instances(dag_ids=["good"], limit=None).items[0]
        version = app.store.get_dag_version("good")
        assert ti.state == "queued" and version is not None
        workload = Workload(
            key=TaskInstanceKey(
                dag_id="good", run_id=run.run_id, task_id="double", try_number=ti.try_number
            ),
            dag_file=dag_file_for(version.serialized),
        )

    first = slipstream("tasks", "run", "--workload", workload.to_json(), env=project)
    second = slipstream("tasks", "run", "--workload", workload.to_json(), env=project)
    bad = slipstream("tasks", "run", "--workload", '{"key": 1}', env=project)

    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["state"] == "success"
    assert second.returncode == 2 and "Not run: the try is no longer queued" in second.stderr
    assert bad.returncode == 2 and "not a workload record" in bad.stderr
    with sqlite3.connect(home / "slipstream.db") as conn:
        state, try_number = conn.execute(
            "select state, try_number from task_instance where task_id = 'double'"
        ).fetchone()
    assert (state, try_number) == ("success", 1)


def test_dags_test_runs_only_its_own_run(
    slipstream: CliRun, project: dict[str, str], home: Path
) -> None:
    slipstream("db", "migrate", env=project)
    slipstream("dags", "trigger", "good", "--run-id", "waiting", env=project)
    slipstream("dags", "unpause", "good", env=project)

    result = slipstream("dags", "test", "bad", env=project)

    assert result.returncode == 1
    # The unpaused DAG's queued run was left alone, and no scheduled run was created.
    assert [r for r in runs_in(home) if r[0] == "good"] == [("good", "waiting", "queued")]
