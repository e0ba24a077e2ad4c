"""How code running inside a task reaches shared state (Variables, Connections, XComs).

A local worker talks to the metadata store; a remote worker talks to the
task-execution API with a token scoped to its try. Both implement
:class:`TaskClient`; user code only sees ``Variable.get`` and friends.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
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
