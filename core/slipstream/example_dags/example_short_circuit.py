"""Short-circuit: skip everything downstream when a condition is false."""

from __future__ import annotations

from datetime import datetime

from slipstream import DAG, chain, task
from slipstream.operators.empty import EmptyOperator

with DAG(
    "example_short_circuit",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    tags=["example", "short_circuit"],
    doc_md="""
### Short-circuit

`@task.short_circuit` runs a condition. When it returns something true, the
tasks after it run; when it returns something false, every task downstream is
skipped. `chain(a, b, c)` is `a >> b >> c`.
""",
) as dag:

    @task.short_circuit
    def condition_is_true() -> bool:
        return True

    @task.short_circuit
    def condition_is_false() -> bool:
        return False

    chain(condition_is_true(), EmptyOperator(task_id="runs_1"), EmptyOperator(task_id="runs_2"))
    chain(
        condition_is_false(), EmptyOperator(task_id="skipped_1"), EmptyOperator(task_id="skipped_2")
    )
