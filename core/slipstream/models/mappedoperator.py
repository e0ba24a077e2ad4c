"""Dynamic task mapping: one task in the DAG, one task instance per item at run time.

``Op.partial(task_id="t", shared=1).expand(x=[1, 2, 3])`` or, with TaskFlow,
``add.partial(y=1).expand(x=upstream())``. What to map over may be a literal
list or dict, or an upstream task's result known only when the run gets there.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from slipstream.exceptions import DagDefinitionError
from slipstream.models.baseoperator import (
    DETACHED,
    BaseOperator,
    Task,
    apply_default_args,
)
from slipstream.models.xcom_arg import XComArg, find_xcom_args

# The BaseOperator arguments a mapped task shares with every expanded instance.
_SCHEDULING = (
    "owner", "retries", "retry_delay", "retry_exponential_backoff", "max_retry_delay",
    "execution_timeout", "trigger_rule", "depends_on_past", "wait_for_downstream", "pool",
    "pool_slots", "priority_weight", "weight_rule", "queue", "executor", "executor_config",
    "max_active_tis_per_dag", "do_xcom_push", "multiple_outputs", "start_date", "end_date",
    "doc", "doc_md", "task_display_name", "map_index_template", "on_execute_callback",
    "on_success_callback", "on_failure_callback", "on_retry_callback", "on_skipped_callback",
    "email", "email_on_failure", "email_on_retry",
)  # fmt: skip


def _check_mappable(name: str, value: Any) -> None:
    if isinstance(value, XComArg):
        return
    if isinstance(value, list | tuple | dict):
        return
    raise DagDefinitionError(
        f"expand() argument {name!r} must be a list, a dict, or a task's output; "
        f"got {type(value).__name__}"
    )


class OperatorPartial:
    """Arguments fixed for every mapped instance, waiting for ``.expand()``."""

    def __init__(self, operator_class: type[BaseOperator], kwargs: Mapping[str, Any]) -> None:
        if "task_id" not in kwargs:
            raise DagDefinitionError(f"{operator_class.__name__}.partial() needs task_id=")
        self.operator_class = operator_class
        self.kwargs = dict(kwargs)
        self._expanded = False

    def expand(self, **mapped: Any) -> MappedOperator:
        """One task instance per item (per combination, with several arguments)."""
        if not mapped:
            raise DagDefinitionError("expand() needs at least one argument to map over")
        return self._finish(mapped, None)

    def expand_kwargs(self, kwargs_list: Sequence[Mapping[str, Any]] | XComArg) -> MappedOperator:
        """One task instance per dict of arguments."""
        if not isinstance(kwargs_list, XComArg | list | tuple):
            raise DagDefinitionError("expand_kwargs() takes a list of dicts or a task's output")
        return self._finish({}, kwargs_list)

    def _finish(self, mapped: dict[str, Any], kwargs_list: Any) -> MappedOperator:
        if self._expanded:
            raise DagDefinitionError("this partial() was already expanded")
        self._expanded = True
        return MappedOperator(self.operator_class, self.kwargs, mapped, kwargs_list)


class MappedOperator(Task):
    """A task expanded at run time into ``map_index`` 0..n-1."""

    is_mapped = True

    def __init__(
        self,
        operator_class: type[BaseOperator],
        partial_kwargs: Mapping[str, Any],
        expand_input: Mapping[str, Any],
        expand_kwargs_input: Sequence[Mapping[str, Any]] | XComArg | None = None,
    ) -> None:
        accepted = operator_class._accepted_params()
        into = operator_class._expand_into
        for name, value in expand_input.items():
            _check_mappable(name, value)
            if name in partial_kwargs or (into and name in partial_kwargs.get(into, {})):
                raise DagDefinitionError(
                    f"argument {name!r} is given to both partial() and expand()"
                )
            if into is None and name not in accepted:
                raise DagDefinitionError(
                    f"{operator_class.__name__} has no argument {name!r} to expand over"
                )
        kwargs = apply_default_args(operator_class, dict(partial_kwargs))
        task_id = kwargs.pop("task_id")
        dag = kwargs.pop("dag", None)
        task_group = kwargs.pop("task_group", None)
        self.operator_class = operator_class
        self.expand_input = dict(expand_input)
        self.expand_kwargs_input = expand_kwargs_input
        self.partial_kwargs = kwargs

        # Scheduling attributes come out exactly as BaseOperator computes them.
        shared = {k: v for k, v in kwargs.items() if k in _SCHEDULING or k == "params"}
        prototype = BaseOperator.__new__(BaseOperator)
        BaseOperator.__init__(prototype, task_id=task_id, dag=DETACHED, **shared)
        for name in _SCHEDULING:
            setattr(self, name, getattr(prototype, name))
        self._task_params = prototype._task_params
        self.template_fields = operator_class.template_fields
        self.ui_color = operator_class.ui_color
        self._attach(task_id, dag, task_group)
        for value in [*expand_input.values(), expand_kwargs_input, *kwargs.values()]:
            for arg in find_xcom_args(value):
                arg.operator._add_edge_to(self)

    @property
    def operator_name(self) -> str:
        return self.operator_class.__name__

    @property
    def params(self) -> Any:
        from slipstream.models.param import ParamsDict

        base = self.dag.params if self.dag is not None else ParamsDict()
        return base.merged(self._task_params)

    def mapped_sources(self) -> dict[str, Any]:
        """Name -> literal sequence or XComArg, for the scheduler's count of instances."""
        if self.expand_kwargs_input is not None:
            return {"*": self.expand_kwargs_input}
        return dict(self.expand_input)

    def combinations(self, resolved: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every instance's mapped arguments, in map_index order, given resolved sources."""
        if self.expand_kwargs_input is not None:
            items = list(resolved["*"])
            for item in items:
                if not isinstance(item, Mapping):
                    raise TypeError(f"expand_kwargs() items must be dicts, got {item!r}")
            return [dict(item) for item in items]
        names = list(self.expand_input)
        columns = [_items(resolved[name]) for name in names]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*columns)]

    def unmap(self, mapped_values: Mapping[str, Any]) -> BaseOperator:
        """The real operator for one map index (at run time, outside any DAG context)."""
        kwargs = dict(self.partial_kwargs)
        into = self.operator_class._expand_into
        if into is not None:
            kwargs[into] = {**kwargs.get(into, {}), **mapped_values}
        else:
            kwargs.update(mapped_values)
        operator = self.operator_class(task_id=self.task_id, dag=DETACHED, **kwargs)
        operator.dag = self.dag
        operator.task_group = self.task_group
        operator.upstream_task_ids = set(self.upstream_task_ids)
        operator.downstream_task_ids = set(self.downstream_task_ids)
        return operator

    def __repr__(self) -> str:
        return f"<Mapped({self.operator_class.__name__}): {self.task_id}>"


def _items(source: Any) -> list[Any]:
    if isinstance(source, dict):
        return list(source.items())
    return list(source)
