"""A run keeps the DAG it started with, even when the file changes under it."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from slipstream.errors import NotFoundError
from slipstream.metadata.records import DagRun, TaskInstanceRef
from slipstream.runtime import Slipstream
from slipstream.scheduler.clearing import clear_task_instances

if TYPE_CHECKING:
    from conftest import MakeApp

SOURCE = """
from datetime import datetime
from slipstream import DAG, task

with DAG("evolving", start_date=datetime(2024, 1, 1)) as dag:
{body}
"""

V1 = """
    @task
    def a():
        return "a1"

    @task
    def b(x):
        return x + "+b"

    b(a())
"""

V2 = """
    @task
    def a():
        return "a2"

    @task
    def c(x):
        return x + "+c"

    c(a())
"""


def test_a_running_run_finishes_on_its_own_version(make_app: MakeApp, tmp_path: Path) -> None:
    folder = tmp_path / "home" / "dags"
    folder.mkdir(parents=True)
    path = folder / "evolving.py"
    path.write_text(SOURCE.format(body=V1))
    app = make_app(**{"core.dags_folder": str(folder)})
    app.parse()
    app.store.set_dag_paused("evolving", False)
    old = app.trigger("evolving", run_id="old")
    app.start()
    app.scheduler.start_run(old)
    for _ in range(10):  # run `a` only
        app.scheduler.tick()
        if app.task_states(old)["a"] == "success":
            break
    states = app.task_states(old)
    assert states["a"] == "success" and states["b"] in ("none", "scheduled", "queued")

    path.write_text(SOURCE.format(body=V2))
    os.utime(path, (time.time() + 5, time.time() + 5))
    app.parse()
    versions = app.store.list_dag_versions("evolving")
    assert [v.version_number for v in versions] == [1, 2]
    assert "def c(x)" in (versions[1].source_code or "")

    finished = app.wait(old)
    new = app.wait(app.trigger("evolving", run_id="new"))

    assert finished.state == "success"
    assert app.task_states(finished) == {"a": "success", "b": "success"}
    assert app.xcom(finished, "b") == "a1+b"  # `b` exists only in version 1's code
    assert new.dag_version_id == versions[1].id
    assert app.task_states(new) == {"a": "success", "c": "success"}
    assert app.xcom(new, "c") == "a2+c"


def _edited_mid_run(app: Slipstream, path: Path) -> DagRun:
    """Run "old" on version 1, with the file changing to version 2 after its first task."""
    path.write_text(SOURCE.format(body=V1))
    app.parse()
    app.store.set_dag_paused("evolving", False)
    old = app.trigger("evolving", run_id="old")
    app.start()
    app.scheduler.start_run(old)
    for _ in range(20):  # run `a` only
        app.scheduler.tick()
        if app.task_states(old)["a"] == "success":
            break
    path.write_text(SOURCE.format(body=V2))
    os.utime(path, (time.time() + 5, time.time() + 5))
    app.parse()
    return app.wait(old)


def _state(app: Slipstream, run: DagRun, task_id: str) -> str | None:
    ti = app.store.get_task_instance(
        TaskInstanceRef(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id)
    )
    return ti.state.value if ti is not None else None


def test_clearing_an_old_run_reruns_its_own_version(make_app: MakeApp, tmp_path: Path) -> None:
    path = tmp_path / "home" / "dags" / "evolving.py"
    path.parent.mkdir(parents=True)
    app = make_app(executor="local", **{"core.dags_folder": str(path.parent)})
    old = _edited_mid_run(app, path)
    v1, v2 = app.store.list_dag_versions("evolving")

    result = app.clear(old, task_ids=["a"], include_downstream=True)
    rerun = app.wait(old, timeout=60)

    assert sorted(ti.task_id for ti in result.cleared) == ["a", "b"]
    assert result.added == () and result.removed == ()
    assert rerun.state == "success" and rerun.dag_version_id == v1.id
    assert app.task_states(rerun) == {"a": "success", "b": "success"}
    # The file now says `return "a2"`: "a1" is version 1's code, run again.
    assert app.xcom(rerun, "a") == "a1"
    assert app.xcom(rerun, "b") == "a1+b"
    assert app.xcom(app.wait(app.trigger("evolving", run_id="new")), "a") == "a2"
    assert v2.version_number == 2


def test_clearing_with_the_latest_version_moves_the_run_to_it(
    make_app: MakeApp, tmp_path: Path
) -> None:
    path = tmp_path / "home" / "dags" / "evolving.py"
    path.parent.mkdir(parents=True)
    app = make_app(**{"core.dags_folder": str(path.parent)})
    old = _edited_mid_run(app, path)
    v1, v2 = app.store.list_dag_versions("evolving")
    assert old.dag_version_id == v1.id and app.xcom(old, "b") == "a1+b"

    preview = clear_task_instances(
        app.store,
        "evolving",
        run_ids=["old"],
        task_ids=["a"],
        use_latest_version=True,
        dry_run=True,
    )
    unchanged = app.store.get_dag_run("evolving", "old")
    result = app.clear(old, task_ids=["a"], use_latest_version=True)
    rerun = app.wait(old)

    assert [ti.task_id for ti in preview.cleared] == ["a"]
    assert preview.added == (("old", "c"),) and [ti.task_id for ti in preview.removed] == ["b"]
    assert unchanged == old  # a dry run writes nothing
    assert (result.added, [ti.task_id for ti in result.removed]) == (
        preview.added,
        ["b"],
    )
    assert rerun.state == "success" and rerun.dag_version_id == v2.id
    assert app.task_states(rerun) == {"a": "success", "c": "success"}
    assert _state(app, rerun, "b") == "removed"  # not in version 2
    assert app.xcom(rerun, "a") == "a2"  # version 2's code
    assert app.xcom(rerun, "c") == "a2+c"  # a task only version 2 has, run in the old run


def test_a_task_the_runs_version_lacks_is_removed_not_waited_for(
    make_app: MakeApp, tmp_path: Path
) -> None:
    folder = tmp_path / "home" / "dags"
    folder.mkdir(parents=True)
    path = folder / "evolving.py"
    path.write_text(SOURCE.format(body=V1))
    app = make_app(**{"core.dags_folder": str(folder)})
    app.parse()
    run = app.trigger("evolving", run_id="moved")
    app.start()
    app.scheduler.start_run(run)  # task instances for `a` and `b`, both waiting
    path.write_text(SOURCE.format(body=V2))
    os.utime(path, (time.time() + 5, time.time() + 5))
    app.parse()
    latest = app.store.get_dag_version("evolving")
    assert latest is not None and latest.version_number == 2

    app.store.set_dag_run_version("evolving", "moved", latest.id)
    done = app.wait(run)

    assert done.state == "success"
    assert _state(app, done, "a") == "success"
    assert _state(app, done, "b") == "removed"


def test_clearing_an_unknown_dag_or_run_changes_nothing(make_app: MakeApp, tmp_path: Path) -> None:
    path = tmp_path / "home" / "dags" / "evolving.py"
    path.parent.mkdir(parents=True)
    app = make_app(**{"core.dags_folder": str(path.parent)})
    old = _edited_mid_run(app, path)
    before = app.store.list_task_instances(dag_ids=["evolving"], limit=None).items

    with pytest.raises(NotFoundError, match="DAG 'nope' not found"):
        clear_task_instances(app.store, "nope", use_latest_version=True)
    with pytest.raises(NotFoundError, match="no run missing of DAG 'evolving'"):
        clear_task_instances(
            app.store, "evolving", run_ids=["old", "missing"], use_latest_version=True
        )

    assert app.store.get_dag_run("evolving", "old") == old
    assert app.store.list_task_instances(dag_ids=["evolving"], limit=None).items == before


def test_a_corrupt_or_missing_file_mid_run_does_not_stop_the_run(
    make_app: MakeApp, tmp_path: Path
) -> None:
    folder = tmp_path / "home" / "dags"
    folder.mkdir(parents=True)
    path = folder / "evolving.py"
    path.write_text(SOURCE.format(body=V1))
    app = make_app(**{"core.dags_folder": str(folder)})
    app.parse()
    first = app.trigger("evolving", run_id="first")
    second = app.trigger("evolving", run_id="second")

    path.write_text("from slipstream import DAG\ndef half_saved(:\n")
    os.utime(path, (time.time() + 5, time.time() + 5))
    app.parse()
    broken = app.store.list_import_errors().items
    done = app.wait(first)
    path.unlink()
    app.parse()
    gone = app.wait(second)

    assert len(broken) == 1 and "SyntaxError" in broken[0].stacktrace
    assert done.state == "success" and app.xcom(done, "b") == "a1+b"
    assert gone.state == "success" and app.xcom(gone, "b") == "a1+b"
    assert app.store.get_dag("evolving").is_active is False  # type: ignore[union-attr]


def test_versions_and_parse_report_from_the_cli(make_app: MakeApp, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    folder = tmp_path / "home" / "dags"
    folder.mkdir(parents=True)
    path = folder / "evolving.py"
    path.write_text(SOURCE.format(body=V1))
    app = make_app(**{"core.dags_folder": str(folder)})
    app.parse()
    path.write_text(SOURCE.format(body=V2))
    os.utime(path, (time.time() + 5, time.time() + 5))
    app.parse()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPSTREAM")}
    env.update(
        {
            "SLIPSTREAM_HOME": str(tmp_path / "home"),
            "SLIPSTREAM__CORE__METADATA": str(app.config["core.metadata"]),
            "SLIPSTREAM__CORE__DAGS_FOLDER": str(folder),
        }
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "slipstream", *args], env=env, capture_output=True, text=True
        )

    versions = cli("dags", "versions", "evolving", "-o", "json")
    report = cli("dags", "report", "-o", "json")
    missing = cli("dags", "versions", "nope")

    assert versions.returncode == 0, versions.stderr
    assert [(v["version_number"], v["tasks"]) for v in json.loads(versions.stdout)] == [
        (1, 2),
        (2, 2),
    ]
    parsed = json.loads(report.stdout)
    assert parsed[0]["file"] == str(path.resolve()) and parsed[0]["dags"] == ["evolving"]
    assert missing.returncode == 1 and "DAG 'nope'" in missing.stderr


def test_a_snapshot_of_an_older_version_is_not_queued(make_app: MakeApp) -> None:
    """This scheduler has a task instance waiting, scheduled on version 1, in its own
    queue. Meanwhile it is cleared onto version 2 and scheduled again elsewhere (by
    another scheduler). This scheduler must not queue it from its old snapshot — it
    would run version 1's code — but from the store's, on version 2."""
    from datetime import UTC, datetime

    from slipstream import DAG
    from slipstream.metadata.records import TaskInstanceUpdate
    from slipstream.operators.empty import EmptyOperator
    from slipstream.state import TaskInstanceState as TIS

    start = datetime(2024, 1, 1, tzinfo=UTC)
    with DAG("versioned", schedule=None, start_date=start) as first:
        EmptyOperator(task_id="t", pool="held")
    with DAG("versioned", schedule=None, start_date=start, doc_md="two") as second:
        EmptyOperator(task_id="t", pool="held")
    app = make_app(first)
    app.store.set_pool("held", 0)  # t waits, scheduled, in the scheduler's queue
    run = app.trigger("versioned")
    app.start()
    app.scheduler.tick()
    waiting = app.store.get_task_instance(
        TaskInstanceRef(dag_id="versioned", run_id=run.run_id, task_id="t")
    )
    assert waiting is not None and waiting.state == TIS.SCHEDULED
    assert len(app.scheduler.scheduled) == 1

    make_app(second)  # another process registers version 2
    v1, v2 = app.store.list_dag_versions("versioned")
    assert waiting.dag_version_id == v1.id
    cleared = TaskInstanceUpdate(
        ti_id=waiting.id,
        state=TIS.NONE,
        expected_state=TIS.SCHEDULED,
        by_user=True,
        fields={"dag_version_id": v2.id},
    )
    rescheduled = TaskInstanceUpdate(ti_id=waiting.id, state=TIS.SCHEDULED)
    assert app.store.update_task_instances([cleared]) == [True]
    assert app.store.update_task_instances([rescheduled]) == [True]

    app.store.set_pool("held", 1)
    app.scheduler.poll_interval = 3600.0  # the next tick is not a full pass
    app.scheduler.tick()  # it tries its own snapshot (version 1): refused
    after = app.store.get_task_instance(waiting.ref)
    assert after is not None and after.state == TIS.SCHEDULED

    app.scheduler.poll_interval = 0.01  # a full pass reads version 2's snapshot
    done = app.wait(run, timeout=30)
    assert done.state == "success"
    final = app.store.get_task_instance(waiting.ref)
    assert final is not None and final.dag_version_id == v2.id and final.try_number == 1
