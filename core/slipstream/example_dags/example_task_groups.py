"""Task groups: related tasks shown and wired together."""

from __future__ import annotations

from datetime import datetime

from slipstream import DAG, TaskGroup
from slipstream.operators.bash import BashOperator
from slipstream.operators.empty import EmptyOperator

with DAG(
    "example_task_groups",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    tags=["example", "task_group"],
    doc_md="""
### Task groups

Tasks created inside `with TaskGroup("extract"):` get ids like `extract.orders`
and are drawn together in the graph. `start >> extract` links `start` to every
task in the group that has no upstream inside it; `extract >> load` links every
task with no downstream inside it. Groups nest; `default_args` on a group apply
to its tasks.
""",
) as dag:
    start = EmptyOperator(task_id="start")
    with TaskGroup("extract", tooltip="Pull the raw data", default_args={"retries": 2}) as extract:
        BashOperator(task_id="orders", bash_command="echo orders")
        BashOperator(task_id="customers", bash_command="echo customers")
    with TaskGroup("load") as load:
        stage = EmptyOperator(task_id="stage")
        with TaskGroup("publish"):
            publish = EmptyOperator(task_id="tables")
        stage >> publish
    end = EmptyOperator(task_id="end")
    start >> extract >> load >> end
