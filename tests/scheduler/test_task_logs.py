"""Task logs: one file per try, readable while it runs; a full disk is a clear error."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from slipstream import DAG, task

if TYPE_CHECKING:
    from conftest import MakeApp

START = datetime(2024, 1, 1, tzinfo=UTC)


def test_a_log_is_readable_while_the_try_runs(make_app: MakeApp, tmp_path: Path) -> None:
    release = tmp_path / "release"

    with DAG("talky", start_date=START) as dag:

        @task
        def talk() -> None:
            print("first line")
            while not release.exists():
                time.sleep(0.05)
            print("last line")

        talk()

    app = make_app(dag, executor="local")
    run = app.trigger("talky", run_id="r")
    app.start()
    app.scheduler.start_run(run)
    log = (
        tmp_path / "home" / "logs" / "dag_id=talky" / "run_id=r" / "task_id=talk" / "attempt=1.log"
    )
    deadline = time.monotonic() + 30
    while not (log.exists() and "first line" in log.read_text()):
        app.scheduler.tick()
        assert time.monotonic() < deadline, "the first line never reached the log"
        time.sleep(0.05)
    assert "last line" not in log.read_text()

    release.write_text("go")
    assert app.wait(run).state == "success"
    assert "last line" in log.read_text()


def test_a_full_disk_for_logs_fails_the_try_with_a_clear_error(
    make_app: MakeApp, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with DAG("no_space", start_date=START) as dag:

        @task(retries=0)
        def chatty() -> None:
            print("x" * 10_000)

        chatty()

    folder = tmp_path / "home" / "logs" / "dag_id=no_space" / "run_id=r" / "task_id=chatty"
    folder.mkdir(parents=True)
    (folder / "attempt=1.log").symlink_to("/dev/full")  # every write: ENOSPC
    app = make_app(dag)

    with caplog.at_level(logging.ERROR):
        run = app.wait(app.trigger("no_space", run_id="r"))

    assert app.task_states(run) == {"chatty": "failed"}
    assert "cannot write the task log" in caplog.text
    assert "No space left on device" in caplog.text
