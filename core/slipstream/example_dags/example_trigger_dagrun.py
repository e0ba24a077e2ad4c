"""Trigger another DAG from a task, with a conf."""

from __future__ import annotations

from datetime import datetime

from slipstream import DAG
from slipstream.operators.trigger_dagrun import TriggerDagRunOperator

with DAG(
    "example_trigger_dagrun",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    tags=["example", "trigger"],
    doc_md="""
### Triggering another DAG

`TriggerDagRunOperator` creates a run of `trigger_dag_id` with a `conf` (both
templated). The new run's id is this task's XCom. With
`wait_for_completion=True` the task waits until that run ends. A run of a
paused DAG waits until the DAG is unpaused.
""",
) as dag:
    TriggerDagRunOperator(
        task_id="trigger_params_example",
        trigger_dag_id="example_params",
        conf={"name": "{{ dag.dag_id }}", "times": 1},
    )
