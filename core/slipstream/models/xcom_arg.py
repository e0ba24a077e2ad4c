"""A reference to a task's result (an XCom), usable before the task has run.

Passing ``extract()`` (or ``op.output``) to another task wires the dependency
and, at run time, is replaced by the value the upstream task pushed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from slipstream.models.dependencies import DependencyMixin

if TYPE_CHECKING:
    from slipstream.models.baseoperator import Task

RETURN_KEY = "return_value"


class XComArg(DependencyMixin):
    """``task.output`` or ``task.output["key"]``."""

    def __init__(self, operator: Task, key: str = RETURN_KEY) -> None:
        self.operator = operator
        self.key = key

    def __getitem__(self, key: str) -> XComArg:
        return XComArg(self.operator, key)

    def __iter__(self) -> Iterator[Any]:
        raise TypeError(
            f"the output of task {self.operator.task_id!r} is not known while the DAG is "
            f"defined; to run a task once per item, use .expand()"
        )

    def __repr__(self) -> str:
        return f"XComArg({self.operator.task_id!r}, {self.key!r})"

    def _dependency_tasks(self, *, upstream_side: bool) -> list[Task]:
        return [self.operator]

    def resolve(self, context: Mapping[str, Any]) -> Any:
        """The value pushed by the upstream task (a list of values if it is mapped)."""
        ti = context["ti"]
        return ti.xcom_pull(task_ids=self.operator.task_id, key=self.key, map_indexes=None)

    def serialize(self) -> dict[str, str]:
        return {"task_id": self.operator.task_id, "key": self.key}


def find_xcom_args(value: Any) -> Iterator[XComArg]:
    """Every XComArg inside ``value``, however nested in lists, tuples, sets and dicts."""
    if isinstance(value, XComArg):
        yield value
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from find_xcom_args(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from find_xcom_args(item)
