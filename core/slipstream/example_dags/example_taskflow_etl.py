"""TaskFlow: an extract, transform, load pipeline whose values travel as XComs."""

from __future__ import annotations

import json
from datetime import datetime

from slipstream import dag, task


@dag(
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "taskflow"],
)
def example_taskflow_etl():
    """
    ### TaskFlow ETL

    `@task` turns a function into a task. Calling it inside the DAG returns a
    reference to its future result; passing that reference to another task both
    wires the dependency and hands over the value (an XCom) at run time.

    `multiple_outputs=True` (or a `dict` return annotation) pushes each key of
    the returned dict as its own XCom, so `summary["total"]` can be used alone.
    """

    @task
    def extract() -> dict[str, float]:
        data = '{"1001": 301.27, "1002": 433.21, "1003": 502.22}'
        return json.loads(data)

    @task(multiple_outputs=True)
    def transform(orders: dict[str, float]) -> dict[str, float]:
        total = sum(orders.values())
        return {"total": round(total, 2), "count": len(orders)}

    @task
    def load(total: float, count: int) -> str:
        message = f"{count} orders, total {total:.2f}"
        print(message)
        return message

    summary = transform(extract())
    load(summary["total"], summary["count"])


example_taskflow_etl()
