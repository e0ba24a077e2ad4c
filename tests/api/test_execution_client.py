"""``ApiTaskClient`` and ``run_workload_via_api``: a worker's side of the task-execution API.

In process, against the real application (the Litestar test client is an httpx
client); retries and errors against ``httpx.MockTransport``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from slipstream import DAG, task
from slipstream.api.auth.task_tokens import TaskTokenMinter
from slipstream.exceptions import DagNotFound, DagRunAlreadyExists
from slipstream.execution.api_client import ApiTaskClient, ExecutionApiError, TryNotRunning
from slipstream.execution.logs import log_path
from slipstream.execution.remote_worker import ApiLogHandler, run_workload_via_api
from slipstream.execution.worker import DagLoader
from slipstream.executors.base import TaskInstanceKey, Workload
from slipstream.metadata.records import Connection, TaskInstanceRef, TaskInstanceUpdate
from slipstream.models.connection import Connection as UserConnection
from slipstream.models.variable import Variable
from slipstream.operators.empty import EmptyOperator
from slipstream.state import TaskInstanceState as TIS
from tests.api.conftest import Api
from tests.api.test_execution_api import START, _signer

BASE = "http://testserver.local/execution"


def _worker_dag() -> DAG:
    with DAG("remote", schedule=None, start_date=START) as dag:
        EmptyOperator(task_id="extract")

        @task
        def work(ti: Any = None) -> dict[str, Any]:
            conn = UserConnection.get("warehouse")
            rows = ti.xcom_pull(task_ids="extract")
            print(f"greeting={Variable.get('greeting')} host={conn.host} pw={conn.password}")
            ti.xcom_push("extra", [*rows, 3])
            return {"total": sum(rows)}

        @task
        def broken() -> None:
            print("about to fail")
            raise ValueError("the data is wrong")

        @task
        def nosy(ti: Any = None) -> None:
            ti.xcom_pull(task_ids="extract", run_id="someone-elses-run")

        work()
        broken()
        nosy()
    return dag


def _workload(api: Api, task_id: str) -> tuple[Workload, Any]:
    """A workload with a task token for ``task_id`` of run r1 of the "remote" DAG."""
    store = api.runtime.store
    if store.get_dag("remote") is None:
        api.runtime.register(_worker_dag())
        run = api.runtime.trigger("remote", run_id="r1")
        api.runtime.scheduler.start_run(run)
        store.set_variable("greeting", "hello")
        store.set_connection(
            Connection(conn_id="warehouse", conn_type="postgres", host="db", password="pw1")
        )
        ref = TaskInstanceRef(dag_id="remote", run_id="r1", task_id="extract")
        store.set_xcom(ref, "return_value", [1, 2])
    queued = _queue_remote(api, task_id)
    workload = Workload(
        key=TaskInstanceKey(dag_id="remote", run_id="r1", task_id=task_id, try_number=1),
        dag_file="@memory/remote",
        token=queued.token,
    )
    return workload, queued


def _queue_remote(api: Api, task_id: str) -> Any:
    """Queue try 1 of a task of run r1, with its token, as the scheduler does."""
    store = api.runtime.store
    ti = next(
        ti
        for ti in store.list_task_instances(dag_ids=["remote"], run_ids=["r1"], limit=None).items
        if ti.task_id == task_id
    )
    store.update_task_instances(
        [
            TaskInstanceUpdate(
                ti_id=ti.id, state=TIS.QUEUED, expected_state=ti.state, fields={"try_number": 1}
            )
        ]
    )
    key = TaskInstanceKey(dag_id="remote", run_id="r1", task_id=task_id, try_number=1)
    minted = TaskTokenMinter(_signer(api), margin=600)(ti.id, Workload(key=key, dag_file="x"))

    class Queued:
        token = minted.token
        id = ti.id

    return Queued


def _client(api: Api, token: str) -> ApiTaskClient:
    return ApiTaskClient(BASE, token, http=api.client, retries=0)


def _loader(api: Api) -> DagLoader:
    return DagLoader(api.home / "dags", in_memory={"remote": _worker_dag()})


def _log(api: Api, task_id: str) -> str:
    key = TaskInstanceKey(dag_id="remote", run_id="r1", task_id=task_id, try_number=1)
    return log_path(api.home / "logs", key).read_text()


def test_a_try_runs_end_to_end_through_the_api(api: Api) -> None:
    workload, queued = _workload(api, "work")
    client = _client(api, workload.token or "")

    report = run_workload_via_api(
        client, _loader(api), workload, heartbeat_interval=0.05, log_flush_interval=0.05
    )

    assert report["recorded"] is True and report["state"] == "success", report
    store = api.runtime.store
    ti = store.get_task_instances_by_id([queued.id])[0]
    assert ti.state == "success" and ti.hostname and ti.pid
    ref = TaskInstanceRef(dag_id="remote", run_id="r1", task_id="work")
    assert store.get_xcom(ref, "return_value").value == {"total": 3}  # type: ignore[union-attr]
    assert store.get_xcom(ref, "extra").value == [1, 2, 3]  # type: ignore[union-attr]
    text = _log(api, "work")
    assert "greeting=hello host=db pw=pw1" in text
    assert "Marking task as SUCCESS" in text
    assert text.index("greeting=hello") < text.index("Marking task as SUCCESS")

    again = run_workload_via_api(client, _loader(api), workload)
    assert "no longer queued" in again["abandoned"]


def test_a_failing_try_reports_failed_with_its_error_in_the_log(api: Api) -> None:
    workload, queued = _workload(api, "broken")

    report = run_workload_via_api(_client(api, workload.token or ""), _loader(api), workload)

    assert report["state"] == "failed" and report["recorded"] is True
    assert report["error"] == "ValueError: the data is wrong"
    assert api.runtime.store.get_task_instances_by_id([queued.id])[0].state == "failed"
    text = _log(api, "broken")
    assert "about to fail" in text
    assert "ValueError: the data is wrong" in text and "Traceback" in text


def test_a_pull_outside_the_run_fails_the_task_with_the_api_reason(api: Api) -> None:
    workload, _ = _workload(api, "nosy")

    report = run_workload_via_api(_client(api, workload.token or ""), _loader(api), workload)

    assert report["state"] == "failed"
    assert "answered 403" in report["error"]
    assert "reads XComs of run r1 of remote only" in report["error"]


def test_a_missing_dag_file_fails_the_try_it_could_not_start(api: Api) -> None:
    workload, queued = _workload(api, "work")
    empty = DagLoader(api.home / "dags")

    report = run_workload_via_api(_client(api, workload.token or ""), empty, workload)

    assert report["state"] == "failed" and "could not start" in report["error"]
    assert api.runtime.store.get_task_instances_by_id([queued.id])[0].state == "failed"
    assert "the try could not start" in _log(api, "work")


def test_client_reads_and_writes_shared_state(api: Api) -> None:
    workload, _ = _workload(api, "work")
    client = _client(api, workload.token or "")
    client.start(hostname="h", pid=1)

    assert client.get_variable("greeting") == "hello"
    assert client.get_variable("nope") is None
    client.set_variable("new", "v", "why")
    assert api.runtime.store.get_variable("new").value == "v"  # type: ignore[union-attr]
    client.delete_variable("new")
    assert api.runtime.store.get_variable("new") is None
    conn = client.get_connection("warehouse")
    assert conn is not None and conn["password"] == "pw1" and conn["extra"] == {}
    assert client.get_connection("nope") is None
    assert client.xcom_pull(
        dag_id="remote", run_id="r1", task_id="extract", key="return_value", map_index=-1
    ) == [1, 2]
    assert (
        client.xcom_pull(dag_id="remote", run_id="r1", task_id="extract", key="x", map_index=-1)
        is None
    )
    assert (
        client.xcom_pull(
            dag_id="remote", run_id="r1", task_id="extract", key="return_value", map_index=None
        )
        is None
    )  # not mapped: no instance with a map index
    client.xcom_push(
        dag_id="remote", run_id="r1", task_id="work", key="k", map_index=-1, value=None
    )
    with pytest.raises(ExecutionApiError, match="answered 403"):
        client.xcom_push(
            dag_id="remote", run_id="r1", task_id="extract", key="k", map_index=-1, value=1
        )
    with pytest.raises(ExecutionApiError, match="contains '/'"):
        client.get_variable("a/b")

    run_id = client.trigger_dag_run(
        dag_id="remote", run_id="child", conf={}, logical_date=None, reset_dag_run=False
    )
    assert run_id == "child"
    with pytest.raises(DagRunAlreadyExists, match="answered 409"):
        client.trigger_dag_run(
            dag_id="remote", run_id="child", conf=None, logical_date=None, reset_dag_run=False
        )
    with pytest.raises(DagNotFound):
        client.trigger_dag_run(
            dag_id="nope", run_id="x", conf=None, logical_date=None, reset_dag_run=False
        )
    assert client.get_dag_run_state(dag_id="remote", run_id="child") == "queued"
    assert client.get_dag_run_state(dag_id="remote", run_id="nope") is None
    run = api.runtime.store.get_dag_run("remote", "r1")
    assert run is not None and run.logical_date is not None
    assert client.get_dag_run_state(dag_id="remote", logical_date=run.logical_date) == "running"
    states = client.get_task_states(
        dag_id="remote", logical_date=run.logical_date, task_ids=["work"]
    )
    assert states == {"work": ["running"]}
    assert client.get_task_states(dag_id="remote", logical_date=START) is None
    assert client.get_dag_task_ids(dag_id="remote") == ["broken", "extract", "nosy", "work"]
    assert client.get_dag_task_ids(dag_id="nope") is None


def test_client_sees_the_end_of_its_try(api: Api) -> None:
    workload, _ = _workload(api, "work")
    client = _client(api, workload.token or "")
    client.start(hostname="h", pid=1)
    assert client.heartbeat(hostname="h", pid=1) is True
    api.runtime.store.update_task_instances(  # a user marks it failed meanwhile
        [TaskInstanceUpdate(ti_id=client.ti_id, state=TIS.FAILED, by_user=True)]
    )
    assert client.heartbeat(hostname="h", pid=1) is False
    with pytest.raises(TryNotRunning, match="is not running \\(state: failed\\)"):
        client.get_variable("greeting")
    with pytest.raises(TryNotRunning):
        client.start(hostname="h", pid=1)


# -- against a mock transport ---------------------------------------------------------------


def _token() -> str:
    import jwt

    return jwt.encode({"sub": "7", "kind": "task"}, "k" * 32, algorithm="HS256")


def _mock(handler: Callable[[httpx.Request], httpx.Response]) -> tuple[ApiTaskClient, list[float]]:
    sleeps: list[float] = []
    client = ApiTaskClient(
        "http://api:8080/execution/",
        _token(),
        http=httpx.Client(transport=httpx.MockTransport(handler)),
        retries=3,
        backoff=0.5,
        sleep=sleeps.append,
    )
    return client, sleeps


def test_connection_errors_are_retried_with_backoff() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) <= 2:
            raise httpx.ConnectError("connection refused", request=request)
        if len(calls) == 3:
            return httpx.Response(503, json={"detail": "starting"})
        return httpx.Response(200, json={"key": "v", "value": "x"})

    client, sleeps = _mock(handler)
    assert client.get_variable("v") == "x"
    assert sleeps == [0.5, 1.0, 2.0]
    assert str(calls[-1].url) == "http://api:8080/execution/variables/v"
    assert calls[-1].headers["authorization"] == f"Bearer {_token()}"


def test_an_unreachable_api_is_a_clear_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client, sleeps = _mock(handler)
    with pytest.raises(ExecutionApiError) as caught:
        client.get_variable("v")
    assert str(caught.value) == (
        "cannot reach the task-execution API at http://api:8080/execution "
        "(GET /variables/v) after 4 attempts: ConnectError: connection refused"
    )
    assert len(sleeps) == 3


def test_a_request_that_may_have_been_processed_is_not_repeated() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ReadTimeout("timed out", request=request)

    client, _ = _mock(handler)
    with pytest.raises(ExecutionApiError, match="not retried: it may have been processed"):
        client.send_logs(["a line"])
    assert len(calls) == 1


def test_refusals_carry_the_api_explanation() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/heartbeat"):
            return httpx.Response(204, headers={"Refreshed-API-Token": "fresh"})
        if request.url.path.startswith("/execution/connections"):
            return httpx.Response(403, json={"detail": "This token is for task instance 8"})
        return httpx.Response(
            422, json={"detail": [{"loc": ["body", "value"], "msg": "must be a string"}]}
        )

    client, _ = _mock(handler)
    with pytest.raises(ExecutionApiError) as refused:
        client.get_connection("c")
    assert str(refused.value) == (
        "reading Connection 'c': the task-execution API answered 403: "
        "This token is for task instance 8"
    )
    with pytest.raises(ExecutionApiError, match=r"answered 422: body\.value: must be a string"):
        client.set_variable("k", "v")
    assert client.heartbeat(hostname="h", pid=1) is True
    assert client.token == "fresh"


def test_a_task_token_is_needed_to_build_a_client() -> None:
    with pytest.raises(ExecutionApiError, match="not a task token"):
        ApiTaskClient("http://api/execution", "garbage")


def test_log_lines_go_in_batches_and_wait_while_the_api_is_down() -> None:
    batches: list[list[str]] = []
    down = True

    def handler(request: httpx.Request) -> httpx.Response:
        if down:
            return httpx.Response(503)
        batches.append(json.loads(request.content)["lines"])
        return httpx.Response(204)

    client, _ = _mock(handler)
    handler_ = ApiLogHandler(client, flush_interval=3600, batch_lines=2)
    logger = logging.getLogger("tests.api.batches")
    logger.propagate = False
    logger.addHandler(handler_)
    try:
        for n in range(5):
            logger.warning("line %d", n)
        handler_.send()
        assert batches == []
        assert handler_.error == (
            "sending log lines: the task-execution API answered 503: Service Unavailable"
        )
        down = False
    finally:
        logger.removeHandler(handler_)
        handler_.close()  # sends what waits
    assert [len(b) for b in batches] == [2, 2, 1]
    assert [line for b in batches for line in b] == [f"line {n}" for n in range(5)]
