"""Branching: one path runs, the others are skipped, and a join still runs."""

from __future__ import annotations

from datetime import datetime

from slipstream import DAG, TriggerRule, task
from slipstream.operators.empty import EmptyOperator

with DAG(
    "example_branching",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "branching"],
    doc_md="""
### Branching

`@task.branch` returns the task id (or ids) to follow; the other tasks directly
downstream of it are **skipped**, and skips spread to their downstream tasks.
The `join` task uses the trigger rule `none_failed_min_one_success`, so it runs
when one branch succeeded and the other was skipped (with the default
`all_success` it would be skipped too).
""",
) as dag:
    start = EmptyOperator(task_id="start")

    @task.branch
    def pick_branch(logical_date=None) -> str:
        day = logical_date.day if logical_date else 1
        return "even_day" if day % 2 == 0 else "odd_day"

    even = EmptyOperator(task_id="even_day")
    odd = EmptyOperator(task_id="odd_day")
    join = EmptyOperator(task_id="join", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)

    start >> pick_branch() >> [even, odd] >> join
