"""The OpenAPI document is valid OpenAPI 3.1, and schemathesis, fuzzing every operation
it describes (as admin, against a store with a finished run, a variable, a connection
and a pool), gets no 500 and only responses that match the documented schemas."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from litestar.testing import TestClient
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from slipstream import DAG, task
from slipstream.api.app import create_app
from slipstream.api.auth.passwords import hash_password
from slipstream.metadata.records import Connection
from slipstream.operators.empty import EmptyOperator
from tests.api.conftest import PASSWORD, make_runtime

EXAMPLES_PER_OPERATION = 20


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str]]]:
    """The app, with data for the fuzzer to find, and an admin's headers."""
    home: Path = tmp_path_factory.mktemp("fuzz") / "home"
    (home / "dags").mkdir(parents=True)
    runtime = make_runtime(home)
    runtime.store.create_user("admin", role="admin", password_hash=hash_password(PASSWORD))
    with DAG("etl", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC)) as dag:

        @task
        def work() -> int:
            print("working")
            return 1

        work() >> EmptyOperator(task_id="end")
    runtime.register(dag)
    runtime.wait(runtime.trigger("etl", run_id="r1"))
    runtime.store.set_variable("var", "1")
    runtime.store.set_connection(Connection(conn_id="conn", conn_type="http", password="pw"))
    runtime.store.set_pool("pool", 3)
    app = create_app(runtime.config, runtime.plugins, store=runtime.store)
    with TestClient(app) as client:
        login = client.post("/auth/token", json={"username": "admin", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        yield app, headers
    runtime.close()


@pytest.fixture(scope="module")
def api_schema(served: tuple[Any, dict[str, str]]) -> Any:
    app, headers = served
    return schemathesis.openapi.from_asgi("/api/v2/openapi.json", app, headers=headers)


def test_document_is_valid_openapi_3_1(api_schema: Any) -> None:
    assert str(api_schema.raw_schema["openapi"]).startswith("3.1")
    api_schema.validate()  # raises on a document that breaks the OpenAPI 3.1 schema
    paths = api_schema.raw_schema["paths"]
    for path in (
        "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances",
        "/api/v2/dags/{dag_id}/clearTaskInstances",
        "/api/v2/variables/{variable_key}",
        "/api/v2/connections",
        "/api/v2/pools/{pool_name}",
        "/api/v2/users/{username}",
    ):
        assert path in paths


def test_no_operation_fails_or_breaks_its_schema(
    api_schema: Any, served: tuple[Any, dict[str, str]]
) -> None:
    """Each operation gets its own Hypothesis run (schemathesis' pytest integration does
    not work with this pytest, so the operations are walked here); every failure is
    collected, so one run names all the operations that broke."""
    _, headers = served
    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
    failures: dict[str, str] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 40

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,  # the same examples every run: CI never flakes on a new one
        )
        def call(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=checks)

        try:
            call()
        except Exception as exc:
            failures[operation.label] = str(exc)[:2000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
