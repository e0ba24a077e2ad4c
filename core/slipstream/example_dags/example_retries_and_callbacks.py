"""Retries with exponential backoff, timeouts, and success/failure callbacks."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from slipstream import DAG, task


def notify_success(context):
    print(f"run {context['run_id']}: {context['task'].task_id} succeeded")


def notify_failure(context):
    print(f"run {context['run_id']}: {context['task'].task_id} failed: {context['exception']}")


with DAG(
    "example_retries_and_callbacks",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    tags=["example", "retries"],
    default_args={
        "retries": 3,
        "retry_delay": timedelta(seconds=1),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(seconds=10),
        "on_success_callback": notify_success,
        "on_failure_callback": notify_failure,
    },
    doc_md="""
### Retries, timeouts and callbacks

`flaky` fails about half of its tries. It has 3 retries, waiting 1 s, then
about 2 s, then 4 s (`retry_exponential_backoff`, capped by `max_retry_delay`).
`too_slow` exceeds its `execution_timeout` and is stopped. Callbacks receive the
task's context; a callback that raises is logged and never changes the task's
state.
""",
) as dag:

    @task
    def flaky() -> str:
        if random.random() < 0.5:
            raise RuntimeError("transient error")
        return "ok"

    @task(execution_timeout=timedelta(seconds=2), retries=0)
    def too_slow() -> None:
        import time

        time.sleep(30)

    flaky()
    too_slow()
