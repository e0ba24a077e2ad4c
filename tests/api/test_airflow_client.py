"""Airflow's own Python client (apache-airflow-client 3.3) against a real slipstream:
``slipstream api-server``, ``scheduler`` and ``dag-processor`` as subprocesses on a
home in a temporary folder. The client's pydantic models reject a response that lacks
a required field or has a wrong type, so this is where wire compatibility shows.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import airflow_client.client as airflow_client
import attrs
import httpx
import pytest
from airflow_client.client.api import (
    connection_api,
    dag_api,
    dag_run_api,
    pool_api,
    task_instance_api,
    variable_api,
    x_com_api,
)

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"
DAG_FILE = textwrap.dedent(
    """
    from datetime import datetime, timezone

    from slipstream import DAG, Param, task

    with DAG(
        "client_demo",
        schedule=None,
        start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
        params={"n": Param(1, type="integer")},
        tags=["demo"],
    ) as dag:

        @task
        def count(params=None):
            print(f"counting to {params['n']}")
            return params["n"]

        @task
        def report(n: int) -> None:
            print(f"counted {n}")

        report(count())
    """
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@attrs.define
class Server:
    url: str
    token: str
    home: Path
    env: dict[str, str]

    def cli(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "slipstream", *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def client(self) -> Any:
        config = airflow_client.Configuration(host=self.url, access_token=self.token)
        return airflow_client.ApiClient(config)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("client") / "home"
    (home / "dags").mkdir(parents=True)
    (home / "dags" / "client_demo.py").write_text(DAG_FILE, encoding="utf-8")
    env = {
        **os.environ,
        "SLIPSTREAM_HOME": str(home),
        "SLIPSTREAM__CORE__LOAD_EXAMPLES": "false",
        "SLIPSTREAM__CORE__EXECUTOR": "sequential",
        "SLIPSTREAM__CORE__DAGS_FOLDER": str(home / "dags"),
        "SLIPSTREAM__SCHEDULER__POLL_INTERVAL": "0.1",
    }
    port = _free_port()
    partial = Server(url=f"http://127.0.0.1:{port}", token="", home=home, env=env)
    partial.cli("db", "migrate")
    partial.cli(
        "users", "create", "--username", "admin", "--role", "admin", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    partial.cli("dag-processor", "--num-runs", "1")
    logs = home / "process-logs"
    logs.mkdir()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for name, args in (
            ("scheduler", ["scheduler"]),
            ("api-server", ["api-server", "--host", "127.0.0.1", "--port", str(port)]),
        ):
            with (logs / f"{name}.log").open("wb") as out:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "slipstream", *args],
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )

        def token() -> str | None:
            try:
                response = httpx.post(
                    f"{partial.url}/auth/token",
                    json={"username": "admin", "password": PASSWORD},
                    timeout=5,
                )
            except httpx.TransportError:
                return None
            return str(response.json()["access_token"]) if response.status_code == 201 else None

        access = wait_for(token, "the API server to answer", timeout=60)
        yield Server(url=partial.url, token=access, home=home, env=env)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _finished_tis(tis_api: Any, run_id: str) -> list[Any] | None:
    found = tis_api.get_task_instances("client_demo", run_id).task_instances
    done = {"success", "failed", "upstream_failed", "skipped"}
    if found and all(ti.state is not None and ti.state.value in done for ti in found):
        return list(found)
    return None


def test_client_lists_unpauses_and_reads_task_instances_and_logs(server: Server) -> None:
    with server.client() as client:
        dags = dag_api.DAGApi(client)
        listing = dags.get_dags()
        assert [d.dag_id for d in listing.dags] == ["client_demo"]
        assert listing.total_entries == 1 and listing.dags[0].is_paused is True
        unpaused = dags.patch_dag("client_demo", airflow_client.DAGPatchBody(is_paused=False))
        assert unpaused.is_paused is False
        assert dags.get_dag("client_demo").tags[0].name == "demo"

        # The run is started from the CLI: the dagRuns routes are checked below.
        server.cli("dags", "trigger", "client_demo", "--run-id", "cli_run", "--conf", '{"n": 3}')
        tis_api = task_instance_api.TaskInstanceApi(client)
        tis = wait_for(lambda: _finished_tis(tis_api, "cli_run"), "the run to finish")
        assert {ti.task_id: ti.state.value for ti in tis} == {
            "count": "success",
            "report": "success",
        }
        count = tis_api.get_task_instance("client_demo", "cli_run", "count")
        assert count.try_number == 1 and count.dag_version is not None
        tries = tis_api.get_task_instance_tries("client_demo", "cli_run", "count")
        assert [t.try_number for t in tries.task_instances] == [1]
        log = tis_api.get_log("client_demo", "cli_run", "count", 1)
        assert any("counting to 3" in str(line) for line in log.content)
        assert log.continuation_token
        across = tis_api.get_task_instances("~", "~", state=["success"])
        assert across.total_entries == 2
        batch = tis_api.get_task_instances_batch(
            "~", "~", airflow_client.TaskInstancesBatchBody(dag_ids=["client_demo"])
        )
        assert batch.total_entries == 2
        preview = tis_api.post_clear_task_instances(
            "client_demo",
            airflow_client.ClearTaskInstancesBody(dry_run=True, only_failed=False),
        )
        assert preview.total_entries == 2

        xcoms = x_com_api.XComApi(client)
        entry = xcoms.get_xcom_entry("client_demo", "count", "cli_run", "return_value")
        assert entry.actual_instance.value == 3
        assert xcoms.get_xcom_entries("client_demo", "cli_run", "count").total_entries == 1


def test_client_manages_variables_pools_and_connections(server: Server) -> None:
    with server.client() as client:
        variables = variable_api.VariableApi(client)
        variables.post_variable(airflow_client.VariableBody(key="greeting", value="hello"))
        assert variables.get_variable("greeting").value == "hello"
        assert variables.get_variables().total_entries == 1
        variables.delete_variable("greeting")

        pools = pool_api.PoolApi(client)
        created = pools.post_pool(airflow_client.PoolBody(name="db", slots=2))
        assert created.open_slots == 2
        patched = pools.patch_pool("db", airflow_client.PoolPatchBody(slots=4))
        assert patched.slots == 4
        assert {p.name for p in pools.get_pools().pools} == {"default_pool", "db"}

        connections = connection_api.ConnectionApi(client)
        connections.post_connection(
            airflow_client.ConnectionBody(
                connection_id="api",
                conn_type="http",
                host="example.test",
                password="s3cret",
                extra=json.dumps({"token": "t"}),
            )
        )
        shown = connections.get_connection("api")
        assert shown.password == "***" and json.loads(shown.extra or "{}") == {"token": "***"}
        assert connections.get_connections().total_entries == 1


def test_client_triggers_a_run_with_conf_and_waits_for_it(server: Server) -> None:
    with server.client() as client:
        dag_api.DAGApi(client).patch_dag(
            "client_demo", airflow_client.DAGPatchBody(is_paused=False)
        )
        runs = dag_run_api.DagRunApi(client)
        run = runs.trigger_dag_run(
            "client_demo",
            airflow_client.TriggerDAGRunPostBody(dag_run_id="client_run", conf={"n": 5}),
        )
        assert run.conf == {"n": 5}

        def finished() -> Any:
            current = runs.get_dag_run("client_demo", "client_run")
            return current if current.state.value in ("success", "failed") else None

        final = wait_for(finished, "the triggered run to finish")
        assert final.state.value == "success"
        tis_api = task_instance_api.TaskInstanceApi(client)
        tis = tis_api.get_task_instances("client_demo", "client_run")
        assert {ti.state.value for ti in tis.task_instances} == {"success"}
        log = tis_api.get_log("client_demo", "client_run", "count", 1)
        assert any("counting to 5" in str(line) for line in log.content)
