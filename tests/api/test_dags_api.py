"""``/api/v2/dags``: list with filters and pagination, get, pause and unpause."""

from __future__ import annotations

from datetime import UTC, datetime

from slipstream import DAG
from slipstream.operators.empty import EmptyOperator
from tests.api.conftest import Api

START = datetime(2026, 1, 1, tzinfo=UTC)


def _register(api: Api, *specs: tuple[str, list[str]]) -> None:
    dags = []
    for dag_id, tags in specs:
        with DAG(dag_id, schedule="@daily", start_date=START, tags=tags) as dag:
            EmptyOperator(task_id="t")
        dags.append(dag)
    api.runtime.register(*dags, paused=True)


def test_list_filters_paginates_and_orders(api: Api) -> None:
    _register(api, ("alpha", ["etl"]), ("beta", ["ml"]), ("gamma_etl", ["etl", "ml"]))
    everything = api.get("/api/v2/dags").json()
    assert everything["total_entries"] == 3
    assert [d["dag_id"] for d in everything["dags"]] == ["alpha", "beta", "gamma_etl"]
    first = everything["dags"][0]
    assert first["is_paused"] is True
    assert first["tags"] == [{"name": "etl", "dag_id": "alpha", "dag_display_name": "alpha"}]
    assert first["timetable_summary"] == "@daily"

    tagged = api.get("/api/v2/dags", params={"tags": ["ml"]}).json()
    assert [d["dag_id"] for d in tagged["dags"]] == ["beta", "gamma_etl"]
    pattern = api.get("/api/v2/dags", params={"dag_id_pattern": "ETL"}).json()
    assert [d["dag_id"] for d in pattern["dags"]] == ["gamma_etl"]
    page = api.get("/api/v2/dags", params={"limit": 1, "offset": 1}).json()
    assert page["total_entries"] == 3
    assert [d["dag_id"] for d in page["dags"]] == ["beta"]
    backwards = api.get("/api/v2/dags", params={"order_by": "-dag_id"}).json()
    assert [d["dag_id"] for d in backwards["dags"]] == ["gamma_etl", "beta", "alpha"]


def test_bad_parameters_are_clear_errors(api: Api) -> None:
    negative = api.get("/api/v2/dags", params={"limit": -1})
    assert negative.status_code == 422
    assert negative.json()["detail"][0]["loc"] == ["query", "limit"]
    assert api.get("/api/v2/dags", params={"paused": "maybe"}).status_code == 422
    order = api.get("/api/v2/dags", params={"order_by": "colour"})
    assert order.status_code == 400
    assert "colour" in order.json()["detail"]


def test_unpause_and_pause(api: Api) -> None:
    _register(api, ("alpha", []))
    response = api.patch("/api/v2/dags/alpha", role="user", json={"is_paused": False})
    assert response.status_code == 200
    assert response.json()["is_paused"] is False
    assert api.runtime.store.get_dag("alpha").is_paused is False  # type: ignore[union-attr]
    assert api.get("/api/v2/dags", params={"paused": False}).json()["total_entries"] == 1


def test_patch_refusals(api: Api) -> None:
    _register(api, ("alpha", []))
    viewer = api.patch("/api/v2/dags/alpha", role="viewer", json={"is_paused": False})
    assert viewer.status_code == 403
    assert "user role" in viewer.json()["detail"]
    assert api.patch("/api/v2/dags/nope", json={"is_paused": False}).status_code == 404
    assert api.patch("/api/v2/dags/alpha", json={"is_paused": "no"}).status_code == 422
    assert api.patch("/api/v2/dags/alpha", json={}).status_code == 422
    masked = api.patch(
        "/api/v2/dags/alpha", params={"update_mask": ["owners"]}, json={"is_paused": False}
    )
    assert masked.status_code == 400
    assert api.runtime.store.get_dag("alpha").is_paused is True  # type: ignore[union-attr]


def test_get_one_and_unknown(api: Api) -> None:
    _register(api, ("alpha", ["etl"]))
    dag = api.get("/api/v2/dags/alpha", role="viewer").json()
    assert dag["dag_id"] == "alpha"
    assert dag["has_import_errors"] is False
    missing = api.get("/api/v2/dags/nope")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "The Dag with ID: `nope` was not found"}
