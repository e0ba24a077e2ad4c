"""``/dags/{dag_id}/details``, ``/dags/{dag_id}/tasks``, ``/dags/{dag_id}/dagVersions`` and
``/dagSources/{dag_id}``: what the serialized versions of a DAG say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slipstream import DAG
from slipstream.models.param import Param
from slipstream.operators.bash import BashOperator
from slipstream.operators.empty import EmptyOperator
from tests.api.conftest import Api
from tests.api.support import assert_shape, roleless_headers

START = datetime(2026, 1, 1, tzinfo=UTC)


def _register_documented(api: Api, *, extra_task: bool = False) -> None:
    with DAG(
        "documented",
        schedule="@daily",
        start_date=START,
        catchup=False,
        dagrun_timeout=timedelta(hours=1, minutes=30),
        doc_md="# Loads things",
        tags=["etl"],
        params={"n": Param(3, type="integer", description="How many")},
        owner_links={"data": "https://example.com/data"},
        max_active_tasks=4,
    ) as dag:
        extract = BashOperator(
            task_id="extract",
            bash_command="echo {{ params.n }}",
            retries=2,
            retry_delay=timedelta(minutes=5),
            execution_timeout=timedelta(seconds=90),
            owner="data",
        )
        load = EmptyOperator(task_id="load", trigger_rule="all_done")
        extract >> load
        if extra_task:
            EmptyOperator(task_id="audit")
    api.runtime.register(dag, paused=True)


FILE_V1 = """\
from datetime import UTC, datetime
from slipstream import DAG
from slipstream.operators.empty import EmptyOperator
with DAG("filed", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC)):
    EmptyOperator(task_id="t")
"""


def test_details_from_the_latest_version(api: Api) -> None:
    _register_documented(api)
    response = api.get("/api/v2/dags/documented/details", role="viewer")
    assert response.status_code == 200, response.text
    details = response.json()
    assert_shape(details, "DAGDetailsResponse")
    assert_shape(details["tags"][0], "DagTagResponse")
    assert details["dag_id"] == "documented"
    assert details["doc_md"] == "# Loads things"
    assert details["catchup"] is False
    assert details["dag_run_timeout"] == "PT1H30M"
    assert details["start_date"].startswith("2026-01-01T00:00:00")
    assert details["params"]["n"]["value"] == 3
    assert details["params"]["n"]["description"] == "How many"
    assert details["params"]["n"]["schema"]["type"] == "integer"
    assert details["owner_links"] == {"data": "https://example.com/data"}
    assert (details["max_active_tasks"], details["concurrency"]) == (4, 4)
    assert details["is_paused"] is True and details["timetable_summary"] == "@daily"
    assert details["latest_dag_version"]["version_number"] == 1
    assert details["active_runs_count"] == 0
    assert details["timezone"]


def test_details_refusals(api: Api) -> None:
    _register_documented(api)
    missing = api.get("/api/v2/dags/nope/details")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "The Dag with ID: `nope` was not found"}
    assert api.client.get("/api/v2/dags/documented/details").status_code == 401
    roleless = api.client.get("/api/v2/dags/documented/details", headers=roleless_headers(api))
    assert roleless.status_code == 403


def test_tasks_listed_ordered_and_one_by_one(api: Api) -> None:
    _register_documented(api)
    listing = api.get("/api/v2/dags/documented/tasks", role="viewer").json()
    assert_shape(listing, "TaskCollectionResponse")
    assert listing["total_entries"] == 2
    assert [t["task_id"] for t in listing["tasks"]] == ["extract", "load"]
    extract = listing["tasks"][0]
    assert_shape(extract, "TaskResponse")
    assert extract["operator_name"] == "BashOperator"
    assert extract["class_ref"]["class_name"] == "BashOperator"
    assert extract["trigger_rule"] == "all_success"
    assert extract["retries"] == 2
    assert extract["retry_delay"] == {
        "__type": "TimeDelta",
        "days": 0,
        "seconds": 300,
        "microseconds": 0,
    }
    assert extract["execution_timeout"]["seconds"] == 90
    assert extract["downstream_task_ids"] == ["load"]
    assert "bash_command" in extract["template_fields"]
    assert extract["owner"] == "data"
    backwards = api.get("/api/v2/dags/documented/tasks", params={"order_by": "-task_id"}).json()
    assert [t["task_id"] for t in backwards["tasks"]] == ["load", "extract"]
    load = api.get("/api/v2/dags/documented/tasks/load").json()
    assert (load["task_id"], load["trigger_rule"]) == ("load", "all_done")
    assert load["downstream_task_ids"] == []


def test_tasks_refusals(api: Api) -> None:
    _register_documented(api)
    no_task = api.get("/api/v2/dags/documented/tasks/nope")
    assert no_task.status_code == 404
    assert no_task.json() == {"detail": "Task with id nope was not found"}
    assert api.get("/api/v2/dags/nope/tasks").status_code == 404
    assert api.get("/api/v2/dags/nope/tasks/load").status_code == 404
    order = api.get("/api/v2/dags/documented/tasks", params={"order_by": "colour"})
    assert order.status_code == 400
    assert "colour" in order.json()["detail"]
    assert api.client.get("/api/v2/dags/documented/tasks").status_code == 401
    headers = roleless_headers(api)
    assert api.client.get("/api/v2/dags/documented/tasks", headers=headers).status_code == 403


def test_versions_listed_per_dag_and_across_dags(api: Api) -> None:
    _register_documented(api)
    _register_documented(api, extra_task=True)  # a second version
    with DAG("other", schedule=None, start_date=START) as other:
        EmptyOperator(task_id="t")
    api.runtime.register(other)
    url = "/api/v2/dags/documented/dagVersions"
    listing = api.get(url, role="viewer").json()
    assert_shape(listing, "DAGVersionCollectionResponse")
    assert listing["total_entries"] == 2
    assert [v["version_number"] for v in listing["dag_versions"]] == [1, 2]
    first = listing["dag_versions"][0]
    assert_shape(first, "DagVersionResponse")
    assert (first["dag_id"], first["bundle_name"]) == ("documented", "dags-folder")
    assert len(first["id"]) == 36  # a UUID, as in Airflow
    newest = api.get(url, params={"order_by": "-version_number", "limit": 1}).json()
    assert [v["version_number"] for v in newest["dag_versions"]] == [2]
    assert newest["total_entries"] == 2
    assert api.get(url, params={"offset": 1}).json()["dag_versions"][0]["version_number"] == 2
    assert api.get(url, params={"version_number": 2}).json()["total_entries"] == 1
    every = api.get("/api/v2/dags/~/dagVersions", params={"order_by": "dag_id"}).json()
    assert [(v["dag_id"], v["version_number"]) for v in every["dag_versions"]] == [
        ("documented", 1),
        ("documented", 2),
        ("other", 1),
    ]
    one = api.get(url + "/2").json()
    assert (one["version_number"], one["dag_id"]) == (2, "documented")
    # Runs name the version they use.
    run = api.runtime.trigger("documented", run_id="r1")
    run_body = api.get("/api/v2/dags/documented/dagRuns/r1").json()
    assert [v["version_number"] for v in run_body["dag_versions"]] == [2]
    assert run_body["dag_versions"][0]["id"] == one["id"]
    assert run.dag_version_id is not None


def test_versions_refusals(api: Api) -> None:
    _register_documented(api)
    assert api.get("/api/v2/dags/nope/dagVersions").status_code == 404
    missing = api.get("/api/v2/dags/documented/dagVersions/9")
    assert missing.status_code == 404
    assert missing.json() == {
        "detail": "The DagVersion with dag_id: `documented` and version_number: `9` was not found"
    }
    not_a_number = api.get("/api/v2/dags/documented/dagVersions/one")
    assert not_a_number.status_code == 422
    assert not_a_number.json()["detail"][0]["loc"] == ["path", "version_number"]
    order = api.get("/api/v2/dags/documented/dagVersions", params={"order_by": "colour"})
    assert order.status_code == 400
    assert api.get("/api/v2/dags/documented/dagVersions", params={"limit": -1}).status_code == 422
    assert api.client.get("/api/v2/dags/documented/dagVersions").status_code == 401
    one = "/api/v2/dags/documented/dagVersions/1"
    assert api.client.get(one, headers=roleless_headers(api)).status_code == 403


def test_source_of_each_version_as_json_or_text(api: Api) -> None:
    source = api.home / "dags" / "filed.py"
    source.write_text(FILE_V1)
    api.runtime.parse()
    source.write_text(FILE_V1 + '    EmptyOperator(task_id="u")\n')
    api.runtime.parse(force=True)
    latest = api.get("/api/v2/dagSources/filed", role="viewer")
    assert latest.status_code == 200, latest.text
    body = latest.json()
    assert_shape(body, "DAGSourceResponse")
    assert body["version_number"] == 2
    assert 'task_id="u"' in body["content"]
    first = api.get("/api/v2/dagSources/filed", params={"version_number": 1}).json()
    assert first["content"] == FILE_V1 and first["version_number"] == 1
    headers = {**api.headers("viewer"), "Accept": "text/plain"}
    text = api.client.get("/api/v2/dagSources/filed", headers=headers)
    assert text.status_code == 200
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text == FILE_V1 + '    EmptyOperator(task_id="u")\n'


def test_source_refusals(api: Api) -> None:
    _register_documented(api)
    missing = api.get("/api/v2/dagSources/nope")
    assert missing.status_code == 404
    assert missing.json() == {
        "detail": "The source code of the DAG nope, version_number None was not found"
    }
    assert api.get("/api/v2/dagSources/documented", params={"version_number": 5}).status_code == 404
    headers = {**api.headers(), "Accept": "application/xml"}
    xml = api.client.get("/api/v2/dagSources/documented", headers=headers)
    assert xml.status_code == 406
    bad_number = api.get("/api/v2/dagSources/documented", params={"version_number": "x"})
    assert bad_number.status_code == 422
    # A DAG built in code has no source file.
    assert api.get("/api/v2/dagSources/documented").json()["content"] is None
    assert api.client.get("/api/v2/dagSources/documented").status_code == 401
    roleless = roleless_headers(api)
    assert api.client.get("/api/v2/dagSources/documented", headers=roleless).status_code == 403
