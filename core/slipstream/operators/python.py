"""Python callables as tasks, and the branching operators built on them."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from slipstream.exceptions import DagDefinitionError
from slipstream.models.baseoperator import BaseOperator


def parameters_of(func: Callable[..., Any]) -> tuple[inspect.Parameter, ...]:
    """The function's parameters, worked out once per function: the local executor's
    warm process asks for each task's callable, so that its forks only look them up."""
    try:
        return _parameters(func)
    except TypeError:  # an unhashable callable
        return tuple(inspect.signature(func).parameters.values())


@functools.lru_cache(maxsize=4096)
def _parameters(func: Callable[..., Any]) -> tuple[inspect.Parameter, ...]:
    return tuple(inspect.signature(func).parameters.values())


def determine_kwargs(
    func: Callable[..., Any],
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    context: Mapping[str, Any],
) -> dict[str, Any]:
    """``kwargs`` plus the context entries the function asks for by name (all of
    them if it takes ``**kwargs``), as Airflow does."""
    params = parameters_of(func)
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return {**context, **kwargs}
    positional = {
        p.name
        for p in params[: len(args)]
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    }
    wanted = {
        p.name: context[p.name]
        for p in params
        if p.name in context
        and p.name not in kwargs
        and p.name not in positional
        and p.kind is not p.POSITIONAL_ONLY
    }
    return {**wanted, **kwargs}


class PythonOperator(BaseOperator):
    """Calls ``python_callable(*op_args, **op_kwargs)``; context entries it names are passed too."""

    template_fields: Sequence[str] = ("templates_dict", "op_args", "op_kwargs")
    template_fields_renderers = {"templates_dict": "json", "op_args": "py", "op_kwargs": "py"}
    ui_color = "#ffefeb"

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        templates_dict: dict[str, Any] | None = None,
        templates_exts: Sequence[str] | None = None,
        show_return_value_in_logs: bool = True,
        **kwargs: Any,
    ) -> None:
        if not callable(python_callable):
            raise DagDefinitionError("python_callable must be callable")
        super().__init__(**kwargs)
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        self.templates_dict = templates_dict
        if templates_exts:
            self.template_ext = tuple(templates_exts)
        self.show_return_value_in_logs = show_return_value_in_logs

    def execute(self, context: Mapping[str, Any]) -> Any:
        extra = dict(context)
        extra["templates_dict"] = self.templates_dict
        kwargs = determine_kwargs(self.python_callable, self.op_args, self.op_kwargs, extra)
        result = self.python_callable(*self.op_args, **kwargs)
        if self.show_return_value_in_logs:
            self.log.info("Done. Returned value was: %r", result)
        return result


class SkipMixin:
    """Skipping downstream tasks: recorded on the running try, applied by the store."""

    def skip_downstream(
        self, context: Mapping[str, Any], task_ids: Iterable[str], *, recursive: bool = False
    ) -> None:
        ids = sorted(set(task_ids))
        if ids:
            context["ti"].skip_downstream(ids, recursive=recursive)


class BranchMixin(SkipMixin):
    def do_branch(self, context: Mapping[str, Any], branches: str | Iterable[str] | None) -> Any:
        """Follow ``branches`` (task ids or task group ids); skip the other direct downstreams."""
        task: BaseOperator = context["task"]
        dag = task.dag
        assert dag is not None
        chosen = [branches] if isinstance(branches, str) else list(branches or [])
        follow: set[str] = set()
        for branch in chosen:
            if branch in dag.task_group_dict:
                follow.update(t.task_id for t in dag.task_group_dict[branch].roots())
            elif branch in dag.task_dict:
                follow.add(branch)
            else:
                raise ValueError(f"branch {branch!r} is not a task or task group of {dag.dag_id!r}")
        not_downstream = follow - task.downstream_task_ids
        if not_downstream:
            raise ValueError(
                f"branch task {task.task_id!r} returned {sorted(not_downstream)}, which are not "
                f"directly downstream of it"
            )
        self.skip_downstream(context, task.downstream_task_ids - follow)
        return branches


class BranchPythonOperator(PythonOperator, BranchMixin):
    """The callable returns the task id(s) to follow; other direct downstream tasks are skipped."""

    def execute(self, context: Mapping[str, Any]) -> Any:
        return self.do_branch(context, super().execute(context))


class ShortCircuitOperator(PythonOperator, SkipMixin):
    """If the callable returns something falsy, everything downstream is skipped.

    With ``ignore_downstream_trigger_rules=False`` only the direct downstream
    tasks are skipped and the others follow their trigger rules.
    """

    def __init__(self, *, ignore_downstream_trigger_rules: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ignore_downstream_trigger_rules = ignore_downstream_trigger_rules

    def execute(self, context: Mapping[str, Any]) -> Any:
        result = super().execute(context)
        if not result:
            self.log.info("Condition is falsy: skipping downstream tasks")
            task: BaseOperator = context["task"]
            self.skip_downstream(
                context, task.downstream_task_ids, recursive=self.ignore_downstream_trigger_rules
            )
        return result
