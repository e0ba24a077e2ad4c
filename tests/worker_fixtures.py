"""Running one task the way a worker does, on a DAG built in the test."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from slipstream import DAG
from slipstream.execution.runner import RunInfo, TaskOutcome, run_task
from slipstream.testing import MemoryTaskClient

LOGICAL_DATE = datetime(2024, 1, 2, tzinfo=UTC)
RUN_ID = "scheduled__2024-01-02T00:00:00+00:00"
RunTask = Callable[..., TaskOutcome]


@pytest.fixture
def run() -> RunTask:
    """``run(dag, task_id, client)``: one try, in this process, with the run of 2024-01-02."""

    def go(
        dag: DAG,
        task_id: str,
        client: MemoryTaskClient | None = None,
        *,
        logical_date: datetime | None = LOGICAL_DATE,
        conf: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> TaskOutcome:
        info = RunInfo(
            run_id=RUN_ID,
            logical_date=logical_date,
            data_interval_start=logical_date,
            data_interval_end=logical_date + timedelta(days=1) if logical_date else None,
            conf=conf or {},
        )
        return run_task(
            dag=dag, task_id=task_id, run=info, client=client or MemoryTaskClient(), **kwargs
        )

    return go


@pytest.fixture
def xcom() -> Callable[..., Any]:
    """``xcom(client, dag, task_id, key="return_value")``: what the task pushed."""

    def pull(client: MemoryTaskClient, dag: DAG, task_id: str, key: str = "return_value") -> Any:
        return client.xcom_pull(
            dag_id=dag.dag_id, run_id=RUN_ID, task_id=task_id, key=key, map_index=-1
        )

    return pull
