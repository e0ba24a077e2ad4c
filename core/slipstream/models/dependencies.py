"""``>>`` and ``<<`` between tasks, lists of tasks, task groups and XCom results."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slipstream.models.baseoperator import Task


class DependencyMixin:
    """What can stand on either side of ``>>``."""

    def _dependency_tasks(self, *, upstream_side: bool) -> list[Task]:
        """The tasks an edge attaches to: leaves when this is upstream, roots when downstream."""
        raise NotImplementedError

    def set_downstream(self, other: Any) -> None:
        link(self, other)

    def set_upstream(self, other: Any) -> None:
        link(other, self)

    def __rshift__(self, other: Any) -> Any:
        link(self, other)
        return other

    def __lshift__(self, other: Any) -> Any:
        link(other, self)
        return other

    def __rrshift__(self, other: Any) -> Any:  # [a, b] >> self
        link(other, self)
        return self

    def __rlshift__(self, other: Any) -> Any:  # [a, b] << self
        link(self, other)
        return self


def dependency_tasks(item: Any, *, upstream_side: bool) -> list[Task]:
    if isinstance(item, DependencyMixin):
        return item._dependency_tasks(upstream_side=upstream_side)
    if isinstance(item, Iterable) and not isinstance(item, str | bytes):
        return [t for sub in item for t in dependency_tasks(sub, upstream_side=upstream_side)]
    raise TypeError(
        f"cannot set a dependency on {type(item).__name__} {item!r}: expected a task, "
        f"a task group, a task's output, or a list of those"
    )


def link(upstream: Any, downstream: Any) -> None:
    """Make every task of ``upstream`` an upstream of every task of ``downstream``."""
    for up in dependency_tasks(upstream, upstream_side=True):
        for down in dependency_tasks(downstream, upstream_side=False):
            up._add_edge_to(down)


def chain(*items: Any) -> None:
    """``chain(a, b, [c, d], e)``: a >> b >> [c, d] >> e. Two adjacent lists of equal
    length are linked pairwise, as in Airflow."""
    for left, right in itertools.pairwise(items):
        if _is_list(left) and _is_list(right):
            if len(left) != len(right):
                raise ValueError(
                    "chain() links adjacent lists pairwise; "
                    f"got lengths {len(left)} and {len(right)}"
                )
            for up, down in zip(left, right, strict=True):
                link(up, down)
        else:
            link(left, right)


def cross_downstream(from_tasks: Sequence[Any], to_tasks: Sequence[Any]) -> None:
    """Every task in ``from_tasks`` upstream of every task in ``to_tasks``."""
    link(list(from_tasks), list(to_tasks))


def _is_list(item: Any) -> bool:
    return isinstance(item, list | tuple)
