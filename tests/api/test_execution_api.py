"""``/execution``: the task-execution API, route by route, with a token scoped to one try.

Each test queues task instances of a small DAG the way the scheduler does (state
``queued``, try 1) and mints their tokens with the scheduler's minter.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from slipstream import DAG, task
from slipstream.api.auth.task_tokens import TaskTokenMinter, TaskTokenScope, issue_task_token
from slipstream.api.auth.tokens import TokenKind
from slipstream.execution.logs import log_path
from slipstream.executors.base import TaskInstanceKey, Workload
from slipstream.metadata.records import Connection, DagRun, TaskInstance, TaskInstanceUpdate
from slipstream.operators.empty import EmptyOperator
from slipstream.state import TaskInstanceState as TIS
from tests.api.conftest import Api

START = datetime(2026, 1, 1, tzinfo=UTC)
HOST = {"hostname": "worker-1", "pid": 4242}


@attrs.define
class Try:
    """One queued try and its task token."""

    ti: TaskInstance
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def base(self) -> str:
        return f"/execution/task-instances/{self.ti.id}"


def _dag() -> DAG:
    with DAG("exec", schedule=None, start_date=START) as dag:
        extract = EmptyOperator(task_id="extract", retries=1)
        load = EmptyOperator(task_id="load")
        extract >> load

        @task
        def double(x: int) -> int:
            return x * 2

        double.expand(x=[1, 2])
    return dag


def _run(api: Api, run_id: str = "r1") -> DagRun:
    if api.runtime.store.get_dag("exec") is None:
        api.runtime.register(_dag())
    run = api.runtime.trigger("exec", run_id=run_id, conf={"n": 3})
    api.runtime.scheduler.start_run(run)
    found = api.runtime.store.get_dag_run("exec", run_id)
    assert found is not None
    return found


def _queue(api: Api, run: DagRun, task_id: str, map_index: int = -1) -> Try:
    """Queue the next try of one task instance, as the scheduler does, with its token."""
    store = api.runtime.store
    tis = store.list_task_instances(dag_ids=["exec"], run_ids=[run.run_id], limit=None).items
    matching = [ti for ti in tis if ti.task_id == task_id and ti.map_index == map_index]
    if not matching:  # a mapped instance the scheduler would create on expansion
        from slipstream.metadata.records import NewTaskInstance

        store.create_task_instances(
            "exec", run.run_id, [NewTaskInstance(task_id=task_id, map_index=map_index)]
        )
        return _queue(api, run, task_id, map_index)
    ti = matching[0]
    store.update_task_instances(
        [
            TaskInstanceUpdate(
                ti_id=ti.id,
                state=TIS.QUEUED,
                expected_state=ti.state,
                fields={"try_number": ti.try_number + 1, "queued_at": datetime.now(UTC)},
            )
        ]
    )
    queued = store.get_task_instances_by_id([ti.id])[0]
    workload = Workload(
        key=TaskInstanceKey(
            dag_id="exec",
            run_id=run.run_id,
            task_id=task_id,
            map_index=map_index,
            try_number=queued.try_number,
        ),
        dag_file="@memory/exec",
    )
    minter = TaskTokenMinter(_signer(api), margin=600)
    token = minter(ti.id, workload).token
    assert token is not None
    return Try(ti=queued, token=token)


def _signer(api: Api) -> Any:
    return api.client.app.state["ctx"].signer


def _running(api: Api, run: DagRun, task_id: str, map_index: int = -1) -> Try:
    queued = _queue(api, run, task_id, map_index)
    response = api.client.patch(f"{queued.base}/run", json=HOST, headers=queued.headers)
    assert response.status_code == 200, response.text
    return queued


def _state(api: Api, ti: TaskInstance) -> TaskInstance:
    return api.runtime.store.get_task_instances_by_id([ti.id])[0]


def _end(state: str = "success", **extra: Any) -> dict[str, Any]:
    return {"state": state, "end_date": datetime.now(UTC).isoformat(), **extra}


# -- starting a try --------------------------------------------------------------------


def test_run_starts_the_queued_try_and_returns_its_context(api: Api) -> None:
    run = _run(api)
    queued = _queue(api, run, "extract")

    response = api.client.patch(f"{queued.base}/run", json=HOST, headers=queued.headers)

    assert response.status_code == 200, response.text
    context = response.json()
    assert context["dag_run"]["run_id"] == "r1"
    assert context["dag_run"]["dag_id"] == "exec"
    assert context["dag_run"]["conf"] == {"n": 3}
    assert context["dag_run"]["logical_date"]
    assert context["max_tries"] == 1 and context["should_retry"] is True
    assert context["first_attempt_started_at"] is None
    ti = _state(api, queued.ti)
    assert (ti.state, ti.hostname, ti.pid) == (TIS.RUNNING, "worker-1", 4242)
    assert ti.start_date is not None

    again = api.client.patch(f"{queued.base}/run", json=HOST, headers=queued.headers)
    assert again.status_code == 200  # a retried request from the same worker
    other = api.client.patch(
        f"{queued.base}/run", json={"hostname": "worker-2", "pid": 1}, headers=queued.headers
    )
    assert other.status_code == 409
    assert other.json()["detail"]["reason"] == "invalid_state"
    assert "not queued (state: running)" in other.json()["detail"]["message"]
    assert _state(api, queued.ti).hostname == "worker-1"


def test_run_refusals(api: Api) -> None:
    run = _run(api)
    queued = _queue(api, run, "extract")
    other = _queue(api, run, "load")
    path = f"{queued.base}/run"

    assert api.client.patch(path, json=HOST).status_code == 401
    user = api.patch(path, role="admin", json=HOST)
    assert user.status_code == 403
    assert "only task tokens" in user.json()["detail"]
    foreign = api.client.patch(path, json=HOST, headers=other.headers)
    assert foreign.status_code == 403
    assert f"for task instance {other.ti.id}, not {queued.ti.id}" in foreign.json()["detail"]
    bad = api.client.patch(path, json={"hostname": "h", "pid": "x"}, headers=queued.headers)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["msg"]
    missing = api.client.patch(path, json={"pid": 1}, headers=queued.headers)
    assert missing.status_code == 422
    negative = api.client.patch(path, json={"hostname": "h", "pid": -1}, headers=queued.headers)
    assert negative.status_code == 422
    assert _state(api, queued.ti).state == TIS.QUEUED  # nothing changed


def test_a_try_that_is_not_queued_cannot_start(api: Api) -> None:
    run = _run(api)
    queued = _queue(api, run, "extract")
    api.runtime.store.update_task_instances(
        [TaskInstanceUpdate(ti_id=queued.ti.id, state=TIS.SCHEDULED, expected_state=TIS.QUEUED)]
    )
    response = api.client.patch(f"{queued.base}/run", json=HOST, headers=queued.headers)
    assert response.status_code == 409
    assert "state: scheduled" in response.json()["detail"]["message"]


# -- heartbeats ------------------------------------------------------------------------------


def test_heartbeat_records_that_the_try_lives(api: Api) -> None:
    run = _run(api)
    running = _running(api, run, "extract")
    before = _state(api, running.ti).last_heartbeat_at
    assert before is not None
    time.sleep(0.01)

    response = api.client.put(f"{running.base}/heartbeat", json=HOST, headers=running.headers)

    assert response.status_code == 204
    assert "refreshed-api-token" not in response.headers  # far from its expiry
    after = _state(api, running.ti).last_heartbeat_at
    assert after is not None and after > before
    elsewhere = api.client.put(
        f"{running.base}/heartbeat", json={"hostname": "other", "pid": 1}, headers=running.headers
    )
    assert elsewhere.status_code == 409
    assert elsewhere.json()["detail"]["reason"] == "running_elsewhere"
    assert api.client.put(f"{running.base}/heartbeat", json=HOST).status_code == 401
    bad = api.client.put(f"{running.base}/heartbeat", json={"pid": 1}, headers=running.headers)
    assert bad.status_code == 422


def test_heartbeat_renews_a_token_near_its_expiry(api: Api) -> None:
    run = _run(api)
    running = _running(api, run, "extract")
    scope = TaskTokenScope(
        ti_id=running.ti.id,
        dag_id="exec",
        run_id="r1",
        task_id="extract",
        map_index=-1,
        try_number=1,
    )
    # Issued 100 s ago for 150 s: less than half its lifetime is left.
    signer = _signer(api)
    now = int(time.time())
    import jwt

    payload = {
        "iss": "slipstream",
        "sub": str(running.ti.id),
        "kind": TokenKind.TASK.value,
        "iat": now - 100,
        "exp": now + 50,
        **scope.claims(),
    }
    old = jwt.encode(payload, signer._key, algorithm="HS256")

    response = api.client.put(
        f"{running.base}/heartbeat", json=HOST, headers={"Authorization": f"Bearer {old}"}
    )

    assert response.status_code == 204
    fresh = response.headers["refreshed-api-token"]
    claims = signer.verify(fresh, kinds=(TokenKind.TASK,))
    assert claims.expires_at - claims.issued_at == 150
    assert claims.expires_at > now + 50
    assert TaskTokenScope.from_claims(claims) == scope


# -- the end of a try -----------------------------------------------------------------------


def test_state_records_the_end_and_the_token_dies_with_the_try(api: Api) -> None:
    run = _run(api)
    running = _running(api, run, "extract")

    response = api.client.patch(
        f"{running.base}/state",
        json=_end(rendered_fields={"x": "1"}),
        headers=running.headers,
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"state": "success"}
    ti = _state(api, running.ti)
    assert ti.state == TIS.SUCCESS and ti.end_date is not None
    assert ti.rendered_fields == {"x": "1"}
    # Valid only while it runs: the store says it ended, so every route refuses it now.
    for method, path, body in [
        ("PATCH", f"{running.base}/state", _end()),
        ("PUT", f"{running.base}/heartbeat", HOST),
        ("POST", f"{running.base}/logs", {"lines": ["late"]}),
        ("GET", "/execution/variables/anything", None),
        ("GET", "/execution/xcoms/exec/r1/extract/return_value", None),
    ]:
        late = api.client.request(method, path, json=body, headers=running.headers)
        assert late.status_code == 409, (method, path, late.text)
        assert late.json()["detail"]["reason"] == "not_running"
        assert "is not running (state: success)" in late.json()["detail"]["message"]
    assert _state(api, running.ti).state == TIS.SUCCESS


def test_state_failure_with_retries_left_and_without(api: Api) -> None:
    run = _run(api)
    extract = _running(api, run, "extract")  # retries=1: try 1 may retry
    retry = api.client.patch(
        f"{extract.base}/state",
        json=_end("up_for_retry", error="ValueError: boom"),
        headers=extract.headers,
    )
    assert retry.json() == {"state": "up_for_retry"}
    assert _state(api, extract.ti).next_retry_at is not None

    load = _running(api, run, "load")  # no retries: a retry request becomes failed
    failed = api.client.patch(
        f"{load.base}/state", json=_end("up_for_retry", error="x"), headers=load.headers
    )
    assert failed.json() == {"state": "failed"}
    assert _state(api, load.ti).state == TIS.FAILED


def test_a_try_cleared_while_it_runs_reports_its_end_and_runs_again(api: Api) -> None:
    from slipstream.scheduler.clearing import clear_task_instances

    run = _run(api)
    running = _running(api, run, "extract")
    clear_task_instances(api.runtime.store, "exec", run_ids=["r1"], task_regex="^extract$")
    assert _state(api, running.ti).state == TIS.RESTARTING

    beat = api.client.put(f"{running.base}/heartbeat", json=HOST, headers=running.headers)
    assert beat.status_code == 409  # the worker learns it was cleared ...
    assert beat.json()["detail"]["reason"] == "not_running"
    logs = api.client.post(
        f"{running.base}/logs", json={"lines": ["still here"]}, headers=running.headers
    )
    assert logs.status_code == 204  # ... yet its last lines and its end are still taken
    end = api.client.patch(f"{running.base}/state", json=_end(), headers=running.headers)
    assert end.json() == {"state": "none"}
    assert _state(api, running.ti).state == TIS.NONE


def test_state_refuses_bad_input_and_changes_nothing(api: Api) -> None:
    run = _run(api)
    running = _running(api, run, "extract")
    path = f"{running.base}/state"
    for body, field in [
        (_end("running"), "state"),
        (_end("up_for_reschedule"), "reschedule_at"),
        ({"state": "success"}, "end_date"),
        (_end(skip_downstream="load"), "skip_downstream"),
        ({"state": "success", "end_date": "yesterday"}, "end_date"),
    ]:
        response = api.client.patch(path, json=body, headers=running.headers)
        assert response.status_code == 422, (body, response.text)
        detail = response.json()["detail"]
        assert any(field in f"{item['loc']} {item['msg']}" for item in detail), detail
    assert (
        "must be one of success"
        in api.client.patch(path, json=_end("running"), headers=running.headers).json()["detail"][
            0
        ]["msg"]
    )
    assert _state(api, running.ti).state == TIS.RUNNING


def test_a_token_of_an_earlier_try_is_refused(api: Api) -> None:
    run = _run(api)
    first = _running(api, run, "extract")
    api.client.patch(f"{first.base}/state", json=_end("up_for_retry"), headers=first.headers)
    second = _running(api, run, "extract")  # try 2 of the same task instance
    assert second.ti.id == first.ti.id and second.ti.try_number == 2

    response = api.client.put(f"{first.base}/heartbeat", json=HOST, headers=first.headers)

    assert response.status_code == 409
    assert response.json()["detail"]["reason"] == "superseded"
    assert response.json()["detail"]["message"] == (
        "Try 1 of exec.extract (run r1) has ended: the task instance is at try 2 now"
    )
    assert (
        api.client.put(f"{second.base}/heartbeat", json=HOST, headers=second.headers).status_code
        == 204
    )


def test_expired_and_user_tokens_are_refused(api: Api) -> None:
    run = _run(api)
    running = _running(api, run, "extract")
    scope = TaskTokenScope.from_claims(_signer(api).verify(running.token, kinds=(TokenKind.TASK,)))
    expired = issue_task_token(_signer(api), scope, lifetime=-10)
    response = api.client.get(
        "/execution/variables/v", headers={"Authorization": f"Bearer {expired}"}
    )
    assert response.status_code == 401
    assert response.json()["detail"] == "The token has expired"
    for role in ("admin", "op", "viewer"):
        assert api.get("/execution/variables/v", role=role).status_code == 403
    # ... and a task token opens none of the public API.
    public = api.client.get("/api/v2/dags", headers=running.headers)
    assert public.status_code == 403


# -- logs ---------------------------------------------------------------------------------------


def test_log_batches_land_in_the_try_log_file(api: Api) -> None:
    run = _run(api)
    running = _running(api, run, "double", map_index=1)
    path = f"{running.base}/logs"

    first = api.client.post(path, json={"lines": ["one", "two"]}, headers=running.headers)
    second = api.client.post(path, json={"lines": ["three\n"]}, headers=running.headers)

    assert first.status_code == second.status_code == 204
    key = TaskInstanceKey(dag_id="exec", run_id="r1", task_id="double", map_index=1, try_number=1)
    file = log_path(api.home / "logs", key)
    assert file.parts[-4:] == ("run_id=r1", "task_id=double", "map_index=1", "attempt=1.log")
    assert file.read_text() == "one\ntwo\nthree\n"


def test_log_refusals(api: Api) -> None:
    run = _run(api)
    running = _running(api, run, "extract")
    other = _running(api, run, "load")
    path = f"{running.base}/logs"
    assert api.client.post(path, json={"lines": ["x"]}).status_code == 401
    assert api.client.post(path, json={"lines": ["x"]}, headers=other.headers).status_code == 403
    assert api.post(path, json={"lines": ["x"]}).status_code == 403
    for body in [{"lines": "x"}, {"lines": [1, 2]}, {}, {"lines": ["x"] * 10_001}]:
        response = api.client.post(path, json=body, headers=running.headers)
        assert response.status_code == 422, body
    key = TaskInstanceKey(dag_id="exec", run_id="r1", task_id="extract", try_number=1)
    assert not log_path(api.home / "logs", key).exists()


# -- variables and connections ---------------------------------------------------------


def test_variables_read_write_delete(api: Api) -> None:
    run = _run(api)
    running = _running(api, run, "extract")
    api.runtime.store.set_variable("greeting", "hello")
    get = api.client.get("/execution/variables/greeting", headers=running.headers)
    assert get.status_code == 200
    assert get.json() == {"key": "greeting", "value": "hello"}
    missing = api.client.get("/execution/variables/nope", headers=running.headers)
    assert missing.status_code == 404
    assert "nope" in missing.json()["detail"]

    put = api.client.put(
        "/execution/variables/made",
        json={"value": "by a task", "description": "d"},
        headers=running.headers,
    )
    assert put.status_code == 201
    made = api.runtime.store.get_variable("made")
    assert made is not None and (made.value, made.description) == ("by a task", "d")
    bad = api.client.put("/execution/variables/made", json={"value": 3}, headers=running.headers)
    assert bad.status_code == 422
    assert api.runtime.store.get_variable("made").value == "by a task"  # type: ignore[union-attr]
    deleted = api.client.delete("/execution/variables/made", headers=running.headers)
    assert deleted.status_code == 204
    assert api.runtime.store.get_variable("made") is None


def test_variables_need_a_running_try(api: Api) -> None:
    run = _run(api)
    queued = _queue(api, run, "extract")  # not started yet
    response = api.client.get("/execution/variables/greeting", headers=queued.headers)
    assert response.status_code == 409
    assert "state: queued" in response.json()["detail"]["message"]
    assert api.client.get("/execution/variables/greeting").status_code == 401


def test_dag_source_answers_only_a_running_try_of_its_own(api: Api) -> None:
    """The route a remote worker asks for its try's own DAG code (the end-to-end test
    runs it with a real file): here the DAG was registered in memory, so the store kept
    no code — a clear 404 — and the usual refusals hold."""
    run = _run(api)
    queued = _queue(api, run, "extract")
    url = f"{queued.base}/dag-source"
    assert api.client.get(url, headers=queued.headers).status_code == 409  # not started
    running = _running(api, run, "load")
    missing = api.client.get(f"{running.base}/dag-source", headers=running.headers)
    assert missing.status_code == 404
    assert "No code is kept for the DAG version" in missing.json()["detail"]
    other = api.client.get(url, headers=running.headers)  # another try's route
    assert other.status_code == 403
    assert api.client.get(url).status_code == 401


def test_connections_come_with_their_secrets(api: Api) -> None:
    run = _run(api)
    running = _running(api, run, "extract")
    api.runtime.store.set_connection(
        Connection(
            conn_id="warehouse",
            conn_type="postgres",
            host="db",
            login="etl",
            password="s3cret",
            port=5432,
            schema="dw",
            extra={"sslmode": "require"},
        )
    )
    response = api.client.get("/execution/connections/warehouse", headers=running.headers)
    assert response.status_code == 200
    assert response.json() == {
        "conn_id": "warehouse",
        "conn_type": "postgres",
        "host": "db",
        "schema": "dw",
        "login": "etl",
        "password": "s3cret",
        "port": 5432,
        "extra": '{"sslmode": "require"}',
    }
    assert api.client.get("/execution/connections/nope", headers=running.headers).status_code == 404
    assert api.get("/execution/connections/warehouse").status_code == 403
    assert api.client.get("/execution/connections/warehouse").status_code == 401


# -- XComs ------------------------------------------------------------------------------------


def test_xcom_push_own_and_pull_from_the_same_run(api: Api) -> None:
    run = _run(api)
    extract = _running(api, run, "extract")
    pushed = api.client.post(
        "/execution/xcoms/exec/r1/extract/return_value",
        json={"rows": [1, 2]},
        headers=extract.headers,
    )
    assert pushed.status_code == 201
    none = api.client.post(  # a JSON null is a value too
        "/execution/xcoms/exec/r1/extract/nothing",
        content=b"null",
        headers={**extract.headers, "Content-Type": "application/json"},
    )
    assert none.status_code == 201
    assert api.runtime.xcom(run, "extract") == {"rows": [1, 2]}

    load = _running(api, run, "load")
    pulled = api.client.get("/execution/xcoms/exec/r1/extract/return_value", headers=load.headers)
    assert pulled.status_code == 200
    assert pulled.json() == {"key": "return_value", "value": {"rows": [1, 2]}}
    null = api.client.get("/execution/xcoms/exec/r1/extract/nothing", headers=load.headers)
    assert null.json() == {"key": "nothing", "value": None}
    missing = api.client.get("/execution/xcoms/exec/r1/extract/other", headers=load.headers)
    assert missing.status_code == 404
    bad = api.client.get(
        "/execution/xcoms/exec/r1/extract/return_value",
        params={"map_index": "x"},
        headers=load.headers,
    )
    assert bad.status_code == 422


def test_xcoms_of_mapped_instances_and_their_slice(api: Api) -> None:
    run = _run(api)
    for index in (1, 0):
        mapped = _running(api, run, "double", map_index=index)
        response = api.client.post(
            "/execution/xcoms/exec/r1/double/return_value",
            params={"map_index": index},
            json=index * 10,
            headers=mapped.headers,
        )
        assert response.status_code == 201
    load = _running(api, run, "load")
    one = api.client.get(
        "/execution/xcoms/exec/r1/double/return_value",
        params={"map_index": 1},
        headers=load.headers,
    )
    assert one.json()["value"] == 10
    every = api.client.get(
        "/execution/xcoms/exec/r1/double/return_value/slice", headers=load.headers
    )
    assert every.status_code == 200
    assert every.json() == [0, 10]
    empty = api.client.get("/execution/xcoms/exec/r1/double/other/slice", headers=load.headers)
    assert empty.json() == []


def test_xcom_scope_is_enforced(api: Api) -> None:
    first = _run(api, "r1")
    second = _run(api, "r2")
    api.runtime.store.set_xcom(
        api.runtime.store.get_task_instances_by_id([_queue(api, second, "extract").ti.id])[0].ref,
        "return_value",
        "secret of r2",
    )
    extract = _running(api, first, "extract")
    headers = extract.headers

    other_run = api.client.get("/execution/xcoms/exec/r2/extract/return_value", headers=headers)
    assert other_run.status_code == 403
    assert "run r1 of exec only" in other_run.json()["detail"]
    other_dag = api.client.get("/execution/xcoms/else/r1/extract/return_value", headers=headers)
    assert other_dag.status_code == 403
    for path, params in [
        ("/execution/xcoms/exec/r1/load/return_value", {}),  # another task
        ("/execution/xcoms/exec/r2/extract/return_value", {}),  # another run
        ("/execution/xcoms/exec/r1/extract/return_value", {"map_index": 0}),  # another index
    ]:
        response = api.client.post(path, params=params, json="forged", headers=headers)
        assert response.status_code == 403, path
        assert "its own task instance only" in response.json()["detail"]
    empty = api.client.post(
        "/execution/xcoms/exec/r1/extract/return_value",
        content=b"",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert empty.status_code == 422
    assert not [x for x in api.runtime.store.list_xcoms("exec", "r1") if x.value == "forged"]
    assert api.runtime.xcom(second, "extract") == "secret of r2"
    assert api.runtime.xcom(second, "load") is None
    assert api.client.get("/execution/xcoms/exec/r1/extract/return_value").status_code == 401
    assert api.get("/execution/xcoms/exec/r1/extract/return_value").status_code == 403


# -- other runs and DAGs ----------------------------------------------------------------------


def test_trigger_and_read_other_runs(api: Api) -> None:
    run = _run(api)
    running = _running(api, run, "extract")
    headers = running.headers
    moment = datetime(2026, 3, 1, tzinfo=UTC)

    created = api.client.post(
        "/execution/dag-runs/exec/child",
        json={"conf": {"n": 1}, "logical_date": moment.isoformat()},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    assert created.json() == {"dag_id": "exec", "run_id": "child"}
    child = api.runtime.store.get_dag_run("exec", "child")
    assert child is not None and child.conf == {"n": 1} and child.logical_date == moment

    again = api.client.post("/execution/dag-runs/exec/child", json={}, headers=headers)
    assert again.status_code == 409
    assert again.json()["detail"]["reason"] == "already_exists"
    reset = api.client.post(
        "/execution/dag-runs/exec/child", json={"reset_dag_run": True}, headers=headers
    )
    assert reset.status_code == 201
    unknown = api.client.post("/execution/dag-runs/nope/x", json={}, headers=headers)
    assert unknown.status_code == 404
    bad_conf = api.client.post("/execution/dag-runs/exec/x2", json={"conf": [1]}, headers=headers)
    assert bad_conf.status_code == 422
    assert api.runtime.store.get_dag_run("exec", "x2") is None

    state = api.client.get("/execution/dag-runs/exec/child/state", headers=headers)
    assert state.json() == {"state": "queued"}
    assert api.client.get("/execution/dag-runs/exec/nope/state", headers=headers).status_code == 404
    at = api.client.get(
        "/execution/dag-runs/state",
        params={"dag_id": "exec", "logical_date": moment.isoformat()},
        headers=headers,
    )
    assert at.json() == {"state": "queued"}
    nothing = api.client.get(
        "/execution/dag-runs/state",
        params={"dag_id": "exec", "logical_date": (moment + timedelta(days=9)).isoformat()},
        headers=headers,
    )
    assert nothing.status_code == 404
    bad_date = api.client.get(
        "/execution/dag-runs/state",
        params={"dag_id": "exec", "logical_date": "soon"},
        headers=headers,
    )
    assert bad_date.status_code == 422


def test_task_states_and_task_ids(api: Api) -> None:
    run = _run(api)
    running = _running(api, run, "extract")
    assert run.logical_date is not None
    states = api.client.get(
        "/execution/task-instances/states",
        params={
            "dag_id": "exec",
            "logical_date": run.logical_date.isoformat(),
            "task_ids": ["extract", "load"],
        },
        headers=running.headers,
    )
    assert states.status_code == 200, states.text
    assert states.json() == {"task_states": {"extract": ["running"], "load": ["none"]}}
    none = api.client.get(
        "/execution/task-instances/states",
        params={"dag_id": "exec", "logical_date": START.isoformat()},
        headers=running.headers,
    )
    assert none.status_code == 404
    ids = api.client.get("/execution/dags/exec/task-ids", headers=running.headers)
    assert ids.json() == {"task_ids": ["double", "extract", "load"]}
    unknown = api.client.get("/execution/dags/nope/task-ids", headers=running.headers)
    assert unknown.status_code == 404
    assert api.get("/execution/dags/exec/task-ids").status_code == 403


def test_execution_routes_stay_out_of_the_public_openapi_document(api: Api) -> None:
    paths = api.get("/api/v2/openapi.json").json()["paths"]
    assert paths and not [p for p in paths if p.startswith("/execution")]


# -- minting ------------------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", [None, 30.0])
def test_minted_token_names_the_try_and_lives_for_timeout_plus_margin(
    api: Api, timeout: float | None
) -> None:
    minter = TaskTokenMinter.for_config(api.runtime.config)
    workload = Workload(
        key=TaskInstanceKey(dag_id="d", run_id="r", task_id="t", map_index=2, try_number=3),
        dag_file="d.py",
        timeout_seconds=timeout,
    )
    minted = minter(17, workload)
    assert minted.token and "token" not in repr(minted)
    assert attrs.evolve(minted, token=None) == workload
    claims = _signer(api).verify(minted.token, kinds=(TokenKind.TASK,))
    assert TaskTokenScope.from_claims(claims) == TaskTokenScope(
        ti_id=17, dag_id="d", run_id="r", task_id="t", map_index=2, try_number=3
    )
    margin = api.runtime.config["api.task_token_expiration"]
    assert claims.expires_at - claims.issued_at == int((timeout or 0) + margin)


def test_local_executors_get_no_tokens(api: Api) -> None:
    assert api.runtime.executor.needs_task_token is False
    assert api.runtime.scheduler.task_tokens is None
    run = _run(api)
    submitted: list[Workload] = []
    api.runtime.executor.submit = submitted.append  # type: ignore[method-assign]
    now = datetime.now(UTC)
    api.runtime.scheduler.schedule_run(run, now)
    assert api.runtime.scheduler.queue_tasks(now) > 0
    assert submitted and all(w.token is None for w in submitted)
