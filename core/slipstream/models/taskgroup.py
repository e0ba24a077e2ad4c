"""Task groups: tasks shown and wired together, with ids prefixed by the group's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from slipstream.exceptions import DagDefinitionError
from slipstream.models.baseoperator import Task, validate_id
from slipstream.models.dependencies import DependencyMixin

if TYPE_CHECKING:
    from slipstream.models.dag import DAG


class TaskGroup(DependencyMixin):
    """``with TaskGroup("extract"):`` — tasks inside get ids like ``extract.load``.

    ``group >> task`` links the group's leaves to the task, ``task >> group`` the
    task to the group's roots.
    """

    group_id: str | None
    parent_group: TaskGroup | None
    dag: DAG | None

    def __init__(
        self,
        group_id: str | None,
        *,
        dag: DAG | None = None,
        parent_group: TaskGroup | None = None,
        prefix_group_id: bool = True,
        tooltip: str = "",
        default_args: Mapping[str, Any] | None = None,
        ui_color: str = "CornflowerBlue",
        _root: bool = False,
    ) -> None:
        from slipstream.models.dag import current_dag

        self.children: dict[str, Task | TaskGroup] = {}
        self.prefix_group_id = prefix_group_id
        self.tooltip = tooltip
        self.default_args = dict(default_args or {})
        self.ui_color = ui_color
        if _root:
            self.dag = dag
            self.parent_group = None
            self.group_id = None
            self._label = ""
            return
        dag = dag or current_dag()
        if dag is None:
            raise DagDefinitionError(f"TaskGroup {group_id!r} must be created inside a DAG")
        self.dag = dag
        parent = parent_group or current_task_group(dag) or dag.task_group
        self.parent_group = parent
        label = validate_id(group_id, "group_id")
        self._label = label
        self.group_id = (
            f"{parent.group_id}.{label}" if parent.group_id and parent.prefix_group_id else label
        )
        if self.group_id in dag.task_group_dict or self.group_id in dag.task_dict:
            raise DagDefinitionError(
                f"group_id {self.group_id!r} is already used in DAG {dag.dag_id!r}"
            )
        dag.task_group_dict[label if self.group_id is None else self.group_id] = self
        parent.children[self.group_id or label] = self

    @property
    def label(self) -> str:
        return self._label

    def child_id(self, label: str) -> str:
        if self.group_id and self.prefix_group_id:
            return f"{self.group_id}.{label}"
        return label

    def add(self, child: Task | TaskGroup) -> None:
        key = child.task_id if isinstance(child, Task) else child.group_id
        assert key is not None
        self.children[key] = child

    def inherited_default_args(self) -> dict[str, Any]:
        chain: list[TaskGroup] = []
        group: TaskGroup | None = self
        while group is not None:
            chain.append(group)
            group = group.parent_group
        merged: dict[str, Any] = {}
        for item in reversed(chain):
            merged.update(item.default_args)
        return merged

    def iter_tasks(self) -> list[Task]:
        tasks: list[Task] = []
        for child in self.children.values():
            if isinstance(child, TaskGroup):
                tasks.extend(child.iter_tasks())
            else:
                tasks.append(child)
        return tasks

    def roots(self) -> list[Task]:
        """Tasks in the group with no upstream inside the group."""
        tasks = self.iter_tasks()
        ids = {t.task_id for t in tasks}
        return [t for t in tasks if not (t.upstream_task_ids & ids)]

    def leaves(self) -> list[Task]:
        tasks = self.iter_tasks()
        ids = {t.task_id for t in tasks}
        return [t for t in tasks if not (t.downstream_task_ids & ids)]

    def _dependency_tasks(self, *, upstream_side: bool) -> list[Task]:
        found = self.leaves() if upstream_side else self.roots()
        if not found:
            raise DagDefinitionError(f"task group {self.group_id!r} has no tasks to depend on")
        return found

    def __enter__(self) -> TaskGroup:
        assert self.dag is not None
        self.dag._group_stack.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.dag is not None
        self.dag._group_stack.pop()

    def __repr__(self) -> str:
        return f"<TaskGroup: {self.group_id}>"


def current_task_group(dag: DAG | None) -> TaskGroup | None:
    if dag is None:
        return None
    return dag._group_stack[-1] if dag._group_stack else dag.task_group
