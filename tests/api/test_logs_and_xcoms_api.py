"""Task logs (whole, tailed with a continuation token, as text or NDJSON, missing) and
XCom entries through the REST API."""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from slipstream import DAG, task
from slipstream.api.auth.tokens import TokenKind
from slipstream.execution.logs import log_path
from slipstream.executors.base import TaskInstanceKey
from slipstream.metadata.records import DagRun, TaskInstanceRef, TaskInstanceUpdate
from slipstream.state import TaskInstanceState as S
from tests.api.conftest import Api

START = datetime(2026, 1, 1, tzinfo=UTC)
TI = "/api/v2/dags/etl/dagRuns/{run}/taskInstances"


def _etl() -> DAG:
    with DAG("etl", schedule=None, start_date=START) as dag:

        @task
        def work() -> dict[str, Any]:
            print("working hard")
            return {"rows": 3, "ok": True}

        @task
        def double(x: int) -> int:
            return 2 * x

        @task(do_xcom_push=False)
        def quiet() -> None:
            print("nothing to push")

        work() >> quiet()
        double.expand(x=[1, 2])
    return dag


@pytest.fixture
def run(api: Api) -> DagRun:
    api.runtime.register(_etl())
    return api.runtime.wait(api.runtime.trigger("etl", run_id="r1"))


def _events(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [line["event"] for line in response.json()["content"]]


def _path(api: Api, task_id: str, try_number: int, run_id: str = "r1") -> Path:
    key = TaskInstanceKey(dag_id="etl", run_id=run_id, task_id=task_id, try_number=try_number)
    return log_path(api.home / "logs", key)


def test_whole_log_as_json_text_and_ndjson(api: Api, run: DagRun) -> None:
    url = TI.format(run="r1") + "/work/logs/1"
    first = api.get(url, role="viewer")
    assert any("working hard" in event for event in _events(first))
    token = first.json()["continuation_token"]
    assert token
    # Nothing was written since: a tailing client gets no lines, and the same token.
    since = api.get(url, params={"token": token, "full_content": False})
    assert _events(since) == []
    assert since.json()["continuation_token"] == token
    whole = api.get(url, params={"token": token, "full_content": True})
    assert _events(whole) == _events(first)

    text = api.client.get(url, headers={**api.headers(), "Accept": "text/plain"})
    assert text.headers["content-type"].startswith("text/plain")
    assert "working hard" in text.text
    ndjson = api.client.get(url, headers={**api.headers(), "Accept": "application/x-ndjson"})
    lines = [json.loads(line) for line in ndjson.text.splitlines()]
    assert any("working hard" in line["event"] for line in lines)
    mapped = api.get(TI.format(run="r1") + "/double/logs/1", params={"map_index": 1})
    assert mapped.status_code == 200 and _events(mapped)


def test_tailing_a_running_try_sees_only_new_whole_lines(api: Api, run: DagRun) -> None:
    # A second run whose "work" try 1 is running, with a log that is being written.
    second = api.runtime.trigger("etl", run_id="r2")
    api.runtime.scheduler.start_run(second)
    ti = api.runtime.store.get_task_instance(
        TaskInstanceRef(dag_id="etl", run_id="r2", task_id="work")
    )
    assert ti is not None
    for old, new in ((S.NONE, S.SCHEDULED), (S.SCHEDULED, S.QUEUED), (S.QUEUED, S.RUNNING)):
        fields = {"try_number": 1} if new == S.RUNNING else {}
        api.runtime.store.update_task_instances(
            [TaskInstanceUpdate(ti_id=ti.id, state=new, expected_state=old, fields=fields)]
        )
    url = TI.format(run="r2") + "/work/logs/1"
    assert _events(api.get(url))[0].startswith("*** The log of try 1 is not written yet")

    path = _path(api, "work", 1, "r2")
    path.parent.mkdir(parents=True)
    path.write_text("line one\npartial", encoding="utf-8")
    first = api.get(url)
    assert _events(first) == ["line one"]  # the unfinished line waits
    with path.open("a", encoding="utf-8") as handle:
        handle.write(" done\nline three\n")
    token = first.json()["continuation_token"]
    since = api.get(url, params={"token": token})
    assert _events(since) == ["partial done", "line three"]
    again = api.get(url, params={"token": since.json()["continuation_token"]})
    assert _events(again) == []
    assert _events(api.get(url, params={"full_content": True})) == [
        "line one",
        "partial done",
        "line three",
    ]


def test_missing_logs_are_messages_not_errors(api: Api, run: DagRun) -> None:
    url = TI.format(run="r1") + "/work/logs/{n}"
    not_started = _events(api.get(url.format(n=2)))
    assert not_started == ["*** Try 2 has not started: the task instance is at try 1 (success)"]
    _path(api, "work", 1).unlink()
    gone = _events(api.get(url.format(n=1)))
    assert len(gone) == 1 and gone[0].startswith("*** No log file for try 1 at dag_id=etl/")


def test_log_refusals(api: Api, run: DagRun) -> None:
    url = TI.format(run="r1") + "/work/logs/1"
    assert api.client.get(url).status_code == 401
    signer = api.client.app.state["ctx"].signer
    task_token = signer.issue("etl.work", TokenKind.TASK, lifetime=60)
    as_task = api.client.get(url, headers={"Authorization": f"Bearer {task_token}"})
    assert as_task.status_code == 403
    bad = api.get(url, params={"token": "not-a-token"})
    assert bad.status_code == 400
    assert "continuation token" in bad.json()["detail"]
    assert api.get(TI.format(run="r1") + "/nope/logs/1").status_code == 404
    assert api.get(TI.format(run="zz") + "/work/logs/1").status_code == 404
    assert api.get(TI.format(run="r1") + "/work/logs/x").status_code in (404, 422)
    assert api.get(TI.format(run="r1") + "/work/logs/-1").status_code == 422


# -- XComs ------------------------------------------------------------------------------


def test_xcom_entries_list_and_one(api: Api, run: DagRun) -> None:
    entries = api.get(TI.format(run="r1") + "/work/xcomEntries", role="viewer")
    assert entries.status_code == 200
    body = entries.json()
    # A dict return value is also pushed key by key (multiple_outputs, as in Airflow).
    assert [x["key"] for x in body["xcom_entries"]] == ["ok", "return_value", "rows"]
    entry = body["xcom_entries"][1]
    assert (entry["key"], entry["task_id"], entry["map_index"]) == ("return_value", "work", -1)
    assert entry["dag_id"] == "etl" and entry["run_id"] == "r1"
    assert entry["timestamp"] and entry["run_after"] and "value" not in entry

    one = api.get(TI.format(run="r1") + "/work/xcomEntries/return_value").json()
    assert one["value"] == {"rows": 3, "ok": True}
    deserialized = api.get(
        TI.format(run="r1") + "/work/xcomEntries/return_value", params={"deserialize": True}
    ).json()
    assert deserialized["value"] == {"rows": 3, "ok": True}
    text = api.get(
        TI.format(run="r1") + "/work/xcomEntries/return_value", params={"stringify": True}
    ).json()
    assert ast.literal_eval(text["value"]) == {"rows": 3, "ok": True}  # Python's str()
    mapped = api.get(
        TI.format(run="r1") + "/double/xcomEntries/return_value", params={"map_index": 1}
    ).json()
    assert mapped["value"] == 4


def test_xcom_listing_across_tasks_filters_and_pages(api: Api, run: DagRun) -> None:
    every = api.get(TI.format(run="r1") + "/~/xcomEntries").json()
    assert every["total_entries"] == 5
    assert [(x["task_id"], x["map_index"], x["key"]) for x in every["xcom_entries"]] == [
        ("double", 0, "return_value"),
        ("double", 1, "return_value"),
        ("work", -1, "ok"),
        ("work", -1, "return_value"),
        ("work", -1, "rows"),
    ]
    page = api.get(
        TI.format(run="r1") + "/~/xcomEntries",
        params={"order_by": "-map_index", "limit": 1, "offset": 0},
    ).json()
    assert page["total_entries"] == 5 and page["xcom_entries"][0]["map_index"] == 1
    one_index = api.get(TI.format(run="r1") + "/double/xcomEntries", params={"map_index": 0})
    assert one_index.json()["total_entries"] == 1
    by_key = api.get(TI.format(run="r1") + "/~/xcomEntries", params={"xcom_key": "rows"})
    assert [x["task_id"] for x in by_key.json()["xcom_entries"]] == ["work"]
    assert api.get(TI.format(run="r1") + "/quiet/xcomEntries").json()["total_entries"] == 0


def test_xcom_refusals(api: Api, run: DagRun) -> None:
    url = TI.format(run="r1") + "/work/xcomEntries"
    assert api.client.get(url).status_code == 401
    missing = api.get(url + "/nope")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "XCom entry with key: `nope` not found"
    assert api.get(TI.format(run="zz") + "/work/xcomEntries").status_code == 404
    assert api.get("/api/v2/dags/nope/dagRuns/r1/taskInstances/work/xcomEntries").status_code == 404
    tilde = api.get("/api/v2/dags/~/dagRuns/~/taskInstances/work/xcomEntries")
    assert tilde.status_code == 400
    assert api.get(url, params={"map_index": -2}).status_code == 422
    assert api.get(url, params={"order_by": "colour"}).status_code == 400
    assert api.get(url + "/return_value", params={"stringify": "maybe"}).status_code == 422
