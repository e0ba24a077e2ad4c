"""Marking task instances and runs success or failed by hand (scheduler/marking.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from slipstream import DAG
from slipstream.errors import NotFoundError
from slipstream.operators.empty import EmptyOperator
from slipstream.operators.python import PythonOperator
from slipstream.runtime import Slipstream
from slipstream.scheduler.marking import mark_dag_run, mark_task_instances
from slipstream.state import DagRunState
from slipstream.state import TaskInstanceState as TIS


def _boom() -> None:
    raise RuntimeError("boom")


@pytest.fixture
def app() -> Iterator[Slipstream]:
    with DAG("chain", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC)) as dag:
        a = PythonOperator(task_id="a", python_callable=_boom)
        b = EmptyOperator(task_id="b")
        c = EmptyOperator(task_id="c")
        a >> b >> c
    with Slipstream(
        {"core.metadata": "sqlite://", "core.executor": "sequential"}, dags=[dag]
    ) as runtime:
        yield runtime


def test_mark_failed_task_success_lets_the_run_finish(app: Slipstream) -> None:
    run = app.wait(app.trigger("chain"))
    assert run.state == "failed"
    preview = mark_task_instances(
        app.store, "chain", run.run_id, "a", TIS.SUCCESS, downstream=True, dry_run=True
    )
    assert [ti.task_id for ti in preview] == ["a", "b", "c"]
    assert app.task_states(run)["a"] == "failed"  # a dry run changes nothing

    only_a = mark_task_instances(app.store, "chain", run.run_id, "a", TIS.SUCCESS)
    assert [ti.task_id for ti in only_a] == ["a"]
    assert app.store.get_dag_run("chain", run.run_id).state == "queued"  # type: ignore[union-attr]
    # As in Airflow, the upstream_failed tasks below are cleared: the run goes on.
    again = app.wait(app.store.get_dag_run("chain", run.run_id))  # type: ignore[arg-type]
    assert app.task_states(again) == {"a": "success", "b": "success", "c": "success"}
    assert again.state == "success"


def test_mark_with_downstream_and_upstream(app: Slipstream) -> None:
    run = app.wait(app.trigger("chain"))
    down = mark_task_instances(app.store, "chain", run.run_id, "b", TIS.SUCCESS, downstream=True)
    assert sorted(ti.task_id for ti in down) == ["b", "c"]
    up = mark_task_instances(app.store, "chain", run.run_id, "b", TIS.FAILED, upstream=True)
    assert sorted(ti.task_id for ti in up) == ["b"]  # a is failed already
    assert app.task_states(run) == {"a": "failed", "b": "failed", "c": "success"}


def test_mark_run_success_and_failed(app: Slipstream) -> None:
    run = app.trigger("chain")
    app.start()
    app.scheduler.start_run(run)  # task instances exist, none has run
    mark_dag_run(app.store, "chain", run.run_id, DagRunState.SUCCESS)
    assert app.store.get_dag_run("chain", run.run_id).state == "success"  # type: ignore[union-attr]
    assert set(app.task_states(run).values()) == {"success"}

    second = app.trigger("chain")
    app.scheduler.start_run(second)
    mark_dag_run(app.store, "chain", second.run_id, DagRunState.FAILED)
    assert app.store.get_dag_run("chain", second.run_id).state == "failed"  # type: ignore[union-attr]
    assert set(app.task_states(second).values()) == {"skipped"}  # none was running


def test_refusals(app: Slipstream) -> None:
    run = app.wait(app.trigger("chain"))
    with pytest.raises(ValueError, match="can be marked"):
        mark_task_instances(app.store, "chain", run.run_id, "a", TIS.RUNNING)
    with pytest.raises(ValueError, match="not running"):
        mark_dag_run(app.store, "chain", run.run_id, DagRunState.RUNNING)
    with pytest.raises(NotFoundError, match="has no task 'ghost'"):
        mark_task_instances(app.store, "chain", run.run_id, "ghost", TIS.SUCCESS)
    with pytest.raises(NotFoundError, match="no run"):
        mark_dag_run(app.store, "chain", "nope", DagRunState.SUCCESS)
    assert app.task_states(run)["a"] == "failed"
