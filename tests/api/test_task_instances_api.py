"""``/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances``: listing (one run, ``~``,
batch), one instance, mapped instances, tries, marking, and clearing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from slipstream import DAG, task
from slipstream.metadata.records import DagRun, TaskInstanceRef
from slipstream.operators.empty import EmptyOperator
from tests.api.conftest import Api

START = datetime(2026, 1, 1, tzinfo=UTC)
BASE = "/api/v2/dags/etl/dagRuns/{run}/taskInstances"


def _etl() -> DAG:
    with DAG("etl", schedule=None, start_date=START) as dag:

        @task
        def work() -> int:
            print("working hard")
            return 42

        @task
        def double(x: int) -> int:
            return 2 * x

        EmptyOperator(task_id="begin") >> work() >> EmptyOperator(task_id="end")
        double.expand(x=[1, 2, 3])
    return dag


def _broken() -> DAG:
    with DAG("broken", schedule=None, start_date=START) as dag:

        @task
        def boom() -> None:
            raise RuntimeError("no luck")

        boom() >> EmptyOperator(task_id="after")
    return dag


@pytest.fixture
def runs(api: Api) -> dict[str, DagRun]:
    """A finished run of ``etl`` (all success) and of ``broken`` (failed)."""
    api.runtime.register(_etl(), _broken())
    etl = api.runtime.wait(api.runtime.trigger("etl", run_id="r1"))
    broken = api.runtime.wait(api.runtime.trigger("broken", run_id="b1"))
    assert etl.state == "success" and broken.state == "failed"
    return {"etl": etl, "broken": broken}


def _ids(response: Any) -> list[tuple[str, int]]:
    body = response.json()
    assert response.status_code == 200, body
    return [(ti["task_id"], ti["map_index"]) for ti in body["task_instances"]]


def test_list_one_run_with_airflows_fields(api: Api, runs: dict[str, DagRun]) -> None:
    response = api.get(BASE.format(run="r1"), role="viewer")
    body = response.json()
    assert body["total_entries"] == 6
    work = next(ti for ti in body["task_instances"] if ti["task_id"] == "work")
    assert work["state"] == "success"
    assert work["dag_run_id"] == "r1" and work["dag_id"] == "etl"
    assert work["try_number"] == 1 and work["map_index"] == -1
    assert work["operator"] == work["operator_name"]
    assert work["duration"] is not None and work["start_date"] and work["end_date"]
    assert work["run_after"] and work["executor_config"] == "{}"
    assert work["note"] is None and work["rendered_map_index"] is None
    assert str(uuid.UUID(work["id"])) == work["id"]
    assert work["dag_version"]["version_number"] == 1
    assert work["dag_version"]["dag_id"] == "etl"
    mapped = [ti for ti in body["task_instances"] if ti["task_id"] == "double"]
    assert sorted(ti["rendered_map_index"] for ti in mapped) == ["0", "1", "2"]


def test_list_filters_paginates_and_orders(api: Api, runs: dict[str, DagRun]) -> None:
    path = BASE.format(run="r1")
    assert _ids(api.get(path, params={"task_id": "work"})) == [("work", -1)]
    assert len(_ids(api.get(path, params={"map_index": [0, 1]}))) == 2
    assert len(_ids(api.get(path, params={"state": ["success"]}))) == 6
    assert _ids(api.get(path, params={"state": ["failed", "none"]})) == []
    assert len(_ids(api.get(path, params={"pool": ["default_pool"]}))) == 6
    assert _ids(api.get(path, params={"queue": ["elsewhere"]})) == []
    assert len(_ids(api.get(path, params={"duration_gte": 0}))) == 6
    assert _ids(api.get(path, params={"start_date_lte": "2000-01-01T00:00:00"})) == []
    page = api.get(path, params={"order_by": "-task_id", "limit": 2, "offset": 1}).json()
    assert page["total_entries"] == 6
    assert [ti["task_id"] for ti in page["task_instances"]] == ["end", "double"]
    ordered = _ids(api.get(path, params={"order_by": ["task_id", "map_index"]}))
    assert ordered[0] == ("begin", -1)


def test_tilde_lists_across_runs_and_dags(api: Api, runs: dict[str, DagRun]) -> None:
    everything = api.get("/api/v2/dags/~/dagRuns/~/taskInstances").json()
    assert everything["total_entries"] == 8
    dags = {ti["dag_id"] for ti in everything["task_instances"]}
    assert dags == {"etl", "broken"}
    failed = api.get("/api/v2/dags/~/dagRuns/~/taskInstances", params={"state": "failed"})
    assert _ids(failed) == [("boom", -1)]
    one_dag = api.get("/api/v2/dags/broken/dagRuns/~/taskInstances").json()
    assert one_dag["total_entries"] == 2


def test_list_refusals(api: Api, runs: dict[str, DagRun]) -> None:
    path = BASE.format(run="r1")
    assert api.client.get(path).status_code == 401
    unknown_dag = api.get("/api/v2/dags/nope/dagRuns/r1/taskInstances")
    assert unknown_dag.status_code == 404
    assert unknown_dag.json()["detail"] == "The Dag with ID: `nope` was not found"
    unknown_run = api.get(BASE.format(run="nope"))
    assert unknown_run.status_code == 404
    assert "`nope`" in unknown_run.json()["detail"]
    bad_state = api.get(path, params={"state": "sleepy"})
    assert bad_state.status_code == 422
    assert "sleepy" in bad_state.json()["detail"][0]["msg"]
    bad_order = api.get(path, params={"order_by": "colour"})
    assert bad_order.status_code == 400
    assert "colour" in bad_order.json()["detail"]
    assert api.get(path, params={"limit": -1}).status_code == 422
    assert api.get(path, params={"start_date_gte": "yesterday"}).status_code == 422
    backwards = api.get(path, params={"duration_gte": 5, "duration_lte": 1})
    assert backwards.status_code == 422


def test_batch_listing(api: Api, runs: dict[str, DagRun]) -> None:
    path = "/api/v2/dags/~/dagRuns/~/taskInstances/list"
    body = {"dag_ids": ["etl"], "task_ids": ["double"], "page_limit": 2, "order_by": "-map_index"}
    response = api.post(path, role="viewer", json=body)
    assert response.status_code == 200
    assert response.json()["total_entries"] == 3
    assert _ids(response) == [("double", 2), ("double", 1)]
    states = api.post(path, json={"state": ["failed", None]})
    assert _ids(states) == [("boom", -1)]
    runs_only = api.post(path, json={"dag_run_ids": ["b1"]})
    assert len(_ids(runs_only)) == 2
    assert api.client.post(path, json={}).status_code == 401
    wrong_path = api.post("/api/v2/dags/etl/dagRuns/~/taskInstances/list", json={})
    assert wrong_path.status_code == 422
    assert "dags/~/dagRuns/~" in wrong_path.json()["detail"][0]["msg"]
    assert api.post(path, json={"page_limit": -1}).status_code == 422
    assert api.post(path, json={"state": ["sleepy"]}).status_code == 422


def test_get_one_and_mapped(api: Api, runs: dict[str, DagRun]) -> None:
    path = BASE.format(run="r1")
    work = api.get(f"{path}/work", role="viewer")
    assert work.status_code == 200 and work.json()["state"] == "success"
    second = api.get(f"{path}/double/1").json()
    assert (second["task_id"], second["map_index"], second["state"]) == ("double", 1, "success")
    whole = api.get(f"{path}/double")
    assert whole.status_code == 404
    assert whole.json()["detail"] == "Task instance is mapped, add the map_index value to the URL"
    missing = api.get(f"{path}/nope")
    assert missing.status_code == 404
    assert "task_id: `nope`" in missing.json()["detail"]
    assert api.get(f"{path}/double/7").status_code == 404
    assert api.client.get(f"{path}/work").status_code == 401

    mapped = api.get(f"{path}/double/listMapped", params={"limit": 2, "order_by": "-map_index"})
    assert mapped.json()["total_entries"] == 3
    assert _ids(mapped) == [("double", 2), ("double", 1)]
    assert api.get(f"{path}/work/listMapped").status_code == 404


def test_tries(api: Api, runs: dict[str, DagRun]) -> None:
    path = BASE.format(run="r1")
    tries = api.get(f"{path}/work/tries", role="viewer").json()
    assert tries["total_entries"] == 1
    first = tries["task_instances"][0]
    assert (first["try_number"], first["state"]) == (1, "success")
    one = api.get(f"{path}/work/tries/1").json()
    assert one["task_id"] == "work" and one["try_number"] == 1
    mapped = api.get(f"{path}/double/2/tries").json()
    assert mapped["task_instances"][0]["map_index"] == 2
    assert api.get(f"{path}/double/2/tries/1").json()["map_index"] == 2
    assert api.get(f"{path}/double/tries/1", params={"map_index": 0}).status_code == 200
    absent = api.get(f"{path}/work/tries/5")
    assert absent.status_code == 404
    assert "try_number: `5`" in absent.json()["detail"]
    assert api.get(f"{path}/nope/tries").status_code == 404


def _states(api: Api, run: DagRun) -> dict[str, str]:
    return api.runtime.task_states(api.runtime.store.get_dag_run(run.dag_id, run.run_id))  # type: ignore[arg-type]


def test_mark_failed_with_downstream(api: Api, runs: dict[str, DagRun]) -> None:
    path = BASE.format(run="r1")
    body = {"new_state": "failed", "include_downstream": True}
    preview = api.patch(f"{path}/work/dry_run", role="user", json=body)
    assert sorted(_ids(preview)) == [("end", -1), ("work", -1)]
    assert _states(api, runs["etl"])["work"] == "success"  # a dry run changes nothing

    marked = api.patch(f"{path}/work", role="user", json=body)
    assert sorted(_ids(marked)) == [("end", -1), ("work", -1)]
    assert {ti["state"] for ti in marked.json()["task_instances"]} == {"failed"}
    states = _states(api, runs["etl"])
    assert (states["work"], states["end"], states["begin"]) == ("failed", "failed", "success")

    again = api.patch(f"{path}/work", role="user", json={"new_state": "failed"})
    assert again.status_code == 409
    assert again.json()["detail"] == "Task id work is already in failed state"


def test_mark_one_map_index_and_upstream(api: Api, runs: dict[str, DagRun]) -> None:
    path = BASE.format(run="r1")
    one = api.patch(f"{path}/double/1", json={"new_state": "skipped"})
    assert _ids(one) == [("double", 1)]
    assert _states(api, runs["etl"])["double[1]"] == "skipped"
    assert _states(api, runs["etl"])["double[0]"] == "success"
    upstream = api.patch(f"{path}/end", json={"new_state": "skipped", "include_upstream": True})
    assert sorted(_ids(upstream)) == [("begin", -1), ("end", -1), ("work", -1)]


def test_marking_success_resumes_the_failed_run(api: Api, runs: dict[str, DagRun]) -> None:
    marked = api.patch(
        "/api/v2/dags/broken/dagRuns/b1/taskInstances/boom", json={"new_state": "success"}
    )
    assert _ids(marked) == [("boom", -1)]
    run = api.runtime.store.get_dag_run("broken", "b1")
    assert run is not None and run.state == "queued"  # "after" was cleared to run again
    final = api.runtime.wait(run)
    assert final.state == "success"
    assert _states(api, final) == {"boom": "success", "after": "success"}


def test_mark_refusals_change_nothing(api: Api, runs: dict[str, DagRun]) -> None:
    path = BASE.format(run="r1")
    before = _states(api, runs["etl"])
    viewer = api.patch(f"{path}/work", role="viewer", json={"new_state": "failed"})
    assert viewer.status_code == 403
    assert api.client.patch(f"{path}/work", json={"new_state": "failed"}).status_code == 401
    running = api.patch(f"{path}/work", json={"new_state": "running"})
    assert running.status_code == 422
    assert "should be one of" in running.json()["detail"][0]["msg"]
    assert api.patch(f"{path}/work", json={"new_state": "sleepy"}).status_code == 422
    assert api.patch(f"{path}/work", json={}).status_code == 422
    long_note = api.patch(f"{path}/work", json={"new_state": "failed", "note": "x" * 1001})
    assert long_note.status_code == 422
    assert "at most 1000" in long_note.json()["detail"][0]["msg"]
    masked = api.patch(
        f"{path}/work", params={"update_mask": ["pool"]}, json={"new_state": "failed"}
    )
    assert masked.status_code == 400
    assert api.patch(f"{path}/nope", json={"new_state": "failed"}).status_code == 404
    assert api.patch(f"{path}/double/9", json={"new_state": "failed"}).status_code == 404
    assert (
        api.patch(BASE.format(run="zz") + "/work", json={"new_state": "failed"}).status_code == 404
    )
    assert _states(api, runs["etl"]) == before


CLEAR = "/api/v2/dags/{dag}/clearTaskInstances"


def test_clear_dry_run_then_for_real(api: Api, runs: dict[str, DagRun]) -> None:
    path = CLEAR.format(dag="broken")
    preview = api.post(path, role="user", json={})
    assert preview.status_code == 200
    # dry_run and only_failed are true unless set: the failed and upstream_failed ones.
    assert sorted(_ids(preview)) == [("after", -1), ("boom", -1)]
    assert _states(api, runs["broken"]) == {"boom": "failed", "after": "upstream_failed"}

    cleared = api.post(path, role="user", json={"dry_run": False, "task_ids": ["after"]})
    assert _ids(cleared) == [("after", -1)]
    assert cleared.json()["task_instances"][0]["state"] is None
    run = api.runtime.store.get_dag_run("broken", "b1")
    assert run is not None and run.state == "queued"


def test_clear_with_downstream_map_index_and_run(api: Api, runs: dict[str, DagRun]) -> None:
    path = CLEAR.format(dag="etl")
    body: dict[str, Any] = {"only_failed": False, "dag_run_id": "r1"}
    work = api.post(path, json={**body, "task_ids": ["work"], "include_downstream": True})
    assert sorted(_ids(work)) == [("end", -1), ("work", -1)]
    pairs = api.post(path, json={**body, "task_ids": [["double", 0], ["double", 2]]})
    assert sorted(_ids(pairs)) == [("double", 0), ("double", 2)]
    cleared = api.post(path, json={**body, "task_ids": [["double", 1]], "dry_run": False})
    assert _ids(cleared) == [("double", 1)]
    assert _states(api, runs["etl"])["double[1]"] == "none"
    final = api.runtime.wait(api.runtime.store.get_dag_run("etl", "r1"))  # type: ignore[arg-type]
    assert final.state == "success"
    tries = api.get(BASE.format(run="r1") + "/double/1/tries").json()
    assert [t["try_number"] for t in tries["task_instances"]] == [1, 2]
    running = api.post(path, json={**body, "only_running": True})
    assert _ids(running) == []


def test_clear_refusals_change_nothing(api: Api, runs: dict[str, DagRun]) -> None:
    path = CLEAR.format(dag="broken")
    before = _states(api, runs["broken"])
    assert api.post(path, role="viewer", json={"dry_run": False}).status_code == 403
    assert api.client.post(path, json={"dry_run": False}).status_code == 401
    assert api.post(CLEAR.format(dag="nope"), json={}).status_code == 404
    unknown_run = api.post(path, json={"dry_run": False, "dag_run_id": "zz"})
    assert unknown_run.status_code == 404
    assert unknown_run.json()["detail"] == "Dag Run id zz not found in dag broken"
    both = api.post(path, json={"dry_run": False, "only_running": True})
    assert both.status_code == 422
    bad_pair = api.post(path, json={"dry_run": False, "task_ids": [["boom", "x"]]})
    assert bad_pair.status_code == 422
    assert api.post(path, json={"dry_run": "perhaps"}).status_code == 422
    backwards = api.post(
        path,
        json={
            "dry_run": False,
            "start_date": "2026-02-01T00:00:00Z",
            "end_date": "2026-01-01T00:00:00Z",
        },
    )
    assert backwards.status_code == 422
    assert _states(api, runs["broken"]) == before
    assert api.runtime.store.get_dag_run("broken", "b1").state == "failed"  # type: ignore[union-attr]


def test_notes_on_task_instances(api: Api, runs: dict[str, DagRun]) -> None:
    path = BASE.format(run="r1")
    noted = api.patch(f"{path}/work", role="user", json={"note": "looked at it"})
    assert noted.status_code == 200
    assert [ti["note"] for ti in noted.json()["task_instances"]] == ["looked at it"]
    assert api.get(f"{path}/work").json()["note"] == "looked at it"
    assert _states(api, runs["etl"])["work"] == "success"  # a note alone marks nothing
    listed = api.get(path, params={"task_id": "work"}).json()["task_instances"]
    assert listed[0]["note"] == "looked at it"

    kept = api.patch(f"{path}/work", json={"new_state": "skipped"})
    assert kept.json()["task_instances"][0]["note"] == "looked at it"
    cleared = api.patch(f"{path}/work", params={"update_mask": ["note"]}, json={"note": None})
    assert cleared.json()["task_instances"][0]["note"] is None

    every_index = api.patch(f"{path}/double", json={"new_state": "failed", "note": "bad input"})
    assert sorted(ti["note"] for ti in every_index.json()["task_instances"]) == ["bad input"] * 3
    dry = api.patch(f"{path}/end/dry_run", json={"note": "not saved"})
    assert _ids(dry) == [("end", -1)]
    assert api.get(f"{path}/end").json()["note"] is None

    body = {"dry_run": False, "only_failed": False, "task_ids": ["begin"], "note": "rerun"}
    rerun = api.post("/api/v2/dags/etl/clearTaskInstances", json=body)
    assert [ti["note"] for ti in rerun.json()["task_instances"]] == ["rerun"]
    ti = api.runtime.store.get_task_instance(
        TaskInstanceRef(dag_id="etl", run_id="r1", task_id="begin")
    )
    assert ti is not None
    assert api.runtime.store.get_task_instance_notes([ti.id]) == {ti.id: "rerun"}


def test_clear_on_the_latest_version(api: Api, runs: dict[str, DagRun]) -> None:
    body = {"dry_run": False, "only_failed": False, "run_on_latest_version": True}
    response = api.post(CLEAR.format(dag="broken"), json=body)
    assert response.status_code == 200
    assert sorted(_ids(response)) == [("after", -1), ("boom", -1)]
