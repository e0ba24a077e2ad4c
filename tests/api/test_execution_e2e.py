"""A remote worker with no database runs tries end to end through a real API server.

The test process plays the scheduler, with an executor that asks for task tokens
(as the Celery and Kubernetes ones will) and hands each workload to a real
``slipstream tasks run --workload ...`` subprocess. That worker's configuration
points the metadata database at a path that cannot exist and its own log folder
elsewhere: everything it reads and writes goes through ``slipstream api-server``
(a subprocess on a free port), and the log ends up in the server's log folder.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from slipstream.executors.base import Executor, ExecutorEvent, Workload
from slipstream.metadata.records import Connection, TaskInstanceRef
from slipstream.plugins import ExecutorSpec, hookimpl
from slipstream.runtime import Slipstream

DAG_FILE = """
    from datetime import datetime

    from slipstream import DAG, Connection, Variable, task

    with DAG("remote_etl", start_date=datetime(2026, 1, 1), schedule=None) as dag:

        @task
        def extract():
            print("extracting three rows")
            return [1, 2, 3]

        @task
        def load(rows, ti=None):
            conn = Connection.get("warehouse")
            greeting = Variable.get("greeting")
            print(f"{greeting}: loading {rows} into {conn.host} as {conn.login}:{conn.password}")
            ti.xcom_push("loaded_to", conn.host)
            return sum(rows)

        @task
        def explode():
            print("about to explode")
            raise RuntimeError("boom from a remote worker")

        load(extract())
        explode()
"""
NO_DATABASE = "sqlite:////nonexistent-slipstream-dir/never/metadata.db"


class RemoteExecutor(Executor):
    """Keeps submitted workloads for the test to hand to worker processes."""

    is_local = False
    needs_task_token = True

    def __init__(self) -> None:
        self.submitted: deque[Workload] = deque()
        self.events: list[ExecutorEvent] = []

    def submit(self, workload: Workload) -> None:
        self.submitted.append(workload)

    def sync(self) -> list[ExecutorEvent]:
        events, self.events = self.events, []
        return events

    def open_slots(self) -> int:
        return 8

    def cancel(self, key: Any) -> None:
        pass


class RemotePlugin:
    executor = RemoteExecutor()

    @hookimpl
    def slipstream_executors(self) -> Iterator[ExecutorSpec]:
        yield ExecutorSpec(name="remote", factory=lambda _: self.executor)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _environ(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPSTREAM")}
    return {**env, "SLIPSTREAM__CORE__LOAD_EXAMPLES": "false", **settings}


@pytest.fixture
def api_server(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """The project home (store, DAGs, logs) and the URL of an API server serving it."""
    home = tmp_path / "home"
    (home / "dags").mkdir(parents=True)
    (home / "dags" / "remote_etl.py").write_text(textwrap.dedent(DAG_FILE))
    subprocess.run(
        [sys.executable, "-m", "slipstream", "db", "migrate"],
        env=_environ(SLIPSTREAM_HOME=str(home)),
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "slipstream", "api-server", "--port", str(port)],
        env=_environ(SLIPSTREAM_HOME=str(home)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                errors = server.stderr.read() if server.stderr else ""
                pytest.fail(f"the API server stopped: {errors}")
            try:
                if httpx.get(f"{url}/api/v2/monitor/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the API server did not answer within 60 s")
            time.sleep(0.1)
        yield home, url
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _work(workload: Workload, worker_home: Path, api_url: str) -> tuple[dict[str, Any], Any]:
    """``slipstream tasks run`` as a remote worker: DAG files, the API URL, no database."""
    result = subprocess.run(
        [sys.executable, "-m", "slipstream", "tasks", "run", "--workload", workload.to_json()],
        env=_environ(
            SLIPSTREAM_HOME=str(worker_home),
            SLIPSTREAM__CORE__METADATA=NO_DATABASE,
            SLIPSTREAM__CORE__DAGS_FOLDER=str(worker_home.parent / "home" / "dags"),
            SLIPSTREAM__LOGGING__BASE_LOG_FOLDER=str(worker_home / "logs"),
            SLIPSTREAM__CORE__EXECUTION_API_URL=f"{api_url}/execution",
            SLIPSTREAM__SCHEDULER__TASK_HEARTBEAT_INTERVAL="0.2",
        ),
        cwd=worker_home,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = result.stdout.strip().splitlines()
    assert lines, result.stderr
    return json.loads(lines[-1]), result


def _scheduler(home: Path, plugin: RemotePlugin) -> Slipstream:
    """The test process as the scheduler, on the server's home, with the remote executor."""
    return Slipstream(
        {"core.executor": "remote", "scheduler.poll_interval": 0.05},
        plugins=[plugin],
        load_entrypoints=False,
        environ={"SLIPSTREAM_HOME": str(home), "SLIPSTREAM__CORE__LOAD_EXAMPLES": "false"},
        migrate=False,
    )


def test_a_worker_without_a_database_runs_tries_through_the_api(
    api_server: tuple[Path, str],
) -> None:
    home, url = api_server
    worker_home = home.parent / "worker"
    worker_home.mkdir()
    plugin = RemotePlugin()
    app = _scheduler(home, plugin)
    reports: dict[str, tuple[dict[str, Any], Any]] = {}
    tokens: dict[str, str] = {}
    try:
        app.store.set_variable("greeting", "hello")
        app.store.set_connection(
            Connection(
                conn_id="warehouse",
                conn_type="postgres",
                host="dw.example",
                login="etl",
                password="s3cret",
            )
        )
        assert app.parse() == ["remote_etl"]
        run = app.trigger("remote_etl", run_id="r1")
        app.start()
        app.scheduler.start_run(run)
        deadline = time.monotonic() + 180
        while not app.store.get_dag_run("remote_etl", "r1").state.finished:  # type: ignore[union-attr]
            assert time.monotonic() < deadline, app.task_states(run)
            app.scheduler.tick()
            while plugin.executor.submitted:
                workload = plugin.executor.submitted.popleft()
                assert workload.token, "a remote executor's workloads carry a task token"
                tokens[workload.key.task_id] = workload.token
                report, result = _work(workload, worker_home, url)
                reports[workload.key.task_id] = (report, result)
                plugin.executor.events.append(
                    ExecutorEvent(key=workload.key, state=report["state"], outcome=report)
                )
            time.sleep(0.05)
        final = app.store.get_dag_run("remote_etl", "r1")
        states = app.task_states(run)
        load_ref = TaskInstanceRef(dag_id="remote_etl", run_id="r1", task_id="load")
        loaded = app.store.get_xcom(load_ref, "return_value")
        loaded_to = app.store.get_xcom(load_ref, "loaded_to")
        tis = app.store.list_task_instances(dag_ids=["remote_etl"], limit=None).items
    finally:
        app.close()

    assert states == {"extract": "success", "load": "success", "explode": "failed"}
    assert final is not None and final.state == "failed"
    ok, result = reports["load"]
    assert result.returncode == 0, result.stderr
    assert ok["state"] == "success" and ok["recorded"] is True
    failed, result = reports["explode"]
    assert result.returncode == 1
    assert failed["state"] == "failed"
    assert failed["error"] == "RuntimeError: boom from a remote worker"
    assert loaded is not None and loaded.value == 6
    assert loaded_to is not None and loaded_to.value == "dw.example"
    assert all(ti.hostname == socket.gethostname() and ti.pid for ti in tis)

    logs = home / "logs" / "dag_id=remote_etl" / "run_id=r1"
    load_log = (logs / "task_id=load" / "attempt=1.log").read_text()
    assert "hello: loading [1, 2, 3] into dw.example as etl:s3cret" in load_log
    assert "Marking task as SUCCESS" in load_log
    assert "extracting three rows" in (logs / "task_id=extract" / "attempt=1.log").read_text()
    explode_log = (logs / "task_id=explode" / "attempt=1.log").read_text()
    assert "about to explode" in explode_log
    assert "Traceback" in explode_log and "RuntimeError: boom from a remote worker" in explode_log
    assert "Marking task as FAILED" in explode_log

    # The worker never had a database: nothing was created where its settings point,
    # and nothing was written under its own home (its log folder stayed empty).
    assert not Path(NO_DATABASE.removeprefix("sqlite:///")).parent.exists()
    assert sorted(p.name for p in worker_home.iterdir()) == []
    for task_id, token in tokens.items():  # the credential is never printed
        assert token not in reports[task_id][1].stdout + reports[task_id][1].stderr


VERSIONED = """
    from datetime import datetime

    from slipstream import DAG, task

    with DAG("versioned_remote", start_date=datetime(2026, 1, 1), schedule=None) as dag:

        @task
        def which():
            print("running {name}")
            return "{name}"

        which()
        {extra}
"""


def test_a_remote_worker_runs_the_tries_own_version_when_its_file_moved_on(
    api_server: tuple[Path, str],
) -> None:
    """The run started on version 1; by the time the worker runs its try, the DAG
    file says version 2. The worker gets version 1's code through the API and runs
    it, as a local worker would (every run keeps the DAG it started with)."""
    home, url = api_server
    worker_home = home.parent / "worker"
    worker_home.mkdir()
    dag_file = home / "dags" / "versioned_remote.py"
    dag_file.write_text(textwrap.dedent(VERSIONED.format(name="v1", extra="")))
    plugin = RemotePlugin()
    app = _scheduler(home, plugin)
    try:
        assert "versioned_remote" in app.parse()
        run = app.trigger("versioned_remote", run_id="r1")
        app.start()
        app.scheduler.start_run(run)
        deadline = time.monotonic() + 60
        while not plugin.executor.submitted:
            assert time.monotonic() < deadline
            app.scheduler.tick()
            time.sleep(0.05)
        workload = plugin.executor.submitted.popleft()

        v2 = VERSIONED.format(name="v2", extra="which.override(task_id='added')()")
        dag_file.write_text(textwrap.dedent(v2))  # moved on, with one more task
        later = time.time() + 5  # the same size: a new mtime says it changed
        os.utime(dag_file, (later, later))
        app.parse()
        versions = app.store.list_dag_versions("versioned_remote")
        report, result = _work(workload, worker_home, url)
        ref = TaskInstanceRef(dag_id="versioned_remote", run_id="r1", task_id="which")
        returned = app.store.get_xcom(ref, "return_value")
        ti = app.store.get_task_instance(ref)
    finally:
        app.close()

    assert [v.version_number for v in versions] == [1, 2]
    assert result.returncode == 0, result.stderr
    assert report["state"] == "success" and report["recorded"] is True
    assert returned is not None and returned.value == "v1"  # version 1's code ran
    assert ti is not None and ti.dag_version_id == versions[0].id
    log = home / "logs" / "dag_id=versioned_remote" / "run_id=r1" / "task_id=which"
    text = (log / "attempt=1.log").read_text()
    assert "running v1" in text and "running v2" not in text
    assert "running its stored code" in text
