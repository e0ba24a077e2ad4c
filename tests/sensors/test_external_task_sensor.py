"""ExternalTaskSensor reading another DAG's runs through the task client."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from slipstream import DAG
from slipstream.exceptions import DagDefinitionError
from slipstream.sensors.external_task import ExternalTaskSensor
from slipstream.state import TaskInstanceState as TIS
from slipstream.testing import MemoryTaskClient

DAY = datetime(2024, 1, 2, tzinfo=UTC)  # the logical date the `run` fixture uses
FAST = {"poke_interval": 0.05, "timeout": 0.3}


def upstream_client(**task_states: str | list[str]) -> MemoryTaskClient:
    client = MemoryTaskClient(
        dags={"upstream": ["extract", "load", "report", "grp.a", "grp.b", "mapped"]}
    )
    client.add_dag_run("upstream", "up_run", logical_date=DAY, task_states=task_states)
    return client


def sensing(**kwargs: Any) -> DAG:
    with DAG("downstream") as dag:
        ExternalTaskSensor(task_id="wait", external_dag_id="upstream", **{**FAST, **kwargs})
    return dag


def test_done_when_the_external_task_succeeded(run: Callable[..., Any]) -> None:
    client = upstream_client(extract="success", load="running")
    dag = sensing(external_task_id="extract")

    assert run(dag, "wait", client).state == TIS.SUCCESS


def test_waits_while_the_task_runs_then_succeeds(run: Callable[..., Any]) -> None:
    client = upstream_client(load="running")
    dag = sensing(external_task_id="load", timeout=5)
    timer = threading.Timer(
        0.15, lambda: client.set_task_state("upstream", "up_run", "load", "success")
    )
    timer.start()

    outcome = run(dag, "wait", client)

    timer.join()
    assert outcome.state == TIS.SUCCESS
    assert (outcome.ended_at - outcome.started_at) >= timedelta(seconds=0.1)


def test_several_task_ids_must_all_be_allowed(run: Callable[..., Any]) -> None:
    client = upstream_client(extract="success", load="up_for_retry")
    dag = sensing(external_task_ids=["extract", "load"], soft_fail=True)

    assert run(dag, "wait", client).state == TIS.SKIPPED  # timed out, softly


def test_no_run_at_that_date_times_out(run: Callable[..., Any]) -> None:
    client = upstream_client(extract="success")
    dag = sensing(external_task_id="extract", execution_delta=timedelta(hours=1))

    outcome = run(dag, "wait", client)

    assert outcome.state == TIS.FAILED
    assert "SensorTimeout" in (outcome.error or "")


@pytest.mark.parametrize(("soft_fail", "state"), [(False, TIS.FAILED), (True, TIS.SKIPPED)])
def test_a_failed_state_fails_at_once(soft_fail: bool, state: TIS, run: Callable[..., Any]) -> None:
    client = upstream_client(extract="failed")
    dag = sensing(
        external_task_id="extract",
        failed_states=["failed", "upstream_failed"],
        soft_fail=soft_fail,
        timeout=30,
    )

    outcome = run(dag, "wait", client)

    assert outcome.state == state
    assert "task(s) ['extract'] of DAG 'upstream' ended in failed state(s) ['failed']" in (
        outcome.error or ""
    )
    assert outcome.ended_at - outcome.started_at < timedelta(seconds=5)


def test_a_skipped_state_skips(run: Callable[..., Any]) -> None:
    client = upstream_client(report="skipped")
    dag = sensing(external_task_id="report", skipped_states=["skipped"], timeout=30)

    outcome = run(dag, "wait", client)

    assert outcome.state == TIS.SKIPPED
    assert "skipped state(s) ['skipped']" in (outcome.error or "")


def test_execution_delta_and_date_functions(run: Callable[..., Any]) -> None:
    client = upstream_client()
    client.add_dag_run(
        "upstream",
        "earlier",
        logical_date=DAY - timedelta(hours=6),
        task_states={"extract": "success"},
    )
    seen: list[Any] = []

    def both(logical_date: datetime, ds: str) -> list[datetime]:
        seen.append((logical_date, ds))
        return [logical_date - timedelta(hours=6), logical_date]

    with DAG("downstream") as dag:
        ExternalTaskSensor(
            task_id="delta",
            external_dag_id="upstream",
            external_task_id="extract",
            execution_delta=timedelta(hours=6),
            **FAST,
        )
        ExternalTaskSensor(
            task_id="fn",
            external_dag_id="upstream",
            external_task_id="extract",
            execution_date_fn=lambda dt: dt - timedelta(hours=6),
            **FAST,
        )
        ExternalTaskSensor(
            task_id="both_runs",
            external_dag_id="upstream",
            external_task_id="extract",
            logical_date_fn=both,
            soft_fail=True,
            **FAST,
        )

    assert run(dag, "delta", client).state == TIS.SUCCESS
    assert run(dag, "fn", client).state == TIS.SUCCESS
    # The run at DAY has no successful extract yet: both runs must be done.
    assert run(dag, "both_runs", client).state == TIS.SKIPPED
    assert seen[0] == (DAY, "2024-01-02")
    client.set_task_state("upstream", "up_run", "extract", "success")
    assert run(dag, "both_runs", client).state == TIS.SUCCESS


def test_task_group_means_every_task_in_it(run: Callable[..., Any]) -> None:
    client = upstream_client(**{"grp.a": "success", "grp.b": "running", "extract": "failed"})
    dag = sensing(external_task_group_id="grp", failed_states=["failed"], soft_fail=True)

    assert run(dag, "wait", client).state == TIS.SKIPPED  # grp.b still runs; extract is outside
    client.set_task_state("upstream", "up_run", "grp.b", "success")
    assert run(dag, "wait", client).state == TIS.SUCCESS


def test_a_mapped_task_counts_when_every_instance_does(run: Callable[..., Any]) -> None:
    client = upstream_client(mapped=["success", "running", "success"])
    dag = sensing(external_task_id="mapped", soft_fail=True)

    assert run(dag, "wait", client).state == TIS.SKIPPED
    client.set_task_state("upstream", "up_run", "mapped", ["success"] * 3)
    assert run(dag, "wait", client).state == TIS.SUCCESS


def test_without_task_ids_the_whole_run_is_watched(run: Callable[..., Any]) -> None:
    client = upstream_client()
    dag = sensing(soft_fail=True)
    dag_failed = sensing(failed_states=["failed"], timeout=30)

    assert run(dag, "wait", client).state == TIS.SKIPPED  # the run is still "running"
    client.set_dag_run_state("upstream", "up_run", "success")
    assert run(dag, "wait", client).state == TIS.SUCCESS
    client.set_dag_run_state("upstream", "up_run", "failed")
    outcome = run(dag_failed, "wait", client)
    assert outcome.state == TIS.FAILED
    assert "the run of DAG 'upstream' ended in failed state(s) ['failed']" in (outcome.error or "")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"external_dag_id": "nowhere", "external_task_id": "x"}, "DAG 'nowhere' does not exist"),
        ({"external_task_id": "ghost"}, "task(s) 'ghost' do not exist in DAG 'upstream'"),
        ({"external_task_group_id": "nogroup"}, "task group 'nogroup' does not exist"),
    ],
)
def test_check_existence_fails_at_once(
    kwargs: dict[str, Any], message: str, run: Callable[..., Any]
) -> None:
    client = upstream_client(extract="success")
    with DAG("downstream") as dag:
        ExternalTaskSensor(
            task_id="wait",
            **{"external_dag_id": "upstream", **kwargs},
            check_existence=True,
            poke_interval=0.05,
            timeout=30,
        )

    outcome = run(dag, "wait", client)

    assert outcome.state == TIS.FAILED
    assert message in (outcome.error or "")
    assert outcome.ended_at - outcome.started_at < timedelta(seconds=5)


def test_templated_ids(run: Callable[..., Any]) -> None:
    client = upstream_client(extract="success")
    with DAG("downstream", params={"dag": "upstream", "task": "extract"}) as dag:
        ExternalTaskSensor(
            task_id="wait",
            external_dag_id="{{ params.dag }}",
            external_task_id="{{ params.task }}",
            **FAST,
        )

    outcome = run(dag, "wait", client)

    assert outcome.state == TIS.SUCCESS
    assert outcome.rendered_fields["external_task_id"] == "extract"


def test_reschedule_mode(run: Callable[..., Any]) -> None:
    client = upstream_client(extract="queued")
    dag = sensing(external_task_id="extract", mode="reschedule", poke_interval=60, timeout=3600)

    outcome = run(dag, "wait", client)

    assert outcome.state == TIS.UP_FOR_RESCHEDULE
    assert outcome.reschedule_at is not None


def test_a_run_without_logical_date_is_a_clear_error(run: Callable[..., Any]) -> None:
    dag = sensing(external_task_id="extract")

    outcome = run(dag, "wait", upstream_client(), logical_date=None)

    assert outcome.state == TIS.FAILED
    assert "needs a run with a logical date" in (outcome.error or "")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"external_task_id": "a", "external_task_ids": ["b"]}, "only one of external_task_id"),
        ({"external_task_group_id": "g", "external_task_ids": ["b"]}, "not both"),
        ({"external_task_ids": ["a", "a"]}, "duplicates"),
        ({"external_task_ids": "a"}, "must be a list of task ids"),
        (
            {"execution_delta": timedelta(1), "execution_date_fn": lambda d: d},
            "only one of execution_delta",
        ),
        ({"execution_delta": 3600}, "execution_delta must be timedelta"),
        ({"external_task_id": "a", "allowed_states": ["done"]}, "'done' are not task instance"),
        ({"allowed_states": ["up_for_retry"]}, "'up_for_retry' are not dag run states"),
        ({"external_task_id": "a", "failed_states": ["success"]}, "in both allowed_states"),
        ({"external_dag_id": None}, "external_dag_id must be a string"),
    ],
)
def test_bad_arguments_fail_at_dag_definition(kwargs: dict[str, Any], message: str) -> None:
    kwargs.setdefault("external_dag_id", "upstream")
    with DAG("downstream"), pytest.raises(DagDefinitionError, match=message):
        ExternalTaskSensor(task_id="wait", **kwargs)
