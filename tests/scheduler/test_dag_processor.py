"""The dag processor keeps the store in step with the DAG files: new, changed, broken
and deleted files, versions written only when a DAG changes."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from slipstream.dag_processing.processor import DagProcessor

if TYPE_CHECKING:
    from conftest import MakeApp

DAG_TEMPLATE = """
from datetime import datetime
from slipstream import DAG
from slipstream.operators.empty import EmptyOperator

with DAG("{dag_id}", start_date=datetime(2024, 1, 1), tags={tags!r}) as dag:
{tasks}
"""


def write_dag(folder: Path, dag_id: str, tasks: list[str], tags: list[str] | None = None) -> Path:
    body = "\n".join(f"    EmptyOperator(task_id={t!r})" for t in tasks)
    path = folder / f"{dag_id}.py"
    path.write_text(DAG_TEMPLATE.format(dag_id=dag_id, tasks=body, tags=tags or []))
    return path


def processor(app: object, folder: Path) -> DagProcessor:
    return DagProcessor(
        app.store,  # type: ignore[attr-defined]
        dags_folder=folder,
        timeout=5,
        refresh_interval=3600,
    )


def test_new_changed_broken_and_deleted_files(make_app: MakeApp, tmp_path: Path) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    app = make_app()
    proc = processor(app, folder)
    first = write_dag(folder, "etl", ["a", "b"], tags=["x"])

    report = proc.sync()
    assert report.dag_ids == ("etl",)
    dag = app.store.get_dag("etl")
    assert dag is not None and dag.is_active and dag.is_paused and dag.tags == ("x",)
    assert [v.version_number for v in app.store.list_dag_versions("etl")] == [1]
    assert "EmptyOperator(task_id='a')" in (app.store.get_dag_version("etl").source_code or "")  # type: ignore[union-attr]

    # Nothing changed: nothing is parsed, no version is written.
    assert proc.sync().parsed == ()
    # Saved again with the same bytes: not re-imported either.
    os.utime(first, (time.time() + 5, time.time() + 5))
    assert proc.sync().parsed == ()

    # A task added: a second version.
    write_dag(folder, "etl", ["a", "b", "c"], tags=["x"])
    os.utime(first, (time.time() + 10, time.time() + 10))
    assert proc.sync().parsed == (str(first.resolve()),)
    versions = app.store.list_dag_versions("etl")
    assert [v.version_number for v in versions] == [1, 2]
    assert [t["task_id"] for t in versions[1].serialized["tasks"]] == ["a", "b", "c"]

    # The file breaks: an import error, and the DAG keeps its last good version.
    first.write_text("from slipstream import DAG\nraise RuntimeError('half-written file')\n")
    proc.sync()
    errors = app.store.list_import_errors().items
    assert len(errors) == 1
    assert errors[0].filename == str(first.resolve())
    assert "RuntimeError: half-written file" in errors[0].stacktrace
    assert len(app.store.list_dag_versions("etl")) == 2

    # Fixed again: the error goes away.
    write_dag(folder, "etl", ["a", "b", "c"], tags=["x"])
    proc.sync()
    assert app.store.list_import_errors().total == 0

    # Deleted: the DAG becomes inactive.
    first.unlink()
    report = proc.sync()
    assert report.deactivated == ("etl",)
    assert app.store.get_dag("etl").is_active is False  # type: ignore[union-attr]


def test_a_hanging_file_does_not_stop_the_others(make_app: MakeApp, tmp_path: Path) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "hang.py").write_text("# slipstream dag\nimport time\ntime.sleep(60)\n")
    write_dag(folder, "fine", ["t"])
    app = make_app()
    proc = DagProcessor(app.store, dags_folder=folder, timeout=1, refresh_interval=3600)

    started = time.monotonic()
    report = proc.sync()

    assert time.monotonic() - started < 10
    assert report.dag_ids == ("fine",)
    error = app.store.list_import_errors().items[0]
    assert "importing took longer than 1s" in error.stacktrace


def test_parse_timings_are_recorded(make_app: MakeApp, tmp_path: Path) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    write_dag(folder, "one", ["t"])
    (folder / "slow.py").write_text(
        "import time\ntime.sleep(0.3)\n"
        + DAG_TEMPLATE.format(dag_id="two", tasks="    EmptyOperator(task_id='t')", tags=[])
    )
    app = make_app()
    processor(app, folder).sync()

    parses = app.store.list_file_parses()
    assert [Path(p.path).name for p in parses] == ["slow.py", "one.py"]
    assert parses[0].parse_duration >= 0.3
    assert parses[0].dag_ids == ("two",)


def test_files_that_start_or_stop_defining_dags_and_a_restarted_processor(
    make_app: MakeApp, tmp_path: Path
) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    helpers = folder / "helpers.py"
    helpers.write_text("VALUE = 1\n")  # not a DAG file (safe mode): never imported
    etl = write_dag(folder, "etl", ["a"])
    app = make_app()
    proc = processor(app, folder)

    first = proc.sync()
    idle = proc.sync()
    helpers.write_text(
        DAG_TEMPLATE.format(dag_id="late", tasks="    EmptyOperator(task_id='t')", tags=[])
    )
    os.utime(helpers, (time.time() + 5, time.time() + 5))
    became_dag_file = proc.sync()
    etl.write_text("VALUE = 2\n")
    os.utime(etl, (time.time() + 5, time.time() + 5))
    stopped = proc.sync()
    helpers.unlink()  # while no processor runs
    restarted = processor(app, folder).sync()

    assert first.parsed == (str(etl.resolve()),)
    assert idle.parsed == () and idle.deactivated == ()
    assert became_dag_file.dag_ids == ("late",)
    assert stopped.parsed == () and stopped.deactivated == ("etl",)
    assert restarted.deactivated == ("late",)
    assert [d.dag_id for d in app.store.list_dags(active=True).items] == []


def test_unchanged_files_are_refreshed_once_an_interval_not_all_at_once(
    make_app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files first parsed together are parsed again once per refresh_interval each, at
    moments spread over the interval: not in one long pass that a new file waits for."""
    import slipstream.dag_processing.processor as processor_module

    folder = tmp_path / "dags"
    folder.mkdir()
    for i in range(20):
        write_dag(folder, f"generated_{i}", ["a"])
    app = make_app()
    proc = DagProcessor(app.store, dags_folder=folder, timeout=5, refresh_interval=100)
    clock = [1_000_000.0]
    monkeypatch.setattr(processor_module.time, "time", lambda: clock[0])
    assert len(proc.sync().parsed) == 20

    passes: list[tuple[str, ...]] = []
    for _ in range(10):  # one interval, in ten passes
        clock[0] += 10
        passes.append(proc.sync().parsed)
    refreshed = [path for parsed in passes for path in parsed]
    assert sorted(refreshed) == sorted(str(p) for p in folder.glob("*.py"))  # each once
    assert max(len(parsed) for parsed in passes) < 15  # spread, not one burst

    again: list[str] = []
    for _ in range(10):  # the next interval: each file once again
        clock[0] += 10
        again.extend(proc.sync().parsed)
    assert sorted(again) == sorted(refreshed)
