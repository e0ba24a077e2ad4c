"""The task-execution API (``/execution``): how a remote worker runs one try without
a database password.

Modelled on Airflow 3's execution API. Every route takes only a task token
(``TokenKind.TASK``) scoped to one try, minted by the scheduler into the workload,
and only while the store says that try runs (see :mod:`.common`). It is kept out
of the public OpenAPI document: its clients are workers, not users.
"""

from __future__ import annotations

from litestar import Router

from slipstream.api.execution.common import task_token_only
from slipstream.api.execution.resources import (
    ConnectionController,
    DagController,
    DagRunController,
    VariableController,
    XComController,
)
from slipstream.api.execution.task_instances import TaskInstanceController

EXECUTION_PREFIX = "/execution"


def execution_router() -> Router:
    return Router(
        path=EXECUTION_PREFIX,
        route_handlers=[
            TaskInstanceController,
            VariableController,
            ConnectionController,
            XComController,
            DagRunController,
            DagController,
        ],
        guards=[task_token_only],
        include_in_schema=False,
    )
