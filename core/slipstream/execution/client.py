"""How code running inside a task reaches shared state (Variables, Connections, XComs).

A local worker talks to the metadata store; a remote worker talks to the
task-execution API with a token scoped to its try. Both implement
:class:`TaskClient`; user code only sees ``Variable.get`` and friends.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any, Protocol


class TaskClient(Protocol):
    def get_variable(self, key: str) -> str | None: ...

    def set_variable(self, key: str, value: str, description: str | None = None) -> None: ...

    def delete_variable(self, key: str) -> None: ...

    def get_connection(self, conn_id: str) -> Mapping[str, Any] | None: ...

    def xcom_pull(
        self, *, dag_id: str, run_id: str, task_id: str, key: str, map_index: int | None
    ) -> Any: ...

    def xcom_push(
        self, *, dag_id: str, run_id: str, task_id: str, key: str, map_index: int, value: Any
    ) -> None: ...

    # -- other dag runs (TriggerDagRunOperator, ExternalTaskSensor) ---------------------

    def trigger_dag_run(
        self,
        *,
        dag_id: str,
        run_id: str,
        conf: Mapping[str, Any] | None,
        logical_date: datetime | None,
        reset_dag_run: bool,
    ) -> str:
        """Create a manual run of ``dag_id`` and return its run id.

        Raises :class:`~slipstream.exceptions.DagNotFound` for an unknown DAG and
        :class:`~slipstream.exceptions.DagRunAlreadyExists` when a run with this
        ``run_id`` (or this non-None ``logical_date``) exists, unless
        ``reset_dag_run``: then that run is cleared to run again and its id returned.
        """
        ...

    def get_dag_run_state(
        self, *, dag_id: str, run_id: str | None = None, logical_date: datetime | None = None
    ) -> str | None:
        """The state of one run, found by ``run_id`` or else by ``logical_date``; None if none."""
        ...

    def get_task_states(
        self, *, dag_id: str, logical_date: datetime, task_ids: Collection[str] | None = None
    ) -> Mapping[str, Sequence[str]] | None:
        """States of the task instances of ``dag_id``'s run at ``logical_date``.

        task id -> one state per task instance (one for an unmapped task, one per map
        index for a mapped one; ``"none"`` while not scheduled). Only ``task_ids`` when
        given (ids the run does not have are left out); every task when None. None
        when there is no such run.
        """
        ...

    def get_dag_task_ids(self, *, dag_id: str) -> Sequence[str] | None:
        """The task ids of the latest parsed version of ``dag_id``; None if no such DAG."""
        ...


_current: ContextVar[TaskClient | None] = ContextVar("slipstream_task_client", default=None)


def current_client() -> TaskClient | None:
    return _current.get()


@contextmanager
def using_client(client: TaskClient) -> Iterator[TaskClient]:
    """Make ``client`` the one ``Variable``, ``Connection`` and XCom use in this context."""
    token = _current.set(client)
    try:
        yield client
    finally:
        _current.reset(token)
