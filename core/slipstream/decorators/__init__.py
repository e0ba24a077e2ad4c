"""TaskFlow: ``@task`` turns a function into a task whose return value is its XCom.

Calling the decorated function inside a DAG creates the task and returns a
reference to its result; passing that to another task wires the dependency.
``@task.branch``, ``@task.short_circuit``, ``@task.bash`` and ``@task.sensor``
build the matching operators.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from slipstream.exceptions import DagDefinitionError
from slipstream.models.baseoperator import BaseOperator
from slipstream.models.dag import current_dag
from slipstream.models.mappedoperator import OperatorPartial
from slipstream.models.taskgroup import current_task_group
from slipstream.models.xcom_arg import XComArg
from slipstream.operators.bash import BashOperator
from slipstream.operators.python import (
    BranchMixin,
    PythonOperator,
    ShortCircuitOperator,
    determine_kwargs,
)
from slipstream.sensors.base import BaseSensorOperator


class DecoratedPythonOperator(PythonOperator):
    """The operator behind ``@task``."""

    _expand_into = "op_kwargs"
    custom_operator_name = "@task"

    def __init__(self, *, python_callable: Callable[..., Any], **kwargs: Any) -> None:
        kwargs.setdefault("show_return_value_in_logs", True)
        super().__init__(python_callable=python_callable, **kwargs)


class DecoratedBranchOperator(DecoratedPythonOperator, BranchMixin):
    custom_operator_name = "@task.branch"

    def execute(self, context: Mapping[str, Any]) -> Any:
        return self.do_branch(context, super().execute(context))


class DecoratedShortCircuitOperator(ShortCircuitOperator):
    _expand_into = "op_kwargs"
    custom_operator_name = "@task.short_circuit"


class DecoratedBashOperator(BashOperator):
    """``@task.bash``: the function returns the command to run."""

    _expand_into = "op_kwargs"
    custom_operator_name = "@task.bash"
    template_fields: Sequence[str] = ("bash_command", "env", "cwd", "op_args", "op_kwargs")

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("bash_command", "")
        super().__init__(**kwargs)
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})

    def execute(self, context: Mapping[str, Any]) -> Any:
        kwargs = determine_kwargs(self.python_callable, self.op_args, self.op_kwargs, context)
        command = self.python_callable(*self.op_args, **kwargs)
        if not isinstance(command, str) or not command.strip():
            raise TypeError(
                f"@task.bash function {self.python_callable.__name__} must return a non-empty "
                f"command string, got {command!r}"
            )
        self.bash_command = self.get_template_env().from_string(command).render(**context)
        return super().execute(context)


class DecoratedSensorOperator(BaseSensorOperator):
    """``@task.sensor``: the function is the poke; it returns a bool or a PokeReturnValue."""

    _expand_into = "op_kwargs"
    custom_operator_name = "@task.sensor"
    template_fields: Sequence[str] = ("op_args", "op_kwargs")

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})

    def poke(self, context: Mapping[str, Any]) -> Any:
        kwargs = determine_kwargs(self.python_callable, self.op_args, self.op_kwargs, context)
        return self.python_callable(*self.op_args, **kwargs)


def _returns_dict(func: Callable[..., Any]) -> bool:
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # unresolvable annotations: infer nothing
        return False
    returned = hints.get("return")
    origin = typing.get_origin(returned) or returned
    return origin in (dict, typing.Dict) or (  # noqa: UP006
        isinstance(origin, type) and issubclass(origin, dict)
    )


class TaskDecorator:
    """A decorated function: call it to add a task; ``.override``, ``.partial``, ``.expand``."""

    def __init__(
        self,
        function: Callable[..., Any],
        operator_class: type[BaseOperator],
        kwargs: Mapping[str, Any],
    ) -> None:
        functools.update_wrapper(self, function)
        self.function = function
        self.operator_class = operator_class
        self.kwargs = dict(kwargs)
        self.signature = inspect.signature(function)

    def _operator_kwargs(self, extra: Mapping[str, Any]) -> dict[str, Any]:
        kwargs = {**self.kwargs, **extra}
        kwargs.setdefault("task_id", self.function.__name__)
        if "multiple_outputs" not in kwargs and _returns_dict(self.function):
            kwargs["multiple_outputs"] = True
        if not kwargs.get("doc_md") and self.function.__doc__:
            kwargs["doc_md"] = inspect.cleandoc(self.function.__doc__)
        kwargs["task_id"] = self._unique_id(kwargs["task_id"], kwargs.get("dag"))
        return kwargs

    def _unique_id(self, task_id: str, dag: Any) -> str:
        """Calling the same @task twice in a DAG gives ids ``name``, ``name__1``, ..."""
        dag = dag or current_dag()
        if dag is None:
            return task_id
        group = current_task_group(dag)
        full = group.child_id(task_id) if group else task_id
        if full not in dag.task_dict:
            return task_id
        n = 1
        while (group.child_id(f"{task_id}__{n}") if group else f"{task_id}__{n}") in dag.task_dict:
            n += 1
        return f"{task_id}__{n}"

    def __call__(self, *args: Any, **kwargs: Any) -> XComArg:
        try:
            self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            # Context values (ti, ds, ...) may be left out: they are filled in at run time.
            missing_ok = "missing" in str(exc)
            if not missing_ok:
                raise DagDefinitionError(f"@task {self.function.__name__}(): {exc}") from None
        operator = self.operator_class(
            python_callable=self.function,
            op_args=list(args),
            op_kwargs=kwargs,
            **self._operator_kwargs({}),
        )
        return XComArg(operator)

    def override(self, **kwargs: Any) -> TaskDecorator:
        """The same task function with other task arguments (``task_id``, ``retries``...)."""
        return TaskDecorator(self.function, self.operator_class, {**self.kwargs, **kwargs})

    def partial(self, **kwargs: Any) -> _TaskPartial:
        unknown = set(kwargs) - set(self.signature.parameters)
        if unknown and not any(p.kind is p.VAR_KEYWORD for p in self.signature.parameters.values()):
            raise DagDefinitionError(
                f"@task {self.function.__name__}.partial(): unexpected {', '.join(sorted(unknown))}"
            )
        return _TaskPartial(self, kwargs)

    def expand(self, **mapped: Any) -> XComArg:
        return self.partial().expand(**mapped)

    def expand_kwargs(self, kwargs_list: Any) -> XComArg:
        return self.partial().expand_kwargs(kwargs_list)


class _TaskPartial:
    def __init__(self, decorator: TaskDecorator, op_kwargs: Mapping[str, Any]) -> None:
        self.decorator = decorator
        self.op_kwargs = dict(op_kwargs)

    def _partial(self) -> OperatorPartial:
        kwargs = self.decorator._operator_kwargs({})
        return OperatorPartial(
            self.decorator.operator_class,
            {**kwargs, "python_callable": self.decorator.function, "op_kwargs": self.op_kwargs},
        )

    def expand(self, **mapped: Any) -> XComArg:
        params = self.decorator.signature.parameters
        accepts_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        for name in mapped:
            if name not in params and not accepts_any:
                raise DagDefinitionError(
                    f"@task {self.decorator.function.__name__} has no argument {name!r} to expand"
                )
        return XComArg(self._partial().expand(**mapped))

    def expand_kwargs(self, kwargs_list: Any) -> XComArg:
        return XComArg(self._partial().expand_kwargs(kwargs_list))


def _factory(operator_class: type[BaseOperator]) -> Callable[..., Any]:
    def decorate(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        if python_callable is not None and callable(python_callable):
            return TaskDecorator(python_callable, operator_class, kwargs)
        return lambda func: TaskDecorator(func, operator_class, kwargs)

    return decorate


class _TaskNamespace:
    """``@task``, ``@task(...)``, ``@task.python``, ``@task.branch``, ``@task.short_circuit``,
    ``@task.bash`` and ``@task.sensor``."""

    def __init__(self) -> None:
        self.python = _factory(DecoratedPythonOperator)
        self.branch = _factory(DecoratedBranchOperator)
        self.short_circuit = _factory(DecoratedShortCircuitOperator)
        self.bash = _factory(DecoratedBashOperator)
        self.sensor = _factory(DecoratedSensorOperator)

    def __call__(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        return self.python(python_callable, **kwargs)


task = _TaskNamespace()
