"""Fixtures of the UI tests: a logged-in TestClient session per role (unit level), and a
real stack (api-server, scheduler, dag-processor in subprocesses) for the browser tests."""

from __future__ import annotations

import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from tests.api.conftest import PASSWORD, Api, api  # noqa: F401  (the ``api`` fixture)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def login(target: Api, role: str) -> str:
    """Log ``target.client`` in through the form as the user named ``role``; returns the
    session's CSRF secret (from the page's meta tag)."""
    target.client.cookies.clear()
    form = target.client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text
    response = target.client.post(
        "/login",
        data={"username": role, "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    page = target.client.get("/dags")
    found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


# -- the real stack ------------------------------------------------------------------------

STACK_DAGS = {
    "ui_params.py": '''
        """Greets someone a number of times: the browser tests trigger it with a param."""
        import time
        from datetime import datetime
        from slipstream import DAG, Param, task

        with DAG(
            "ui_params",
            schedule=None,
            start_date=datetime(2024, 1, 1),
            tags=["ui", "demo"],
            params={
                "name": Param("world", type="string", minLength=1, description="Who to greet"),
                "count": Param(2, type="integer", minimum=1, maximum=5),
                "color": Param("red", enum=["red", "green", "blue"]),
            },
            doc_md="# Greeter\\nSays **hello**. <script>alert(1)</script>",
        ) as dag:
            @task
            def greet(params=None):
                for i in range(params["count"]):
                    print(f"hello {params['name']} #{i}")
                time.sleep(1)
                return params["count"]

            @task
            def report(n):
                print(f"greeted {n} times")

            report(greet())
    ''',
    "ui_flaky.py": '''
        """Fails on its first try and succeeds once cleared (a marker file remembers)."""
        import os
        from datetime import datetime
        from pathlib import Path
        from slipstream import DAG, task

        with DAG("ui_flaky", schedule=None, start_date=datetime(2024, 1, 1), tags=["ui"]) as dag:
            @task
            def flaky():
                marker = Path(os.environ["SLIPSTREAM_HOME"]) / "flaky.marker"
                if not marker.exists():
                    marker.write_text("failed once")
                    raise RuntimeError("first try fails on purpose")
                print("second try succeeds")

            @task
            def after():
                print("after flaky")

            flaky() >> after()
    ''',
    "ui_wide.py": '''
        """200 tasks in 10 layers of 20: the grid and graph must stay readable."""
        from datetime import datetime
        from slipstream import DAG
        from slipstream.operators.empty import EmptyOperator

        with DAG("ui_wide", schedule=None, start_date=datetime(2024, 1, 1), tags=["big"]) as dag:
            layers = [
                [EmptyOperator(task_id=f"layer{l:02d}_task{i:02d}") for i in range(20)]
                for l in range(10)
            ]
            for upper, lower in zip(layers, layers[1:]):
                for i, task in enumerate(lower):
                    upper[i] >> task
                    upper[(i * 7 + 3) % 20] >> task
    ''',
    "broken.py": """
        from slipstream import DAG

        def broken(:
            pass
    """,
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@attrs.define
class Stack:
    home: Path
    url: str
    env: dict[str, str]
    runtime: Any  # an embedded Slipstream on the same store, for setup and checks
    processes: list[subprocess.Popen[bytes]] = attrs.field(factory=list)

    def wait_for(self, what: str, check: Any, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            for proc in self.processes:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args} exited with {proc.returncode}: {self.logs()}")
            try:
                found = check()
            except Exception:
                found = None
            if found:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}: {self.logs()}")
            time.sleep(0.2)

    def logs(self) -> str:
        out = []
        for log in sorted(self.home.glob("*.out")):
            out.append(f"--- {log.name}\n" + log.read_text(errors="replace")[-3000:])
        return "\n".join(out)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A slipstream home with DAG files, users, and the three services running."""
    from slipstream.api.auth.passwords import hash_password
    from slipstream.runtime import Slipstream

    home = tmp_path_factory.mktemp("ui-stack") / "home"
    dags = home / "dags"
    dags.mkdir(parents=True)
    for name, source in STACK_DAGS.items():
        (dags / name).write_text(textwrap.dedent(source))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPSTREAM")}
    env.update(
        SLIPSTREAM_HOME=str(home),
        SLIPSTREAM__CORE__EXECUTOR="local",
        SLIPSTREAM__CORE__LOAD_EXAMPLES="false",
        SLIPSTREAM__CORE__DAGS_ARE_PAUSED_AT_CREATION="true",
        SLIPSTREAM__SCHEDULER__POLL_INTERVAL="0.2",
        SLIPSTREAM__DAG_PROCESSOR__SCAN_INTERVAL="1",
        SLIPSTREAM__API__PORT=str(port),
    )
    runtime = Slipstream(
        {"core.executor": "sequential", "core.load_examples": False},
        environ={"SLIPSTREAM_HOME": str(home)},
    )
    password_hash = hash_password(PASSWORD)
    for role in ("admin", "viewer"):
        runtime.store.create_user(role, role=role, password_hash=password_hash)
    result = Stack(home=home, url=f"http://127.0.0.1:{port}", env=env, runtime=runtime)
    try:
        for name in ("dag-processor", "scheduler", "api-server"):
            out = (home / f"{name}.out").open("wb")
            result.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "slipstream", name],
                    env=env,
                    cwd=home,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        result.wait_for(
            "the API server",
            lambda: httpx.get(f"{result.url}/api/v2/monitor/health", timeout=1).status_code == 200,
        )
        result.wait_for(
            "the DAG files to be parsed",
            lambda: (
                runtime.store.get_dag_version("ui_wide")
                and runtime.store.list_import_errors().total
            ),
        )
        yield result
    finally:
        for proc in result.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in result.processes:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        runtime.close()


@pytest.fixture(scope="module")
def browser(chromium_executable: str, chromium_args: list[str]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_executable, args=chromium_args
        )
        yield launched
        launched.close()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


# -- DAGs for the unit-level tests ---------------------------------------------------------


def demo_dags() -> list[Any]:
    """``demo``: a param form and two tasks; ``flaky``: a failing task and a downstream one;
    ``wide``: 200 tasks in 10 layers."""
    from datetime import UTC, datetime

    from slipstream import DAG, Param
    from slipstream.operators.empty import EmptyOperator
    from slipstream.operators.python import PythonOperator

    start = datetime(2026, 1, 1, tzinfo=UTC)

    def hello() -> int:
        print("hello from the task log")
        return 42

    def boom() -> None:
        raise RuntimeError("boom on purpose")

    with DAG(
        "demo",
        schedule=None,
        start_date=start,
        tags=["demo"],
        params={
            "count": Param(2, type="integer", minimum=1, maximum=5),
            "color": Param("red", enum=["red", "green"]),
            "when": Param("2026-01-01", type="string", format="date"),
            "flag": Param(False, type="boolean"),
        },
        doc_md="# Title\n<script>alert('x')</script> with **bold** [link](javascript:alert(1))",
    ) as demo:
        first = PythonOperator(task_id="first", python_callable=hello)
        second = EmptyOperator(task_id="second")
        first >> second
    with DAG("flaky", schedule=None, start_date=start) as flaky:
        PythonOperator(task_id="fails", python_callable=boom) >> EmptyOperator(task_id="after")
    with DAG("wide", schedule=None, start_date=start) as wide:
        layers = [[EmptyOperator(task_id=f"l{j}_t{i:02d}") for i in range(20)] for j in range(10)]
        for upper, lower in itertools.pairwise(layers):
            for i, task in enumerate(lower):
                upper[i] >> task
    return [demo, flaky, wide]


def add_finished_runs(store: Any, dag_id: str, count: int, failed_every: int = 0) -> None:
    """``count`` finished runs of ``dag_id`` written straight to the store (no need to run
    200 tasks to see them); with ``failed_every``, every such run fails, with a mix of
    task states."""
    from datetime import UTC, datetime, timedelta

    from slipstream.metadata.records import NewDagRun, NewTaskInstance
    from slipstream.state import DagRunState, DagRunType
    from slipstream.state import TaskInstanceState as TIS

    version = store.get_dag_version(dag_id)
    tasks = [t["task_id"] for t in version.serialized["tasks"]]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    cycle = [TIS.SUCCESS] * 6 + [TIS.FAILED, TIS.UPSTREAM_FAILED, TIS.SKIPPED, TIS.UP_FOR_RETRY]
    for n in range(count):
        moment = start + timedelta(days=n)
        failed = bool(failed_every) and n % failed_every == failed_every - 1
        run = store.create_dag_run(
            NewDagRun(
                dag_id=dag_id,
                run_id=f"manual__{moment.isoformat()}",
                run_type=DagRunType.MANUAL,
                state=DagRunState.FAILED if failed else DagRunState.SUCCESS,
                logical_date=moment,
                run_after=moment,
                dag_version_id=version.id,
            )
        )
        store.create_task_instances(
            dag_id,
            run.run_id,
            [
                NewTaskInstance(
                    task_id=task,
                    state=cycle[(i + n) % len(cycle)] if failed else TIS.SUCCESS,
                    try_number=1,
                    dag_version_id=version.id,
                )
                for i, task in enumerate(tasks)
            ],
        )
