"""TriggerDagRunOperator and ExternalTaskSensor end to end: an embedded slipstream on a
SQLite store, where tasks reach other DAGs' runs through the store's task client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from slipstream import DAG, task
from slipstream.operators.empty import EmptyOperator
from slipstream.operators.trigger_dagrun import TriggerDagRunOperator
from slipstream.runtime import Slipstream
from slipstream.sensors.external_task import ExternalTaskSensor

START = datetime(2024, 1, 1, tzinfo=UTC)
DAY = datetime(2024, 1, 2, tzinfo=UTC)


def make_app(home: Path, *dags: DAG, executor: str = "sequential") -> Slipstream:
    settings = {
        "core.metadata": f"sqlite:///{home / 'slipstream.db'}",
        "core.executor": executor,
        "core.load_examples": False,
        "core.dags_folder": str(home / "dags"),
        "logging.base_log_folder": str(home / "logs"),
        "scheduler.poll_interval": 0.05,
    }
    return Slipstream(settings, dags=dags, environ={"SLIPSTREAM_HOME": str(home)})


@pytest.fixture
def child() -> DAG:
    with DAG("child", start_date=START) as dag:

        @task
        def read_conf(**context: object) -> object:
            return context["params"]

        read_conf()
    return dag


@pytest.fixture
def app(tmp_path: Path, child: DAG) -> Iterator[Slipstream]:
    with DAG("parent", start_date=START) as parent:
        TriggerDagRunOperator(
            task_id="trigger",
            trigger_dag_id="child",
            trigger_run_id="child_of_{{ run_id }}",
            conf={"day": "{{ ds }}"},
            logical_date="{{ logical_date }}",
        )
        TriggerDagRunOperator(
            task_id="again",
            trigger_dag_id="child",
            trigger_run_id="child_of_{{ run_id }}",
            reset_dag_run=True,
        )
        TriggerDagRunOperator(task_id="ghost", trigger_dag_id="no_such_dag")
    with DAG("watcher", start_date=START) as watcher:
        ExternalTaskSensor(
            task_id="wait_child",
            external_dag_id="child",
            external_task_id="read_conf",
            check_existence=True,
            poke_interval=0.05,
            timeout=5,
        )
        ExternalTaskSensor(
            task_id="wait_run",
            external_dag_id="child",
            execution_delta=timedelta(days=1),
            poke_interval=0.05,
            timeout=0.3,
            soft_fail=True,
        )
        EmptyOperator(task_id="after")
    application = make_app(tmp_path, child, parent, watcher)
    yield application
    application.close()


def test_trigger_creates_a_run_that_the_sensor_then_sees(app: Slipstream) -> None:
    parent_run = app.wait(app.trigger("parent", logical_date=DAY, run_id="p1"))

    states = app.task_states(parent_run)
    assert states["trigger"] == "success"
    assert states["again"] == "success"  # the same run, cleared to run again
    assert states["ghost"] == "failed"
    assert app.xcom(parent_run, "trigger") == "child_of_p1"

    child_run = app.store.get_dag_run("child", "child_of_p1")
    assert child_run is not None
    assert child_run.logical_date == DAY
    assert child_run.conf == {"day": "2024-01-02"}
    child_run = app.wait(child_run)
    assert child_run.state == "success"
    assert app.xcom(child_run, "read_conf") == {"day": "2024-01-02"}

    watch = app.wait(app.trigger("watcher", logical_date=DAY))
    assert app.task_states(watch)["wait_child"] == "success"
    assert app.task_states(watch)["wait_run"] == "skipped"  # no child run the day before
