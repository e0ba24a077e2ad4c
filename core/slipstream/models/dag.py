"""``DAG``: a pipeline — tasks, their dependencies, a schedule and defaults."""

from __future__ import annotations

import functools
import inspect
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import jinja2

from slipstream.exceptions import DagCycleError, DagDefinitionError, DuplicateTaskIdError
from slipstream.models.baseoperator import (
    CallbackArg,
    Task,
    as_callbacks,
    as_timedelta,
    validate_id,
)
from slipstream.models.param import ParamsDict
from slipstream.timetables import Timetable, as_utc, get_timezone, parse_schedule

if TYPE_CHECKING:
    from slipstream.models.taskgroup import TaskGroup

_dag_stack: list[DAG] = []
# While a DAG file is imported, every DAG created lands in the innermost list here,
# so DAGs built in loops or functions are found even if no global names them.
_collectors: list[list[DAG]] = []

_NOT_GIVEN: Any = object()


def current_dag() -> DAG | None:
    return _dag_stack[-1] if _dag_stack else None


def _caller_location() -> tuple[str, int | None]:
    """The first file outside slipstream's own package on the stack, and the line there:
    where the DAG is defined."""
    package_dir = str(Path(__file__).resolve().parent.parent)
    # Raw frames, not inspect.stack(): that looks up every frame's module and source
    # file, which made up most of a DAG file's parse in a fresh dag-processor fork.
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(package_dir) or "/example_dags/" in filename:
            return filename, frame.f_lineno
        frame = frame.f_back
    return "<unknown>", None


class DAG:
    """A pipeline. Use as a context manager (``with DAG("etl", ...):``) or ``@dag``."""

    def __init__(
        self,
        dag_id: str,
        *,
        description: str | None = None,
        schedule: Any = None,
        schedule_interval: Any = _NOT_GIVEN,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        catchup: bool = False,
        default_args: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        max_active_runs: int = 16,
        max_active_tasks: int = 16,
        dagrun_timeout: timedelta | float | None = None,
        doc_md: str | None = None,
        owner_links: Mapping[str, str] | None = None,
        template_searchpath: str | Sequence[str] | None = None,
        template_undefined: type[jinja2.Undefined] = jinja2.StrictUndefined,
        user_defined_macros: Mapping[str, Any] | None = None,
        user_defined_filters: Mapping[str, Callable[..., Any]] | None = None,
        render_template_as_native_obj: bool = False,
        is_paused_upon_creation: bool | None = None,
        dag_display_name: str | None = None,
        timezone: str | None = None,
        on_success_callback: CallbackArg = None,
        on_failure_callback: CallbackArg = None,
    ) -> None:
        self.dag_id = validate_id(dag_id, "dag_id")
        if schedule_interval is not _NOT_GIVEN:
            warnings.warn(
                "schedule_interval is Airflow 2's name; use schedule=",
                DeprecationWarning,
                stacklevel=2,
            )
            if schedule is not None:
                raise DagDefinitionError("give schedule= or schedule_interval=, not both")
            schedule = schedule_interval
        self.default_args = dict(default_args or {})
        start_date = start_date or self.default_args.get("start_date")
        end_date = end_date or self.default_args.get("end_date")
        if timezone is None:
            tz = getattr(start_date, "tzinfo", None)
            timezone = getattr(tz, "key", None) or (str(tz) if tz is not None else "UTC")
            if timezone not in ("UTC",) and not getattr(tz, "key", None):
                timezone = "UTC"  # a fixed offset: keep computing schedules in UTC
        try:
            get_timezone(timezone)
            self.timetable: Timetable = parse_schedule(schedule, timezone)
        except ValueError as exc:
            raise DagDefinitionError(f"DAG {dag_id!r}: {exc}") from None
        self.timezone = timezone
        self.schedule = schedule
        self.start_date = as_utc(start_date, timezone) if start_date else None
        self.end_date = as_utc(end_date, timezone) if end_date else None
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise DagDefinitionError(f"DAG {dag_id!r}: end_date is before start_date")
        if self.timetable.periodic and self.start_date is None:
            raise DagDefinitionError(
                f"DAG {dag_id!r} has a schedule ({self.timetable.summary}) but no start_date"
            )
        self.description = description
        self.catchup = catchup
        self.params = ParamsDict(params)
        if isinstance(tags, str):
            raise DagDefinitionError(f"DAG {dag_id!r}: tags must be a list of strings")
        for tag in tags or []:
            if not isinstance(tag, str) or not tag or len(tag) > 100:
                raise DagDefinitionError(f"DAG {dag_id!r}: tag {tag!r} must be a short string")
        self.tags = sorted(set(tags or []))
        for name, value in (
            ("max_active_runs", max_active_runs),
            ("max_active_tasks", max_active_tasks),
        ):
            if not isinstance(value, int) or value < 1:
                raise DagDefinitionError(f"DAG {dag_id!r}: {name} must be an integer >= 1")
        self.max_active_runs = max_active_runs
        self.max_active_tasks = max_active_tasks
        self.dagrun_timeout = as_timedelta(dagrun_timeout, "dagrun_timeout", allow_none=True)
        self.doc_md = doc_md
        self.owner_links = dict(owner_links or {})
        if isinstance(template_searchpath, str):
            template_searchpath = [template_searchpath]
        self.template_searchpath = list(template_searchpath or [])
        self.template_undefined = template_undefined
        self.user_defined_macros = dict(user_defined_macros or {})
        self.user_defined_filters = dict(user_defined_filters or {})
        self.render_template_as_native_obj = render_template_as_native_obj
        self.is_paused_upon_creation = is_paused_upon_creation
        self.dag_display_name = dag_display_name or dag_id
        self.on_success_callback = as_callbacks(on_success_callback, "on_success_callback")
        self.on_failure_callback = as_callbacks(on_failure_callback, "on_failure_callback")
        self.fileloc, self.fileloc_line = _caller_location()
        self._template_env: jinja2.Environment | None = None
        self.task_dict: dict[str, Task] = {}
        self.task_group_dict: dict[str, TaskGroup] = {}
        self._group_stack: list[TaskGroup] = []
        from slipstream.models.taskgroup import TaskGroup

        self.task_group = TaskGroup(None, dag=self, _root=True)
        if _collectors:
            _collectors[-1].append(self)

    # -- context manager ---------------------------------------------------------------

    def __enter__(self) -> DAG:
        _dag_stack.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _dag_stack.pop()

    # -- tasks -------------------------------------------------------------------------

    def add_task(self, task: Task) -> None:
        existing = self.task_dict.get(task.task_id)
        if existing is not None and existing is not task:
            raise DuplicateTaskIdError(
                f"task id {task.task_id!r} has already been added to the DAG {self.dag_id!r}"
            )
        if task.task_id in self.task_group_dict:
            raise DuplicateTaskIdError(
                f"task id {task.task_id!r} is also a task group id in DAG {self.dag_id!r}"
            )
        self.task_dict[task.task_id] = task
        task.dag = self

    def add_tasks(self, tasks: Sequence[Task]) -> None:
        for task in tasks:
            self.add_task(task)

    @property
    def tasks(self) -> list[Task]:
        return list(self.task_dict.values())

    @property
    def task_ids(self) -> list[str]:
        return list(self.task_dict)

    def get_task(self, task_id: str) -> Task:
        try:
            return self.task_dict[task_id]
        except KeyError:
            raise KeyError(f"task {task_id!r} is not in DAG {self.dag_id!r}") from None

    def has_task(self, task_id: str) -> bool:
        return task_id in self.task_dict

    @property
    def roots(self) -> list[Task]:
        return [t for t in self.task_dict.values() if not t.upstream_task_ids]

    @property
    def leaves(self) -> list[Task]:
        return [t for t in self.task_dict.values() if not t.downstream_task_ids]

    @property
    def owner(self) -> str:
        owners = sorted({getattr(t, "owner", "slipstream") for t in self.task_dict.values()})
        return ", ".join(owners) or "slipstream"

    def topological_sort(self) -> list[Task]:
        """Tasks, upstream before downstream; a cycle is a :class:`DagCycleError` naming it."""
        order: list[Task] = []
        state: dict[str, int] = {}  # 1 = visiting, 2 = done

        def visit(task_id: str, path: list[str]) -> None:
            mark = state.get(task_id)
            if mark == 2:
                return
            if mark == 1:
                cycle = list(reversed([*path[path.index(task_id) :], task_id]))
                raise DagCycleError(f"DAG {self.dag_id!r} has a cycle: {' >> '.join(cycle)}")
            state[task_id] = 1
            path.append(task_id)
            for upstream in sorted(self.task_dict[task_id].upstream_task_ids):
                visit(upstream, path)
            path.pop()
            state[task_id] = 2
            order.append(self.task_dict[task_id])

        for task_id in self.task_dict:
            visit(task_id, [])
        return order

    def validate(self) -> None:
        """Whole-DAG checks that can only run once every task exists."""
        self.topological_sort()
        for task in self.task_dict.values():
            for other in task.upstream_task_ids | task.downstream_task_ids:
                if other not in self.task_dict:
                    raise DagDefinitionError(
                        f"task {task.task_id!r} depends on {other!r}, which is not in "
                        f"DAG {self.dag_id!r}"
                    )
        try:
            self.params.resolve({})
        except Exception as exc:
            missing_default_ok = "has no default" in str(exc)
            if not missing_default_ok:
                raise DagDefinitionError(f"DAG {self.dag_id!r}: {exc}") from None

    # -- templates ---------------------------------------------------------------------

    def get_template_env(self) -> jinja2.Environment:
        """One Jinja environment per DAG object, built on first use (it costs milliseconds)."""
        from slipstream.templating import make_environment

        if self._template_env is None:
            searchpath = [str(Path(self.fileloc).parent), *self.template_searchpath]
            env = make_environment(
                searchpath=searchpath,
                undefined=self.template_undefined,
                native=self.render_template_as_native_obj,
            )
            env.globals.update(self.user_defined_macros)
            env.filters.update(self.user_defined_filters)
            self._template_env = env
        return self._template_env

    # -- misc --------------------------------------------------------------------------

    def iter_tasks_in_groups(self) -> Iterator[Task]:
        yield from self.task_group.iter_tasks()

    def __repr__(self) -> str:
        return f"<DAG: {self.dag_id}>"


def dag(dag_id: str | Callable[..., Any] | None = None, **dag_kwargs: Any) -> Any:
    """``@dag`` / ``@dag(schedule=...)``: the function body defines the tasks; its
    arguments become the DAG's params. Calling the function creates the DAG."""

    def decorator(func: Callable[..., Any]) -> Callable[..., DAG]:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def factory(*args: Any, **kwargs: Any) -> DAG:
            bound = signature.bind_partial(*args, **kwargs)
            params = dict(dag_kwargs.get("params") or {})
            for name, param in signature.parameters.items():
                if name in bound.arguments:
                    params[name] = bound.arguments[name]
                elif param.default is not inspect.Parameter.empty:
                    params.setdefault(name, param.default)
            kwargs_for_dag = {**dag_kwargs, "params": params}
            if func.__doc__ and "doc_md" not in kwargs_for_dag:
                kwargs_for_dag["doc_md"] = inspect.cleandoc(func.__doc__)
            name = dag_id if isinstance(dag_id, str) else func.__name__
            with DAG(name, **kwargs_for_dag) as new_dag:
                new_dag.fileloc = inspect.getsourcefile(func) or new_dag.fileloc
                call_kwargs = {
                    key: DagParam(key) for key in new_dag.params if key in signature.parameters
                }
                func(**call_kwargs)
            return new_dag

        return factory

    if callable(dag_id):
        func, dag_id = dag_id, None
        return decorator(func)
    return decorator


class DagParam:
    """A ``@dag`` function's argument inside its body: the run's param value at run time."""

    def __init__(self, name: str) -> None:
        self.name = name

    def resolve(self, context: Mapping[str, Any]) -> Any:
        return context["params"][self.name]

    def __repr__(self) -> str:
        return f"DagParam({self.name!r})"
