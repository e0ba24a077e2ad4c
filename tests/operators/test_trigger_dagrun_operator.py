"""TriggerDagRunOperator through the task client, run the way a worker runs it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from slipstream import DAG
from slipstream.exceptions import DagDefinitionError
from slipstream.operators.trigger_dagrun import TriggerDagRunOperator
from slipstream.state import TaskInstanceState as TIS
from slipstream.testing import MemoryTaskClient, TriggerRequest


def finish_later(
    client: MemoryTaskClient, dag_id: str, run_id: str, states: list[str], step: float = 0.05
) -> threading.Thread:
    """Walk a triggered run through ``states`` once it exists, as a scheduler would."""

    def walk() -> None:
        deadline = time.monotonic() + 5
        while (dag_id, run_id) not in client.dag_runs and time.monotonic() < deadline:
            time.sleep(0.01)
        for state in states:
            time.sleep(step)
            client.set_dag_run_state(dag_id, run_id, state)

    thread = threading.Thread(target=walk, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def client() -> Iterator[MemoryTaskClient]:
    yield MemoryTaskClient(dags={"child": ["extract", "load"], "parent": ["trigger"]})


def test_trigger_with_templated_conf_and_run_id(
    client: MemoryTaskClient, run: Callable[..., Any], xcom: Callable[..., Any]
) -> None:
    with DAG("parent") as dag:
        TriggerDagRunOperator(
            task_id="trigger",
            trigger_dag_id="{{ params.target }}",
            trigger_run_id="from_parent__{{ ds }}",
            conf={"day": "{{ ds }}", "source": "{{ dag.dag_id }}", "n": 3},
            logical_date="{{ data_interval_end }}",
            params={"target": "child"},
        )

    outcome = run(dag, "trigger", client)

    assert outcome.state == TIS.SUCCESS, outcome.error
    assert client.trigger_requests == [
        TriggerRequest(
            dag_id="child",
            run_id="from_parent__2024-01-02",
            conf={"day": "2024-01-02", "source": "parent", "n": 3},
            logical_date=datetime(2024, 1, 3, tzinfo=UTC),
            reset_dag_run=False,
        )
    ]
    triggered = client.dag_runs[("child", "from_parent__2024-01-02")]
    assert triggered.state == "queued"
    assert triggered.task_states == {"extract": ["none"], "load": ["none"]}
    assert xcom(client, dag, "trigger") == "from_parent__2024-01-02"
    assert xcom(client, dag, "trigger", "trigger_run_id") == "from_parent__2024-01-02"
    assert xcom(client, dag, "trigger", "trigger_logical_date_iso") == "2024-01-03T00:00:00+00:00"


def test_default_run_id_and_logical_date(client: MemoryTaskClient, run: Callable[..., Any]) -> None:
    with DAG("parent") as dag:
        TriggerDagRunOperator(task_id="now", trigger_dag_id="child")
        TriggerDagRunOperator(
            task_id="dated", trigger_dag_id="child", logical_date="2024-02-01T00:00:00Z"
        )
        TriggerDagRunOperator(task_id="undated", trigger_dag_id="child", logical_date=None)

    before = datetime.now(UTC)
    for task_id in ("now", "dated", "undated"):
        assert run(dag, task_id, client).state == TIS.SUCCESS
    now, dated, undated = client.trigger_requests

    assert now.logical_date is not None and before <= now.logical_date <= datetime.now(UTC)
    assert now.run_id == f"manual__{now.logical_date.isoformat()}"
    assert dated.logical_date == datetime(2024, 2, 1, tzinfo=UTC)
    assert dated.run_id == "manual__2024-02-01T00:00:00+00:00"
    assert undated.logical_date is None
    assert undated.run_id.startswith("manual__")


def test_existing_run_fails_skips_or_resets(
    client: MemoryTaskClient, run: Callable[..., Any]
) -> None:
    client.add_dag_run("child", "again", state="success", task_states={"extract": "success"})
    with DAG("parent") as dag:
        TriggerDagRunOperator(task_id="plain", trigger_dag_id="child", trigger_run_id="again")
        TriggerDagRunOperator(
            task_id="skip",
            trigger_dag_id="child",
            trigger_run_id="again",
            skip_when_already_exists=True,
        )
        TriggerDagRunOperator(
            task_id="reset", trigger_dag_id="child", trigger_run_id="again", reset_dag_run=True
        )

    plain = run(dag, "plain", client)
    assert plain.state == TIS.FAILED
    assert "with run id 'again'" in (plain.error or "")
    assert "already exists" in (plain.error or "")
    assert "reset_dag_run=True" in (plain.error or "")

    skipped = run(dag, "skip", client)
    assert skipped.state == TIS.SKIPPED
    assert "already exists" in (skipped.error or "")

    assert run(dag, "reset", client).state == TIS.SUCCESS
    cleared = client.dag_runs[("child", "again")]
    assert (cleared.state, cleared.resets, cleared.task_states) == (
        "queued",
        1,
        {"extract": ["none"]},
    )


def test_unknown_dag_fails(client: MemoryTaskClient, run: Callable[..., Any]) -> None:
    with DAG("parent") as dag:
        TriggerDagRunOperator(task_id="trigger", trigger_dag_id="nope")

    outcome = run(dag, "trigger", client)

    assert outcome.state == TIS.FAILED
    assert outcome.error == "DagNotFound: DAG 'nope' does not exist"


def test_wait_for_completion_succeeds_when_the_run_does(
    client: MemoryTaskClient, run: Callable[..., Any]
) -> None:
    with DAG("parent") as dag:
        TriggerDagRunOperator(
            task_id="trigger",
            trigger_dag_id="child",
            trigger_run_id="waited",
            wait_for_completion=True,
            poke_interval=0.02,
        )
    walker = finish_later(client, "child", "waited", ["running", "success"])

    outcome = run(dag, "trigger", client)

    walker.join()
    assert outcome.state == TIS.SUCCESS, outcome.error
    assert (outcome.ended_at - outcome.started_at) >= timedelta(seconds=0.1)


def test_wait_for_completion_fails_when_the_run_fails(
    client: MemoryTaskClient, run: Callable[..., Any]
) -> None:
    with DAG("parent") as dag:
        TriggerDagRunOperator(
            task_id="trigger",
            trigger_dag_id="child",
            trigger_run_id="doomed",
            wait_for_completion=True,
            poke_interval=0.02,
        )
        TriggerDagRunOperator(
            task_id="expect_failure",
            trigger_dag_id="child",
            trigger_run_id="doomed_too",
            wait_for_completion=True,
            poke_interval=0.02,
            allowed_states=["failed"],
        )
    walker = finish_later(client, "child", "doomed", ["failed"])
    outcome = run(dag, "trigger", client)
    walker.join()
    walker = finish_later(client, "child", "doomed_too", ["failed"])
    expected = run(dag, "expect_failure", client)
    walker.join()

    assert outcome.state == TIS.FAILED
    assert "DAG 'child' run 'doomed' ended in state 'failed'" in (outcome.error or "")
    assert expected.state == TIS.SUCCESS, expected.error


def test_waiting_is_bounded_by_execution_timeout(
    client: MemoryTaskClient, run: Callable[..., Any]
) -> None:
    with DAG("parent") as dag:
        TriggerDagRunOperator(
            task_id="trigger",
            trigger_dag_id="child",
            wait_for_completion=True,
            poke_interval=0.02,
            execution_timeout=0.2,
        )

    outcome = run(dag, "trigger", client)

    assert outcome.state == TIS.FAILED
    assert (outcome.error or "").startswith("TaskTimeout")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"trigger_dag_id": None}, "trigger_dag_id must be a string"),
        ({"conf": ["a"]}, "conf must be Mapping"),
        ({"logical_date": "yesterday"}, "not an ISO 8601 date"),
        ({"logical_date": 5}, "logical_date must be str or datetime"),
        ({"allowed_states": ["done"]}, "'done' are not dag run states"),
        ({"allowed_states": ["success"], "failed_states": ["success"]}, "in both allowed_states"),
        ({"failed_states": "failed"}, "must be a list of dag run states"),
    ],
)
def test_bad_arguments_fail_at_dag_definition(kwargs: dict[str, Any], message: str) -> None:
    kwargs.setdefault("trigger_dag_id", "child")
    with DAG("parent"), pytest.raises(DagDefinitionError, match=message):
        TriggerDagRunOperator(task_id="trigger", **kwargs)
