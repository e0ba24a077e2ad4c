"""A run keeps the DAG it started with, even when the file changes under it."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

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
