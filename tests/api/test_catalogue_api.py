"""``/importErrors``, ``/plugins``, ``/dagStats``, ``/dagTags`` and ``/jobs``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from slipstream import DAG
from slipstream.metadata.records import JobState
from slipstream.operators.empty import EmptyOperator
from slipstream.plugins import hookimpl
from slipstream.state import DagRunState
from tests.api.conftest import Api
from tests.api.support import assert_shape, roleless_headers

START = datetime(2026, 1, 1, tzinfo=UTC)
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _read_only_refusals(api: Api, path: str) -> None:
    assert api.client.get(path).status_code == 401
    assert api.client.get(path, headers=roleless_headers(api)).status_code == 403


# -- import errors ----------------------------------------------------------------------------


def test_import_errors_listed_paged_ordered_and_one_by_one(api: Api) -> None:
    store = api.runtime.store
    store.replace_import_error("/dags/b.py", "Traceback b", T0)
    store.replace_import_error("/dags/a.py", "Traceback a", T0 + timedelta(seconds=1))
    store.replace_import_error("/dags/c.py", "Traceback c", T0 - timedelta(seconds=1))
    listing = api.get("/api/v2/importErrors", role="viewer").json()
    assert_shape(listing, "ImportErrorCollectionResponse")
    assert listing["total_entries"] == 3
    assert [e["filename"] for e in listing["import_errors"]] == [
        "/dags/b.py",
        "/dags/a.py",
        "/dags/c.py",
    ]
    first = listing["import_errors"][0]
    assert_shape(first, "ImportErrorResponse")
    assert (first["stack_trace"], first["bundle_name"]) == ("Traceback b", "dags-folder")

    def files(**params: Any) -> list[str]:
        return [
            e["filename"]
            for e in api.get("/api/v2/importErrors", params=params).json()["import_errors"]
        ]

    assert files(order_by="filename") == ["/dags/a.py", "/dags/b.py", "/dags/c.py"]
    assert files(order_by="-timestamp", limit=1) == ["/dags/a.py"]
    assert files(order_by="-import_error_id", offset=2) == ["/dags/b.py"]
    one = api.get(f"/api/v2/importErrors/{first['import_error_id']}").json()
    assert one == first


def test_import_error_refusals(api: Api) -> None:
    missing = api.get("/api/v2/importErrors/99")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "The ImportError with import_error_id: `99` was not found"}
    assert api.get("/api/v2/importErrors/x").status_code == 422
    assert api.get("/api/v2/importErrors", params={"order_by": "colour"}).status_code == 400
    assert api.get("/api/v2/importErrors", params={"offset": -1}).status_code == 422
    _read_only_refusals(api, "/api/v2/importErrors")
    _read_only_refusals(api, "/api/v2/importErrors/1")


def test_import_error_from_a_real_parse(api: Api) -> None:
    (api.home / "dags" / "broken.py").write_text(
        "from slipstream import DAG\nimport no_such_module_anywhere\n"
    )
    api.runtime.parse()
    errors = api.get("/api/v2/importErrors").json()["import_errors"]
    assert [e["filename"].rsplit("/", 1)[-1] for e in errors] == ["broken.py"]
    assert "no_such_module_anywhere" in errors[0]["stack_trace"]


# -- plugins ------------------------------------------------------------------------------------


class _Alerting:
    """A plugin registered in code that listens to run failures."""

    @hookimpl
    def on_dag_run_failed(self, dag_run: Any, msg: str) -> None:
        pass


def test_plugins_in_airflow_shape_with_slipstream_details(api: Api) -> None:
    api.runtime.plugins.register(_Alerting(), name="alerting")
    listing = api.get("/api/v2/plugins", role="viewer").json()
    assert_shape(listing, "PluginCollectionResponse")
    names = [p["name"] for p in listing["plugins"]]
    assert names == sorted(names)
    assert listing["total_entries"] == len(names) >= 2
    alerting = next(p for p in listing["plugins"] if p["name"] == "alerting")
    assert_shape(alerting, "PluginResponse")
    assert alerting["listeners"] == ["on_dag_run_failed"]
    assert alerting["source"] == "registered in code: alerting"
    assert (alerting["builtin"], alerting["status"]) == (False, "active")
    builtin = next(p for p in listing["plugins"] if p["builtin"])
    assert builtin["distribution"] == "slipstream"
    assert builtin["source"].startswith("slipstream==")
    provided = {f for p in listing["plugins"] for f in p["provides"]}
    assert {"executors", "operators", "metadata_backends"} <= provided
    page = api.get("/api/v2/plugins", params={"limit": 1, "offset": 1}).json()
    assert [p["name"] for p in page["plugins"]] == names[1:2]
    assert page["total_entries"] == len(names)
    failed = api.get("/api/v2/plugins/importErrors").json()
    assert_shape(failed, "PluginImportErrorCollectionResponse")
    assert failed == {"import_errors": [], "total_entries": 0}


def test_plugin_refusals(api: Api) -> None:
    assert api.get("/api/v2/plugins", params={"limit": -1}).status_code == 422
    _read_only_refusals(api, "/api/v2/plugins")
    _read_only_refusals(api, "/api/v2/plugins/importErrors")


# -- DAG stats and tags ---------------------------------------------------------------------------


def _register(api: Api, dag_id: str, tags: list[str]) -> None:
    with DAG(dag_id, schedule=None, start_date=START, tags=tags) as dag:
        EmptyOperator(task_id="t")
    api.runtime.register(dag, paused=True)


def test_dag_stats_count_runs_per_state(api: Api) -> None:
    _register(api, "alpha", [])
    _register(api, "beta", [])
    _register(api, "idle", [])
    for run_id in ("a1", "a2", "a3"):
        api.runtime.trigger("alpha", run_id=run_id)
    api.runtime.trigger("beta", run_id="b1")
    api.runtime.store.set_dag_run_state("alpha", "a1", DagRunState.RUNNING)
    api.runtime.store.set_dag_run_state("alpha", "a1", DagRunState.SUCCESS)
    stats = api.get("/api/v2/dagStats", role="viewer").json()
    assert_shape(stats, "DagStatsCollectionResponse")
    assert stats["total_entries"] == 2  # DAGs without runs are left out, as in Airflow
    alpha = stats["dags"][0]
    assert_shape(alpha, "DagStatsResponse")
    assert_shape(alpha["stats"][0], "DagStatsStateResponse")
    assert alpha["dag_id"] == "alpha"
    assert {s["state"]: s["count"] for s in alpha["stats"]} == {
        "queued": 2,
        "running": 0,
        "success": 1,
        "failed": 0,
    }
    only_beta = api.get("/api/v2/dagStats", params={"dag_ids": ["beta", "idle"]}).json()
    assert [d["dag_id"] for d in only_beta["dags"]] == ["beta"]
    _read_only_refusals(api, "/api/v2/dagStats")


def test_dag_tags_distinct_ordered_paged(api: Api) -> None:
    _register(api, "alpha", ["etl", "finance"])
    _register(api, "beta", ["etl", "ml"])
    tags = api.get("/api/v2/dagTags", role="viewer").json()
    assert_shape(tags, "DAGTagCollectionResponse")
    assert tags == {"tags": ["etl", "finance", "ml"], "total_entries": 3}
    backwards = api.get("/api/v2/dagTags", params={"order_by": "-name", "limit": 2}).json()
    assert backwards == {"tags": ["ml", "finance"], "total_entries": 3}
    matching = api.get("/api/v2/dagTags", params={"tag_name_pattern": "IN"}).json()
    assert matching["tags"] == ["finance"]
    assert api.get("/api/v2/dagTags", params={"order_by": "dag_id"}).status_code == 400
    _read_only_refusals(api, "/api/v2/dagTags")


# -- jobs ---------------------------------------------------------------------------------------


def test_jobs_filtered_ordered_paged(api: Api) -> None:
    store = api.runtime.store
    scheduler = store.start_job("scheduler", "host-a", 101)
    processor = store.start_job("dag_processor", "host-b", 202)
    ended = store.start_job("scheduler", "host-b", 303)
    store.end_job(ended.id, JobState.SUCCESS)
    listing = api.get("/api/v2/jobs", role="viewer").json()
    assert_shape(listing, "JobCollectionResponse")
    assert [j["id"] for j in listing["jobs"]] == [scheduler.id, processor.id, ended.id]
    first = listing["jobs"][0]
    assert_shape(first, "JobResponse")
    assert (first["job_type"], first["state"], first["hostname"]) == (
        "SchedulerJob",
        "running",
        "host-a",
    )

    def ids(**params: Any) -> list[int]:
        response = api.get("/api/v2/jobs", params=params)
        assert response.status_code == 200, response.text
        return [j["id"] for j in response.json()["jobs"]]

    assert ids(job_type="SchedulerJob") == [scheduler.id, ended.id]
    assert ids(job_type="dag_processor") == [processor.id]
    assert ids(is_alive=True) == [scheduler.id, processor.id]
    assert ids(is_alive=False) == [ended.id]
    assert ids(job_state="success") == [ended.id]
    assert ids(hostname="host-b") == [processor.id, ended.id]
    assert ids(order_by="-id", limit=1) == [ended.id]
    assert ids(order_by="hostname", offset=2) == [ended.id]
    assert ids(end_date_gte="2000-01-01T00:00:00") == [ended.id]  # naive = UTC
    assert ids(start_date_lte="2000-01-01T00:00:00Z") == []
    assert api.get("/api/v2/jobs", params={"limit": 1}).json()["total_entries"] == 3


@pytest.mark.parametrize(
    ("params", "status"),
    [({"order_by": "colour"}, 400), ({"limit": -1}, 422), ({"is_alive": "perhaps"}, 422)],
)
def test_job_refusals(api: Api, params: dict[str, Any], status: int) -> None:
    assert api.get("/api/v2/jobs", params=params).status_code == status
    _read_only_refusals(api, "/api/v2/jobs")
