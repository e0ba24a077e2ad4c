"""Crashes lose nothing: a killed worker's try is retried, a killed scheduler's run is
finished by its successor, and two schedulers run every try exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from slipstream import DAG, task
from slipstream.metadata.records import TaskInstanceRef
from slipstream.runtime import Slipstream
from slipstream.state import TaskInstanceState

if TYPE_CHECKING:
    from conftest import MakeApp

START = datetime(2024, 1, 1, tzinfo=UTC)


def wait_for(condition: Callable[[], bool], timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_killed_worker_is_detected_and_retried(make_app: MakeApp, tmp_path: Path) -> None:
    pid_file, marker = tmp_path / "pid", tmp_path / "second-try"

    with DAG("victim", start_date=START) as dag:

        @task(retries=1, retry_delay=0)
        def long_job() -> str:
            if marker.exists():
                return "second try"
            marker.write_text("x")
            pid_file.write_text(str(os.getpid()))
            time.sleep(60)
            return "never"

        long_job()

    app = make_app(dag, executor="local")
    run = app.trigger("victim")
    app.start()
    app.scheduler.start_run(run)
    wait_for(
        lambda: app.scheduler.tick() is not None and pid_file.exists(), what="the try to start"
    )
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    final = app.wait(run, timeout=30)

    assert final.state == "success"
    tries = app.store.list_task_instance_tries(
        TaskInstanceRef(dag_id="victim", run_id=run.run_id, task_id="long_job")
    )
    assert [(t.try_number, t.state) for t in tries] == [
        (1, TaskInstanceState.UP_FOR_RETRY),
        (2, TaskInstanceState.SUCCESS),
    ]
    assert app.xcom(final, "long_job") == "second try"


def test_a_silent_try_is_reaped(make_app: MakeApp) -> None:
    """A running try whose heartbeats stopped (its machine vanished) is failed."""
    with DAG("silent", start_date=START) as dag:

        @task(retries=0)
        def work() -> None:
            return None

        work()

    app = make_app(dag, **{"scheduler.task_heartbeat_timeout": 0.2})
    run = app.trigger("silent")
    app.store.set_dag_paused("silent", False)
    app.start()
    app.scheduler.start_run(run)
    ti = app.store.list_task_instances(dag_ids=["silent"], limit=None).items[0]
    # Pretend a worker took it and died: queued, then running, with an old heartbeat.
    from slipstream.metadata.records import TaskInstanceUpdate

    old = datetime(2020, 1, 1, tzinfo=UTC)
    app.store.update_task_instances(
        [
            TaskInstanceUpdate(ti_id=ti.id, state=TaskInstanceState.SCHEDULED),
            TaskInstanceUpdate(
                ti_id=ti.id, state=TaskInstanceState.QUEUED, fields={"try_number": 1}
            ),
            TaskInstanceUpdate(
                ti_id=ti.id,
                state=TaskInstanceState.RUNNING,
                fields={"last_heartbeat_at": old, "start_date": old},
            ),
        ]
    )
    app.scheduler.reap(datetime.now(UTC))

    reaped = app.store.get_task_instance(ti.ref)
    assert reaped is not None and reaped.state == TaskInstanceState.FAILED


# -- whole processes ----------------------------------------------------------------------

DAG_FILE = """
from datetime import datetime, timezone
import os, time
from slipstream import DAG, task

LOG = {log!r}

def record(name):
    with open(LOG, "a") as fh:
        fh.write(f"{{name}} {{os.getpid()}}\\n")

with DAG("{dag_id}", start_date=datetime(2024, 1, 1, tzinfo=timezone.utc)) as dag:
    @task
    def slow():
        record("slow start")
        time.sleep({sleep})
        record("slow end")

    @task
    def fan(i):
        record(f"fan {{i}}")
        return i

    @task
    def last(values):
        record(f"last {{sum(values)}}")

    slow() >> last(fan.expand(i=list(range({width}))))
"""


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def project(
    tmp_path: Path, store_url: str, dag_id: str, *, sleep: float, width: int
) -> tuple[dict[str, str], Path]:
    dags = tmp_path / "dags"
    dags.mkdir(exist_ok=True)
    log = tmp_path / f"{dag_id}.log"
    (dags / f"{dag_id}.py").write_text(
        textwrap.dedent(DAG_FILE.format(log=str(log), dag_id=dag_id, sleep=sleep, width=width))
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPSTREAM")}
    env.update(
        {
            "SLIPSTREAM_HOME": str(tmp_path),
            "SLIPSTREAM__CORE__METADATA": store_url,
            "SLIPSTREAM__CORE__DAGS_FOLDER": str(dags),
            "SLIPSTREAM__CORE__LOAD_EXAMPLES": "false",
            "SLIPSTREAM__CORE__PARALLELISM": "8",
            "SLIPSTREAM__SCHEDULER__POLL_INTERVAL": "0.1",
            "SLIPSTREAM__SCHEDULER__TASK_HEARTBEAT_INTERVAL": "0.2",
            "SLIPSTREAM__SCHEDULER__SCHEDULER_HEARTBEAT_TIMEOUT": "2",
        }
    )
    return env, log


def processes_of(home: Path) -> list[int]:
    """Processes whose environment names this test's home (schedulers and their zygotes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if f"SLIPSTREAM_HOME={home}".encode() in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def embedded(env: dict[str, str]) -> Slipstream:
    return Slipstream(environ=env, migrate=True)


def start_scheduler(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "slipstream", "scheduler"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run_state(app: Slipstream, dag_id: str, run_id: str) -> str:
    run = app.store.get_dag_run(dag_id, run_id)
    return run.state.value if run else "gone"


def test_a_killed_scheduler_is_replaced_and_no_try_runs_twice(
    store_url: str, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    env, log = project(tmp_path, store_url, "crashy", sleep=1.5, width=5)
    with embedded(env) as app:
        app.parse()
        app.store.set_dag_paused("crashy", False)
        run = app.trigger("crashy")
        processes.append(start_scheduler(env))
        wait_for(lambda: log.exists() and "slow start" in log.read_text(), what="slow to start")
        processes[0].send_signal(signal.SIGKILL)
        processes[0].wait(10)
        orphans = set(processes_of(tmp_path))  # the dead scheduler's zygote and its forks
        processes.append(start_scheduler(env))
        wait_for(
            lambda: run_state(app, "crashy", run.run_id) == "success",
            timeout=60,
            what="the run to finish",
        )
        states = app.task_states(run)
        # The dead scheduler's zygote (and its spare forks) left once its try ended.
        wait_for(
            lambda: not orphans & set(processes_of(tmp_path)),
            timeout=20,
            what="the old zygote to exit",
        )

    assert set(states.values()) == {"success"}
    lines = Counter(line.rsplit(" ", 1)[0] for line in log.read_text().splitlines())
    assert lines == Counter(
        {"slow start": 1, "slow end": 1, **{f"fan {i}": 1 for i in range(5)}, "last 10": 1}
    )


def test_two_schedulers_run_every_try_exactly_once(
    ha_store_url: str, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    width, dag_ids = 60, [f"ha_{i}" for i in range(4)]
    env: dict[str, str] = {}
    logs: list[Path] = []
    for dag_id in dag_ids:
        env, log = project(tmp_path, ha_store_url, dag_id, sleep=0, width=width)
        logs.append(log)
    with embedded(env) as app:
        app.parse()
        runs = []
        for dag_id in dag_ids:
            app.store.set_dag_paused(dag_id, False)
            runs.append(app.trigger(dag_id))
        processes.extend([start_scheduler(env), start_scheduler(env)])
        wait_for(
            lambda: all(run_state(app, r.dag_id, r.run_id) == "success" for r in runs),
            timeout=240,
            what="every run to finish",
        )
        pids = {
            ti.lease_owner.split(":")[1]
            for r in runs
            for ti in app.store.list_task_instances(
                dag_ids=[r.dag_id], run_ids=[r.run_id], limit=None
            ).items
            if ti.lease_owner
        }

    total = 0
    for log in logs:
        lines = Counter(line.rsplit(" ", 1)[0] for line in log.read_text().splitlines())
        assert all(n == 1 for n in lines.values()), lines.most_common(3)
        assert len(lines) == width + 3
        total += sum(lines.values())
    assert total == len(dag_ids) * (width + 3)
    assert len(pids) == 2, "both schedulers should have queued tries"
