"""``/api/v2/dags/{dag_id}/dagRuns``: trigger, list (one DAG and ``~``), batch list, get,
mark (PATCH), delete and clear, as Airflow 3's clients call them."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from slipstream import DAG
from slipstream.metadata.records import DagRun, TaskInstanceUpdate
from slipstream.models.param import Param
from slipstream.operators.empty import EmptyOperator
from slipstream.operators.python import PythonOperator
from slipstream.state import DagRunState
from slipstream.state import TaskInstanceState as TIS
from tests.api.conftest import Api
from tests.api.support import assert_shape, roleless_headers

START = datetime(2026, 1, 1, tzinfo=UTC)
RUNS = "/api/v2/dags/{}/dagRuns"


def _boom() -> None:
    raise RuntimeError("boom")


def _register_chain(api: Api, dag_id: str = "chain", *, paused: bool = True) -> None:
    """``ok >> bad >> after``: runs end failed, with one of each finished state. Paused,
    so that the scheduler adds no runs of its own; the tests start theirs."""
    with DAG(dag_id, schedule="@daily", start_date=START, catchup=False) as dag:
        ok = EmptyOperator(task_id="ok")
        bad = PythonOperator(task_id="bad", python_callable=_boom)
        after = EmptyOperator(task_id="after")
        ok >> bad >> after
    api.runtime.register(dag, paused=paused)


def _register_params(api: Api, *, paused: bool = True) -> None:
    with DAG(
        "params",
        schedule="@daily",
        start_date=START,
        params={"n": Param(1, type="integer", minimum=0)},
    ) as dag:
        EmptyOperator(task_id="t")
    api.runtime.register(dag, paused=paused)


def _states(api: Api, dag_id: str, run_id: str) -> dict[str, str]:
    run = api.runtime.store.get_dag_run(dag_id, run_id)
    assert run is not None
    return api.runtime.task_states(run)


def _run_count(api: Api) -> int:
    return api.runtime.store.list_dag_runs(limit=0).total


def _set_ti(api: Api, run: DagRun, task_id: str, *path: TIS) -> None:
    """Walk one task instance through legal states (as the scheduler and a worker would)."""
    store = api.runtime.store
    ti = next(
        ti
        for ti in store.list_task_instances(dag_ids=[run.dag_id], run_ids=[run.run_id]).items
        if ti.task_id == task_id
    )
    for state in path:
        store.update_task_instances([TaskInstanceUpdate(ti_id=ti.id, state=state)])


# -- trigger -----------------------------------------------------------------------------


def test_trigger_queues_a_run_that_then_runs(api: Api) -> None:
    _register_params(api)
    response = api.post(
        RUNS.format("params"),
        role="user",
        json={
            "dag_run_id": "from_api",
            "logical_date": "2026-02-01T00:00:00Z",
            "conf": {"n": 5},
            "note": "by hand",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert_shape(body, "DAGRunResponse")
    assert body["dag_run_id"] == "from_api"
    assert (body["state"], body["run_type"], body["triggered_by"]) == (
        "queued",
        "manual",
        "rest_api",
    )
    assert body["triggering_user_name"] == "user"
    assert (body["conf"], body["note"]) == ({"n": 5}, "by hand")
    assert body["logical_date"].startswith("2026-02-01T00:00:00")
    # As the CLI does: the @daily interval that starts at the logical date.
    assert body["data_interval_start"].startswith("2026-02-01T00:00:00")
    assert body["data_interval_end"].startswith("2026-02-02T00:00:00")
    assert [v["version_number"] for v in body["dag_versions"]] == [1]
    assert_shape(body["dag_versions"][0], "DagVersionResponse")
    # A paused DAG can be triggered (as in Airflow) and stays paused.
    assert api.runtime.store.get_dag("params").is_paused  # type: ignore[union-attr]
    run = api.runtime.store.get_dag_run("params", "from_api")
    assert run is not None
    assert api.runtime.wait(run).state == DagRunState.SUCCESS
    assert api.get(RUNS.format("params") + "/from_api", role="viewer").json()["state"] == "success"


def test_trigger_without_a_logical_date(api: Api) -> None:
    _register_params(api)
    response = api.post(
        RUNS.format("params"),
        json={
            "logical_date": None,
            # Without a logical date Airflow ignores a data interval; so does slipstream.
            "data_interval_start": "2026-01-01T00:00:00Z",
            "data_interval_end": "2026-01-02T00:00:00Z",
            "run_after": "2026-03-01T10:00:00+02:00",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["logical_date"] is None
    assert body["data_interval_start"] is None and body["data_interval_end"] is None
    assert body["run_after"].startswith("2026-03-01T08:00:00")
    assert body["dag_run_id"].startswith("manual__2026-03-01T08:00:00")
    assert body["conf"] == {}


def test_trigger_with_an_explicit_data_interval(api: Api) -> None:
    _register_params(api)
    body = api.post(
        RUNS.format("params"),
        json={
            "logical_date": "2026-02-01T00:00:00Z",
            "data_interval_start": "2026-01-01T00:00:00Z",
            "data_interval_end": "2026-01-31T00:00:00Z",
        },
    ).json()
    assert body["data_interval_start"].startswith("2026-01-01T00:00:00")
    assert body["data_interval_end"].startswith("2026-01-31T00:00:00")


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ({}, 422, "logical_date"),
        ({"logical_date": None, "conf": [1, 2]}, 422, "object"),
        ({"logical_date": None, "conf": {"n": -1}}, 400, "invalid conf for DAG 'params'"),
        ({"logical_date": None, "conf": {"n": "many"}}, 400, "invalid conf"),
        ({"logical_date": "2026-02-01T00:00:00"}, 422, "timezone"),
        ({"logical_date": "yesterday"}, 422, "datetime"),
        (
            {"logical_date": "2026-02-01T00:00:00Z", "data_interval_start": "2026-01-01T00:00:00Z"},
            422,
            "both data_interval_start and data_interval_end",
        ),
        ({"logical_date": None, "partition_key": "p"}, 422, "partition_key"),
    ],
)
def test_trigger_refuses_bad_input_and_writes_nothing(
    api: Api, body: dict[str, Any], status: int, text: str
) -> None:
    _register_params(api)
    response = api.post(RUNS.format("params"), json=body)
    assert response.status_code == status, response.text
    assert text in str(response.json()["detail"])
    assert _run_count(api) == 0


def test_trigger_refusals_by_dag_run_and_caller(api: Api) -> None:
    _register_params(api)
    unknown = api.post(RUNS.format("nope"), json={"logical_date": None})
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "DAG with dag_id: 'nope' not found"}
    first = api.post(RUNS.format("params"), json={"logical_date": None, "dag_run_id": "r1"})
    assert first.status_code == 200
    again = api.post(RUNS.format("params"), json={"logical_date": None, "dag_run_id": "r1"})
    assert again.status_code == 409
    assert "r1" in again.json()["detail"]
    day = {"logical_date": "2026-02-01T00:00:00Z"}
    assert api.post(RUNS.format("params"), json=day).status_code == 200
    assert api.post(RUNS.format("params"), json=day).status_code == 409  # same logical date
    viewer = api.post(RUNS.format("params"), role="viewer", json={"logical_date": None})
    assert viewer.status_code == 403
    anonymous = api.client.post(RUNS.format("params"), json={"logical_date": None})
    assert anonymous.status_code == 401
    assert _run_count(api) == 2


def test_trigger_refuses_a_dag_whose_file_fails_to_import(api: Api) -> None:
    source = api.home / "dags" / "filed.py"
    source.write_text(
        "from datetime import UTC, datetime\n"
        "from slipstream import DAG\n"
        "from slipstream.operators.empty import EmptyOperator\n"
        "with DAG('filed', schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC)):\n"
        "    EmptyOperator(task_id='t')\n"
    )
    api.runtime.parse()
    source.write_text(source.read_text() + "broken(\n")
    later = time.time() + 5
    os.utime(source, (later, later))
    api.runtime.parse()
    response = api.post(RUNS.format("filed"), json={"logical_date": None})
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "DAG with dag_id: 'filed' has import errors and cannot be triggered"
    )
    assert _run_count(api) == 0


# -- list, batch list, get -------------------------------------------------------------------


def _some_runs(api: Api) -> None:
    """chain: five runs a day apart (day 0 running, day 1 failed, others queued); other: one."""
    _register_chain(api, "chain")
    _register_chain(api, "other")
    for day in range(5):
        api.runtime.trigger("chain", logical_date=START + timedelta(days=day), run_id=f"d{day}")
    api.runtime.trigger("other", logical_date=START, run_id="o0")
    store = api.runtime.store
    store.set_dag_run_state("chain", "d0", DagRunState.RUNNING)
    store.set_dag_run_state("chain", "d1", DagRunState.RUNNING)
    store.set_dag_run_state("chain", "d1", DagRunState.FAILED)


def test_list_runs_filters_paginates_and_orders(api: Api) -> None:
    _some_runs(api)
    every = api.get(RUNS.format("chain"), role="viewer").json()
    assert every["total_entries"] == 5
    assert [r["dag_run_id"] for r in every["dag_runs"]] == ["d0", "d1", "d2", "d3", "d4"]
    assert_shape(every, "DAGRunCollectionResponse")
    assert_shape(every["dag_runs"][0], "DAGRunResponse")

    def ids(**params: Any) -> list[str]:
        response = api.get(RUNS.format(params.pop("dag", "chain")), params=params)
        assert response.status_code == 200, response.text
        return [r["dag_run_id"] for r in response.json()["dag_runs"]]

    assert ids(state=["queued"]) == ["d2", "d3", "d4"]
    assert ids(state=["running", "failed"]) == ["d0", "d1"]
    assert ids(run_type=["manual"]) == ["d0", "d1", "d2", "d3", "d4"]
    assert ids(run_type=["operator_triggered"]) == []  # Airflow's, never slipstream's
    jan2, jan4 = "2026-01-02T00:00:00Z", "2026-01-04T00:00:00Z"
    assert ids(logical_date_gte=jan2, logical_date_lte=jan4) == ["d1", "d2", "d3"]
    assert ids(logical_date_gt=jan2, logical_date_lt=jan4) == ["d2"]
    assert ids(logical_date_lte="2026-01-02T00:00:00") == ["d0", "d1"]  # naive = UTC
    assert ids(start_date_gte="2000-01-01T00:00:00Z") == ["d0", "d1"]
    assert ids(end_date_gte="2000-01-01T00:00:00Z") == ["d1"]
    assert ids(run_after_gte="2000-01-01T00:00:00Z", limit=2, offset=1) == ["d1", "d2"]
    assert ids(order_by="-logical_date") == ["d4", "d3", "d2", "d1", "d0"]
    assert ids(order_by="-dag_run_id", limit=1) == ["d4"]
    page = api.get(RUNS.format("chain"), params={"limit": 2, "offset": 4}).json()
    assert (page["total_entries"], len(page["dag_runs"])) == (5, 1)
    # "~": every DAG; dag_id_pattern narrows the DAGs.
    assert ids(dag="~", order_by="dag_id", limit=1) == ["d0"]
    assert api.get(RUNS.format("~")).json()["total_entries"] == 6
    assert ids(dag="~", dag_id_pattern="OTH") == ["o0"]


def test_list_runs_refusals(api: Api) -> None:
    _some_runs(api)
    unknown = api.get(RUNS.format("nope"))
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "The DAG with dag_id: `nope` was not found"}
    state = api.get(RUNS.format("chain"), params={"state": ["sleeping"]})
    assert state.status_code == 422
    assert "Invalid value for state: sleeping" in state.json()["detail"][0]["msg"]
    assert api.get(RUNS.format("chain"), params={"run_type": ["x"]}).status_code == 422
    assert api.get(RUNS.format("chain"), params={"limit": -1}).status_code == 422
    assert api.get(RUNS.format("chain"), params={"logical_date_gte": "soon"}).status_code == 422
    order = api.get(RUNS.format("chain"), params={"order_by": "conf"})
    assert order.status_code == 400
    assert "conf" in order.json()["detail"]
    unsupported = api.get(RUNS.format("chain"), params={"duration_gte": 3})
    assert unsupported.status_code == 422
    assert "duration_gte" in unsupported.json()["detail"][0]["msg"]
    assert api.client.get(RUNS.format("chain")).status_code == 401
    assert api.client.get(RUNS.format("chain"), headers=roleless_headers(api)).status_code == 403


def test_batch_list(api: Api) -> None:
    _some_runs(api)
    url = RUNS.format("~") + "/list"

    def ids(**body: Any) -> list[str]:
        response = api.post(url, role="viewer", json=body)
        assert response.status_code == 200, response.text
        return [r["dag_run_id"] for r in response.json()["dag_runs"]]

    assert ids() == ["d0", "d1", "d2", "d3", "d4", "o0"]
    assert ids(dag_ids=["other"]) == ["o0"]
    assert ids(states=["failed", "running"]) == ["d0", "d1"]
    assert ids(dag_ids=["chain"], order_by="-run_id", page_limit=2, page_offset=1) == ["d3", "d2"]
    assert ids(logical_date_gt="2026-01-04T00:00:00Z") == ["d4"]
    body = api.post(url, json={"page_limit": 1}).json()
    assert body["total_entries"] == 6 and len(body["dag_runs"]) == 1
    named = api.post(RUNS.format("chain") + "/list", json={})
    assert named.status_code == 422
    assert named.json()["detail"][0]["loc"] == ["path", "dag_id"]
    assert api.post(url, json={"page_limit": -1}).status_code == 422
    assert api.post(url, json={"states": ["sleeping"]}).status_code == 422
    assert api.post(url, json={"duration_gte": 1}).status_code == 422
    assert api.post(url, json={"order_by": "colour"}).status_code == 400
    assert api.client.post(url, json={}, headers=roleless_headers(api)).status_code == 403


def test_get_one_run(api: Api) -> None:
    _some_runs(api)
    run = api.get(RUNS.format("chain") + "/d1", role="viewer").json()
    assert_shape(run, "DAGRunResponse")
    assert (run["dag_run_id"], run["dag_id"], run["state"]) == ("d1", "chain", "failed")
    assert run["duration"] is not None and run["duration"] >= 0
    missing = api.get(RUNS.format("chain") + "/nope")
    assert missing.status_code == 404
    assert missing.json() == {
        "detail": "The DagRun with dag_id: `chain` and run_id: `nope` was not found"
    }
    assert api.client.get(RUNS.format("chain") + "/d1").status_code == 401


# -- mark (PATCH), delete ---------------------------------------------------------------------


def _failed_run(api: Api) -> None:
    _register_chain(api)
    run = api.runtime.trigger("chain", run_id="r1")
    assert api.runtime.wait(run).state == DagRunState.FAILED
    assert _states(api, "chain", "r1") == {
        "ok": "success",
        "bad": "failed",
        "after": "upstream_failed",
    }


def test_mark_success_makes_every_task_instance_successful(api: Api) -> None:
    _failed_run(api)
    response = api.patch(RUNS.format("chain") + "/r1", role="user", json={"state": "success"})
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "success"
    assert _states(api, "chain", "r1") == {"ok": "success", "bad": "success", "after": "success"}


def test_mark_failed_fails_tries_in_flight_and_skips_the_rest(api: Api) -> None:
    _register_chain(api)
    run = api.runtime.trigger("chain", run_id="r1")
    api.runtime.scheduler.start_run(run)  # running, task instances created
    _set_ti(api, run, "ok", TIS.SCHEDULED, TIS.QUEUED, TIS.RUNNING)
    response = api.patch(RUNS.format("chain") + "/r1", json={"state": "failed"})
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "failed"
    assert _states(api, "chain", "r1") == {"ok": "failed", "bad": "skipped", "after": "skipped"}


def test_mark_queued_leaves_task_instances_alone(api: Api) -> None:
    _failed_run(api)
    response = api.patch(RUNS.format("chain") + "/r1", json={"state": "queued"})
    assert response.json()["state"] == "queued"
    assert _states(api, "chain", "r1")["bad"] == "failed"


def test_note_and_update_mask(api: Api) -> None:
    _failed_run(api)
    url = RUNS.format("chain") + "/r1"
    noted = api.patch(url, json={"note": "looked at it"}).json()
    assert (noted["note"], noted["state"]) == ("looked at it", "failed")
    # Only the fields in update_mask apply.
    both = {"state": "success", "note": "x"}
    masked = api.patch(url, params={"update_mask": ["note"]}, json=both)
    assert (masked.json()["note"], masked.json()["state"]) == ("x", "failed")
    # A field not sent is left alone; null clears the note.
    assert api.patch(url, json={"state": "queued"}).json()["note"] == "x"
    assert api.patch(url, json={"note": None}).json()["note"] is None


def test_patch_refusals(api: Api) -> None:
    _failed_run(api)
    url = RUNS.format("chain") + "/r1"
    running = api.patch(url, json={"state": "running"})
    assert running.status_code == 422
    assert running.json()["detail"][0]["loc"] == ["body", "state"]
    too_long = api.patch(url, json={"note": "x" * 1001})
    assert too_long.status_code == 422
    assert "at most 1000 characters" in too_long.json()["detail"][0]["msg"]
    assert api.patch(RUNS.format("chain") + "/nope", json={"state": "failed"}).status_code == 404
    viewer = api.patch(url, role="viewer", json={"state": "success"})
    assert viewer.status_code == 403
    assert api.client.patch(url, json={"state": "success"}).status_code == 401
    run = api.runtime.store.get_dag_run("chain", "r1")
    assert run is not None and run.state == DagRunState.FAILED and run.note is None
    assert _states(api, "chain", "r1")["bad"] == "failed"


def test_delete_run(api: Api) -> None:
    _failed_run(api)
    url = RUNS.format("chain") + "/r1"
    assert api.delete(url, role="viewer").status_code == 403
    assert api.client.delete(url).status_code == 401
    response = api.delete(url, role="user")
    assert response.status_code == 204
    assert api.runtime.store.get_dag_run("chain", "r1") is None
    assert api.runtime.store.list_task_instances(dag_ids=["chain"]).total == 0
    again = api.delete(url)
    assert again.status_code == 404


# -- clear ------------------------------------------------------------------------------------


def test_clear_is_a_dry_run_by_default(api: Api) -> None:
    _failed_run(api)
    url = RUNS.format("chain") + "/r1/clear"
    response = api.post(url, role="user", json={})
    assert response.status_code == 200, response.text
    body = response.json()
    assert_shape(body, "ClearTaskInstanceCollectionResponse")
    assert body["total_entries"] == 3
    assert sorted(ti["task_id"] for ti in body["task_instances"]) == ["after", "bad", "ok"]
    assert_shape(body["task_instances"][0], "TaskInstanceResponse")
    failed_only = api.post(url, json={"only_failed": True}).json()
    assert sorted(ti["task_id"] for ti in failed_only["task_instances"]) == ["after", "bad"]
    # Nothing changed.
    assert _states(api, "chain", "r1")["bad"] == "failed"
    assert api.runtime.store.get_dag_run("chain", "r1").state == DagRunState.FAILED  # type: ignore[union-attr]


def test_clear_for_real_queues_the_run_again(api: Api) -> None:
    _failed_run(api)
    response = api.post(
        RUNS.format("chain") + "/r1/clear",
        json={"dry_run": False, "only_failed": True, "note": "retrying"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert_shape(body, "DAGRunResponse")
    assert (body["state"], body["note"]) == ("queued", "retrying")
    assert _states(api, "chain", "r1") == {"ok": "success", "bad": "none", "after": "none"}
    run = api.runtime.store.get_dag_run("chain", "r1")
    assert run is not None
    assert api.runtime.wait(run).state == DagRunState.FAILED  # "bad" fails again
    tries = [
        ti.try_number
        for ti in api.runtime.store.list_task_instances(dag_ids=["chain"]).items
        if ti.task_id == "bad"
    ]
    assert tries == [2]


def test_clear_options_and_refusals(api: Api) -> None:
    _failed_run(api)
    url = RUNS.format("chain") + "/r1/clear"
    only_new = api.post(url, json={"only_new": True})
    assert only_new.status_code == 422
    assert "only_new" in only_new.json()["detail"][0]["msg"]
    latest = api.post(url, json={"run_on_latest_version": True})  # a dry run by default
    assert latest.status_code == 200
    assert {ti["task_id"] for ti in latest.json()["task_instances"]} >= {"bad"}
    assert api.post(url, json={"dry_run": "maybe"}).status_code == 422
    assert api.post(RUNS.format("chain") + "/nope/clear", json={}).status_code == 404
    assert api.post(url, role="viewer", json={}).status_code == 403
    assert api.client.post(url, json={}).status_code == 401
    assert api.runtime.store.get_dag_run("chain", "r1").state == DagRunState.FAILED  # type: ignore[union-attr]
