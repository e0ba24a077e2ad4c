"""The UI's JSON endpoints: polling data, log tails, and the actions (pause, trigger,
clear, mark, admin records), each refused to roles that may not and without CSRF."""

from __future__ import annotations

from typing import Any

import pytest

from slipstream.metadata.records import Connection
from tests.ui.conftest import Api, demo_dags, login


@pytest.fixture
def ran(api: Api) -> Api:
    api.runtime.register(*demo_dags())
    api.runtime.wait(api.runtime.trigger("demo", conf={"count": 3}))
    api.runtime.wait(api.runtime.trigger("flaky"))
    return api


def session(api: Api, role: str) -> dict[str, str]:
    """Log in through the form; the headers every action from the page carries."""
    return {"X-CSRF-Token": login(api, role)}


def run_id(api: Api, dag_id: str) -> str:
    return api.runtime.store.list_dag_runs(dag_ids=[dag_id]).items[-1].run_id


def states(api: Api, dag_id: str) -> dict[str, str]:
    run = api.runtime.store.list_dag_runs(dag_ids=[dag_id]).items[-1]
    return api.runtime.task_states(run)


def _actions(api: Api) -> list[tuple[str, str, dict[str, Any] | None]]:
    demo, flaky = run_id(api, "demo"), run_id(api, "flaky")
    return [
        ("POST", "/ui/dags/demo/paused", {"is_paused": True}),
        ("POST", "/ui/dags/demo/trigger", {"conf": {}}),
        ("POST", f"/ui/dags/flaky/runs/{flaky}/clear", {}),
        ("POST", f"/ui/dags/demo/runs/{demo}/mark", {"state": "failed"}),
        ("POST", f"/ui/dags/demo/runs/{demo}/tasks/first/mark", {"state": "failed"}),
    ]


def _snapshot(api: Api) -> Any:
    store = api.runtime.store
    return (
        store.get_dag("demo").is_paused,  # type: ignore[union-attr]
        store.list_dag_runs(limit=None).items,
        states(api, "demo"),
        states(api, "flaky"),
    )


def test_viewer_may_read_but_not_act(ran: Api) -> None:
    headers = session(ran, "viewer")
    before = _snapshot(ran)
    for method, path, body in _actions(ran):
        response = ran.client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, path
        assert "user role" in response.json()["detail"]
    assert _snapshot(ran) == before
    assert ran.client.get("/ui/dags/status", params={"dag_id": ["demo"]}).status_code == 200


def test_actions_without_the_csrf_header_are_refused(ran: Api) -> None:
    login(ran, "admin")
    before = _snapshot(ran)
    for method, path, body in _actions(ran):
        for headers in ({}, {"X-CSRF-Token": "wrong"}):
            response = ran.client.request(method, path, json=body, headers=headers)
            assert response.status_code == 403, path
            assert response.json() == {"detail": "CSRF token missing or wrong"}
    assert _snapshot(ran) == before


def test_pause_and_unpause(ran: Api) -> None:
    headers = session(ran, "user")
    paused = ran.client.post("/ui/dags/demo/paused", json={"is_paused": True}, headers=headers)
    assert paused.json() == {"dag_id": "demo", "is_paused": True}
    assert ran.runtime.store.get_dag("demo").is_paused is True  # type: ignore[union-attr]
    ran.client.post("/ui/dags/demo/paused", json={"is_paused": False}, headers=headers)
    assert ran.runtime.store.get_dag("demo").is_paused is False  # type: ignore[union-attr]
    assert (
        ran.client.post(
            "/ui/dags/nope/paused", json={"is_paused": True}, headers=headers
        ).status_code
        == 404
    )
    bad = ran.client.post("/ui/dags/demo/paused", json={"is_paused": "yes"}, headers=headers)
    assert bad.status_code == 422


def test_trigger_checks_params_field_by_field(ran: Api) -> None:
    headers = session(ran, "user")
    before = ran.runtime.store.list_dag_runs(limit=None).total
    bad = ran.client.post(
        "/ui/dags/demo/trigger", json={"conf": {"count": 9, "color": "pink"}}, headers=headers
    )
    assert bad.status_code == 422
    errors = {item["loc"][-1]: item["msg"] for item in bad.json()["detail"]}
    assert set(errors) == {"count", "color"}
    assert "9 is greater than the maximum of 5" in errors["count"]
    assert "'pink' is not one of" in errors["color"]
    assert (
        ran.client.post("/ui/dags/demo/trigger", json={"conf": [1]}, headers=headers).status_code
        == 422
    )
    assert ran.runtime.store.list_dag_runs(limit=None).total == before

    good = ran.client.post(
        "/ui/dags/demo/trigger",
        json={"conf": {"count": 4}, "run_id": "by_hand"},
        headers=headers,
    )
    assert good.status_code == 200
    assert good.json() == {"dag_id": "demo", "run_id": "by_hand", "state": "queued"}
    run = ran.runtime.store.get_dag_run("demo", "by_hand")
    assert run is not None and run.conf == {"count": 4} and run.triggered_by == "ui"
    again = ran.client.post(
        "/ui/dags/demo/trigger", json={"conf": {}, "run_id": "by_hand"}, headers=headers
    )
    assert again.status_code == 409


def test_clear_a_failed_task_with_its_downstream(ran: Api) -> None:
    headers = session(ran, "user")
    flaky = run_id(ran, "flaky")
    assert states(ran, "flaky") == {"fails": "failed", "after": "upstream_failed"}
    path = f"/ui/dags/flaky/runs/{flaky}/clear"
    preview = ran.client.post(
        path,
        json={"task_ids": ["fails"], "include_downstream": True, "dry_run": True},
        headers=headers,
    ).json()
    assert preview["count"] == 2 and preview["dry_run"] is True
    assert states(ran, "flaky") == {"fails": "failed", "after": "upstream_failed"}
    only = ran.client.post(path, json={"task_ids": ["fails"]}, headers=headers).json()
    assert [ti["task_id"] for ti in only["task_instances"]] == ["fails"]
    assert states(ran, "flaky") == {"fails": "none", "after": "upstream_failed"}
    assert ran.runtime.store.get_dag_run("flaky", flaky).state == "queued"  # type: ignore[union-attr]


def test_clear_only_the_failed_tasks_of_a_run(ran: Api) -> None:
    headers = session(ran, "user")
    flaky = run_id(ran, "flaky")
    result = ran.client.post(
        f"/ui/dags/flaky/runs/{flaky}/clear", json={"only_failed": True}, headers=headers
    ).json()
    assert sorted(ti["task_id"] for ti in result["task_instances"]) == ["after", "fails"]
    ran.runtime.wait(ran.runtime.store.get_dag_run("flaky", flaky))  # type: ignore[arg-type]
    tries = ran.runtime.store.list_task_instances(dag_ids=["flaky"], task_ids=["fails"]).items
    assert tries[0].try_number == 2  # it ran again (and failed again)


def test_mark_task_and_run(ran: Api) -> None:
    headers = session(ran, "user")
    flaky, demo = run_id(ran, "flaky"), run_id(ran, "demo")
    marked = ran.client.post(
        f"/ui/dags/flaky/runs/{flaky}/tasks/fails/mark",
        json={"state": "success", "include_downstream": True},
        headers=headers,
    )
    assert marked.status_code == 200 and marked.json()["count"] == 2
    assert states(ran, "flaky") == {"fails": "success", "after": "success"}
    # The run is handed back to the scheduler, which decides it anew.
    assert ran.runtime.store.get_dag_run("flaky", flaky).state == "queued"  # type: ignore[union-attr]

    failed = ran.client.post(
        f"/ui/dags/demo/runs/{demo}/mark", json={"state": "failed"}, headers=headers
    )
    assert failed.status_code == 200
    assert ran.runtime.store.get_dag_run("demo", demo).state == "failed"  # type: ignore[union-attr]
    bad = ran.client.post(
        f"/ui/dags/demo/runs/{demo}/mark", json={"state": "running"}, headers=headers
    )
    assert bad.status_code == 422 and "success or failed" in bad.json()["detail"][0]["msg"]
    missing = ran.client.post(
        "/ui/dags/demo/runs/nope/mark", json={"state": "failed"}, headers=headers
    )
    assert missing.status_code == 404
    unknown = ran.client.post(
        f"/ui/dags/demo/runs/{demo}/tasks/ghost/mark", json={"state": "failed"}, headers=headers
    )
    assert unknown.status_code == 404


def test_log_tail_continues_from_its_offset(ran: Api) -> None:
    login(ran, "viewer")
    demo = run_id(ran, "demo")
    path = f"/ui/dags/demo/runs/{demo}/tasks/first/log"
    whole = ran.client.get(path, params={"try_number": 1}).json()
    assert "hello from the task log" in whole["text"]
    assert whole["done"] is True and whole["exists"] is True
    half = len(whole["text"].encode()) // 2
    first = ran.client.get(path, params={"try_number": 1, "offset": 0}).json()
    rest = ran.client.get(path, params={"try_number": 1, "offset": half}).json()
    assert whole["text"].encode()[half:].decode() == rest["text"]
    assert rest["offset"] == first["offset"]
    absent = ran.client.get(path, params={"try_number": 5}).json()
    assert absent == {**absent, "text": "", "exists": False, "done": True}
    assert ran.client.get(path, params={"try_number": 0}).status_code == 422


def test_polling_endpoints(ran: Api) -> None:
    login(ran, "viewer")
    demo = run_id(ran, "demo")
    grid = ran.client.get("/ui/dags/demo/grid", params={"run_id": [demo]}).json()
    assert grid["active"] is False
    assert grid["runs"][-1] == {**grid["runs"][-1], "run_id": demo, "state": "success"}
    assert grid["tis"][demo]["first"] == {"state": "success", "count": 1}
    status = ran.client.get("/ui/dags/status", params={"dag_id": ["demo", "flaky", "nope"]})
    body = status.json()
    assert set(body) == {"demo", "flaky"}
    assert body["flaky"]["last_state"] == "failed"
    ti = ran.client.get(f"/ui/dags/demo/runs/{demo}/tasks/first/state").json()
    assert ti == {
        "task_id": "first",
        "map_index": -1,
        "state": "success",
        "try_number": 1,
        "finished": True,
    }
    assert ran.client.get("/ui/dags/nope/grid").status_code == 404


# -- admin records ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"), [("viewer", 403), ("user", 403), ("op", 200), ("admin", 200)]
)
def test_variables_connections_pools_need_op(api: Api, role: str, expected: int) -> None:
    headers = session(api, role)
    store = api.runtime.store
    assert (
        api.client.post(
            "/ui/variables", json={"key": "k", "value": "v"}, headers=headers
        ).status_code
        == expected
    )
    assert (
        api.client.post("/ui/pools", json={"name": "p", "slots": 3}, headers=headers).status_code
        == expected
    )
    assert (
        api.client.post(
            "/ui/connections", json={"conn_id": "c", "conn_type": "http"}, headers=headers
        ).status_code
        == expected
    )
    created = expected == 200
    assert (store.get_variable("k") is not None) == created
    assert (store.get_pool("p") is not None) == created
    assert (store.get_connection("c") is not None) == created
    if created:
        for path in ("/ui/variables/k", "/ui/pools/p", "/ui/connections/c"):
            assert api.client.delete(path, headers=headers).status_code == 200
        assert store.get_variable("k") is None and store.get_pool("p") is None


def test_admin_input_is_checked(api: Api) -> None:
    headers = session(api, "op")
    bad_key = api.client.post("/ui/variables", json={"key": " x", "value": "v"}, headers=headers)
    assert bad_key.status_code == 422 and bad_key.json()["detail"][0]["loc"] == ["body", "key"]
    assert (
        api.client.post("/ui/pools", json={"name": "p", "slots": -1}, headers=headers).status_code
        == 422
    )
    default = api.client.delete("/ui/pools/default_pool", headers=headers)
    assert default.status_code == 422 and "cannot be deleted" in default.json()["detail"][0]["msg"]
    assert api.client.delete("/ui/variables/nope", headers=headers).status_code == 404
    port = api.client.post(
        "/ui/connections", json={"conn_id": "c", "conn_type": "x", "port": 70000}, headers=headers
    )
    assert port.status_code == 422
    assert api.runtime.store.get_connection("c") is None


def test_connection_password_is_never_shown_and_kept_on_edit(api: Api) -> None:
    headers = session(api, "op")
    api.runtime.store.set_connection(
        Connection(
            conn_id="db",
            conn_type="postgres",
            host="h",
            login="me",
            password="s3cret-Pa55",
            extra={"sslmode": "require"},
        )
    )
    html = api.client.get("/admin/connections").text
    assert "s3cret-Pa55" not in html and "sslmode" not in html
    assert ">set</td>" in html
    api.client.post(
        "/ui/connections",
        json={"conn_id": "db", "conn_type": "postgres", "host": "h2", "password": ""},
        headers=headers,
    )
    conn = api.runtime.store.get_connection("db")
    assert conn is not None and conn.host == "h2" and conn.password == "s3cret-Pa55"
    assert conn.extra == {"sslmode": "require"}


def test_users_are_for_admins_only(api: Api) -> None:
    op = session(api, "op")
    refused = api.client.post(
        "/ui/users",
        json={"username": "new", "role": "viewer", "password": "long-enough-1"},
        headers=op,
    )
    assert refused.status_code == 403
    assert api.runtime.store.get_user("new") is None

    admin = session(api, "admin")
    created = api.client.post(
        "/ui/users",
        json={"username": "new", "role": "viewer", "password": "long-enough-1"},
        headers=admin,
    )
    assert created.status_code == 200
    assert (
        api.client.post(
            "/ui/users",
            json={"username": "new", "role": "viewer", "password": "long-enough-1"},
            headers=admin,
        ).status_code
        == 409
    )
    short = api.client.post(
        "/ui/users", json={"username": "x", "role": "viewer", "password": "short"}, headers=admin
    )
    assert short.status_code == 422
    role = api.client.patch("/ui/users/new", json={"role": "op"}, headers=admin)
    assert role.json() == {"username": "new", "role": "op", "active": True}
    myself = api.client.patch("/ui/users/admin", json={"role": "viewer"}, headers=admin)
    assert myself.status_code == 422
    assert api.client.delete("/ui/users/admin", headers=admin).status_code == 422
    assert api.client.delete("/ui/users/new", headers=admin).status_code == 200
    assert api.runtime.store.get_user("new") is None
    assert api.runtime.store.get_user("admin") is not None


def test_the_log_of_a_sensor_waiting_to_poke_again_stays_live(ran: Api) -> None:
    """A sensor in reschedule mode writes its next poke to the same try's log: the page
    keeps tailing it, as the REST API's logs route does (both ask LOG_MAY_GROW)."""
    from slipstream.execution.logs import log_path
    from slipstream.executors.base import TaskInstanceKey
    from slipstream.metadata.records import TaskInstanceRef, TaskInstanceUpdate
    from slipstream.state import TaskInstanceState as S

    login(ran, "viewer")
    second = ran.runtime.trigger("demo", run_id="waiting")
    ran.runtime.scheduler.start_run(second)
    ti = ran.runtime.store.get_task_instance(
        TaskInstanceRef(dag_id="demo", run_id="waiting", task_id="first")
    )
    assert ti is not None
    path = "/ui/dags/demo/runs/waiting/tasks/first/log"
    steps = (
        (S.NONE, S.SCHEDULED),
        (S.SCHEDULED, S.QUEUED),
        (S.QUEUED, S.RUNNING),
        (S.RUNNING, S.UP_FOR_RESCHEDULE),
    )
    for old, new in steps:
        fields = {"try_number": 1} if new == S.RUNNING else {}
        ran.runtime.store.update_task_instances(
            [TaskInstanceUpdate(ti_id=ti.id, state=new, expected_state=old, fields=fields)]
        )
        if new == S.RUNNING:
            key = TaskInstanceKey(dag_id="demo", run_id="waiting", task_id="first", try_number=1)
            log = log_path(ran.home / "logs", key)
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text("poke 1: not yet\n", encoding="utf-8")
    waiting = ran.client.get(path, params={"try_number": 1}).json()
    assert waiting["state"] == "up_for_reschedule"
    assert waiting["text"] == "poke 1: not yet\n" and waiting["done"] is False
