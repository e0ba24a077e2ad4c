"""``BaseOperator``: what every task is, and the base class of custom operators.

A custom operator subclasses :class:`BaseOperator`, takes keyword arguments,
lists the attributes to render with Jinja in ``template_fields``, and does its
work in ``execute(context)``; the value it returns becomes its XCom.
"""

from __future__ import annotations

import copy
import inspect
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import jinja2

from slipstream.exceptions import DagDefinitionError
from slipstream.models.dependencies import DependencyMixin
from slipstream.models.param import ParamsDict
from slipstream.models.xcom_arg import XComArg, find_xcom_args
from slipstream.timetables import as_utc
from slipstream.trigger_rule import TriggerRule

if TYPE_CHECKING:
    from slipstream.models.dag import DAG
    from slipstream.models.mappedoperator import OperatorPartial
    from slipstream.models.taskgroup import TaskGroup

TASK_ID = re.compile(r"^[A-Za-z0-9_.\-]+$")
MAX_ID_LENGTH = 250
WEIGHT_RULES = ("downstream", "upstream", "absolute")

Callback = Callable[[Mapping[str, Any]], Any]
CallbackArg = Callback | Sequence[Callback] | None


class _Detached:
    """Pass as ``dag=`` to build an operator that joins no DAG (mapped expansion, prototypes)."""

    def __repr__(self) -> str:
        return "DETACHED"


DETACHED: Any = _Detached()


def validate_id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not TASK_ID.match(value):
        raise DagDefinitionError(
            f"{what} {value!r} may contain only letters, digits, '_', '-' and '.'"
        )
    if len(value) > MAX_ID_LENGTH:
        raise DagDefinitionError(f"{what} {value!r} is longer than {MAX_ID_LENGTH} characters")
    return value


def as_timedelta(value: Any, name: str, *, allow_none: bool = False) -> timedelta | None:
    if value is None and allow_none:
        return None
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    raise DagDefinitionError(f"{name} must be a timedelta or a number of seconds, got {value!r}")


def as_callbacks(value: CallbackArg, name: str) -> list[Callback]:
    if value is None:
        return []
    items = list(value) if isinstance(value, list | tuple) else [value]
    for item in items:
        if not callable(item):
            raise DagDefinitionError(f"{name} must be a callable or a list of callables")
    return items  # type: ignore[return-value]


class Task(DependencyMixin):
    """What the DAG holds for each task: a :class:`BaseOperator` or a :class:`MappedOperator`."""

    task_id: str
    dag: DAG | None
    task_group: TaskGroup | None
    upstream_task_ids: set[str]
    downstream_task_ids: set[str]
    is_mapped: ClassVar[bool] = False

    def _dependency_tasks(self, *, upstream_side: bool) -> list[Task]:
        return [self]

    def _add_edge_to(self, downstream: Task) -> None:
        if downstream is self:
            raise DagDefinitionError(f"task {self.task_id!r} cannot depend on itself")
        if self.dag is None and downstream.dag is not None:
            downstream.dag.add_task(self)
        elif downstream.dag is None and self.dag is not None:
            self.dag.add_task(downstream)
        elif self.dag is None:
            raise DagDefinitionError(
                f"tasks {self.task_id!r} and {downstream.task_id!r} belong to no DAG: create "
                f"them inside `with DAG(...)` or pass dag="
            )
        elif self.dag is not downstream.dag:
            other = downstream.dag.dag_id if downstream.dag else None
            raise DagDefinitionError(
                f"task {self.task_id!r} (DAG {self.dag.dag_id!r}) and task "
                f"{downstream.task_id!r} (DAG {other!r}) are in different DAGs"
            )
        self.downstream_task_ids.add(downstream.task_id)
        downstream.upstream_task_ids.add(self.task_id)

    @property
    def upstream_list(self) -> list[Task]:
        assert self.dag is not None
        return [self.dag.task_dict[t] for t in sorted(self.upstream_task_ids)]

    @property
    def downstream_list(self) -> list[Task]:
        assert self.dag is not None
        return [self.dag.task_dict[t] for t in sorted(self.downstream_task_ids)]

    @property
    def output(self) -> XComArg:
        """This task's return value, for another task's argument."""
        return XComArg(self)

    @property
    def label(self) -> str:
        """The id without its task-group prefix."""
        group = self.task_group
        if group is not None and group.group_id and self.task_id.startswith(group.group_id + "."):
            return self.task_id[len(group.group_id) + 1 :]
        return self.task_id

    def get_direct_relative_ids(self, upstream: bool = False) -> set[str]:
        return self.upstream_task_ids if upstream else self.downstream_task_ids

    def _attach(self, task_id: str, dag: DAG | None, task_group: TaskGroup | None) -> None:
        """Prefix the id with the group's, then join the DAG."""
        from slipstream.models.dag import current_dag
        from slipstream.models.taskgroup import current_task_group

        if dag is DETACHED:
            self.task_group, self.task_id, self.dag = None, validate_id(task_id, "task_id"), None
            self.upstream_task_ids, self.downstream_task_ids = set(), set()
            return
        dag = dag or current_dag()
        if task_group is None and dag is not None:
            task_group = current_task_group(dag)
        self.task_group = task_group
        self.task_id = task_group.child_id(task_id) if task_group else task_id
        validate_id(self.task_id, "task_id")
        self.upstream_task_ids = set()
        self.downstream_task_ids = set()
        self.dag = None
        if dag is not None:
            dag.add_task(self)
        if task_group is not None:
            task_group.add(self)


class BaseOperatorMeta(type):
    """Applies a DAG's and task group's ``default_args`` before ``__init__`` runs,
    and wires dependencies for XCom results passed as arguments after it."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if args:
            raise DagDefinitionError(
                f"{cls.__name__} takes keyword arguments only (task_id=..., ...)"
            )
        kwargs = apply_default_args(cls, kwargs)
        operator = super().__call__(**kwargs)
        operator._wire_xcom_args()
        return operator

    def _accepted_params(cls) -> frozenset[str]:
        # Read once per class (in the class's own __dict__, not a base's): signatures
        # are slow to build, and a DAG file makes many tasks of a few classes.
        cached: frozenset[str] | None = cls.__dict__.get("_accepted_params_cache")
        if cached is not None:
            return cached
        names: set[str] = set()
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None:
                continue
            for param in inspect.signature(init).parameters.values():
                if param.kind in (param.KEYWORD_ONLY, param.POSITIONAL_OR_KEYWORD):
                    names.add(param.name)
        names.discard("self")
        cls._accepted_params_cache = frozenset(names)
        return cls._accepted_params_cache


def apply_default_args(cls: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` plus the ``default_args`` of the DAG and task groups the task is in."""
    from slipstream.models.dag import current_dag
    from slipstream.models.taskgroup import current_task_group

    if kwargs.get("dag") is DETACHED:
        return dict(kwargs)
    dag = kwargs.get("dag") or current_dag()
    group = kwargs.get("task_group") or (current_task_group(dag) if dag else None)
    defaults: dict[str, Any] = {}
    if dag is not None:
        defaults.update(dag.default_args)
    if group is not None:
        defaults.update(group.inherited_default_args())
    defaults.update(kwargs.pop("default_args", None) or {})
    accepted = cls._accepted_params()
    merged = dict(kwargs)
    for key, value in defaults.items():
        if key in accepted and key not in merged:
            merged[key] = copy.copy(value)
    return merged


class BaseOperator(Task, metaclass=BaseOperatorMeta):
    """Base class of every operator. Subclasses implement :meth:`execute`."""

    template_fields: Sequence[str] = ()
    template_ext: Sequence[str] = ()
    template_fields_renderers: ClassVar[dict[str, str]] = {}
    ui_color: str = "#fff"
    ui_fgcolor: str = "#000"
    #: For TaskFlow operators: mapped arguments go into this dict argument.
    _expand_into: ClassVar[str | None] = None

    def __init__(
        self,
        *,
        task_id: str,
        dag: DAG | None = None,
        task_group: TaskGroup | None = None,
        owner: str = "slipstream",
        retries: int = 0,
        retry_delay: timedelta | float = timedelta(seconds=300),
        retry_exponential_backoff: bool = False,
        max_retry_delay: timedelta | float | None = None,
        execution_timeout: timedelta | float | None = None,
        trigger_rule: str | TriggerRule = TriggerRule.ALL_SUCCESS,
        depends_on_past: bool = False,
        wait_for_downstream: bool = False,
        pool: str = "default_pool",
        pool_slots: int = 1,
        priority_weight: int = 1,
        weight_rule: str = "downstream",
        queue: str = "default",
        executor: str | None = None,
        executor_config: dict[str, Any] | None = None,
        max_active_tis_per_dag: int | None = None,
        do_xcom_push: bool = True,
        multiple_outputs: bool = False,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        params: Mapping[str, Any] | None = None,
        doc: str | None = None,
        doc_md: str | None = None,
        task_display_name: str | None = None,
        map_index_template: str | None = None,
        email: str | Sequence[str] | None = None,
        email_on_failure: bool = False,
        email_on_retry: bool = False,
        on_execute_callback: CallbackArg = None,
        on_success_callback: CallbackArg = None,
        on_failure_callback: CallbackArg = None,
        on_retry_callback: CallbackArg = None,
        on_skipped_callback: CallbackArg = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise DagDefinitionError(
                f"invalid arguments were passed to {type(self).__name__} "
                f"(task_id: {task_id}): {', '.join(sorted(kwargs))}"
            )
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise DagDefinitionError(f"retries must be a whole number >= 0, got {retries!r}")
        if not isinstance(pool_slots, int) or pool_slots < 1:
            raise DagDefinitionError(f"pool_slots must be an integer >= 1, got {pool_slots!r}")
        if not isinstance(priority_weight, int) or isinstance(priority_weight, bool):
            raise DagDefinitionError(f"priority_weight must be an integer, got {priority_weight!r}")
        if weight_rule not in WEIGHT_RULES:
            raise DagDefinitionError(
                f"weight_rule must be one of {', '.join(WEIGHT_RULES)}, got {weight_rule!r}"
            )
        try:
            self.trigger_rule = TriggerRule.parse(trigger_rule)
        except ValueError as exc:
            raise DagDefinitionError(str(exc)) from None
        self.owner = owner
        self.retries = retries
        self.retry_delay = as_timedelta(retry_delay, "retry_delay")
        self.retry_exponential_backoff = retry_exponential_backoff
        self.max_retry_delay = as_timedelta(max_retry_delay, "max_retry_delay", allow_none=True)
        self.execution_timeout = as_timedelta(
            execution_timeout, "execution_timeout", allow_none=True
        )
        self.depends_on_past = depends_on_past or wait_for_downstream
        self.wait_for_downstream = wait_for_downstream
        self.pool = pool
        self.pool_slots = pool_slots
        self.priority_weight = priority_weight
        self.weight_rule = weight_rule
        self.queue = queue
        self.executor = executor
        self.executor_config = executor_config or {}
        self.max_active_tis_per_dag = max_active_tis_per_dag
        self.do_xcom_push = do_xcom_push
        self.multiple_outputs = multiple_outputs
        self.start_date = as_utc(start_date) if start_date else None
        self.end_date = as_utc(end_date) if end_date else None
        self.doc = doc
        self.doc_md = doc_md
        self.task_display_name = task_display_name
        self.map_index_template = map_index_template
        self.email = email
        self.email_on_failure = email_on_failure
        self.email_on_retry = email_on_retry
        self.on_execute_callback = as_callbacks(on_execute_callback, "on_execute_callback")
        self.on_success_callback = as_callbacks(on_success_callback, "on_success_callback")
        self.on_failure_callback = as_callbacks(on_failure_callback, "on_failure_callback")
        self.on_retry_callback = as_callbacks(on_retry_callback, "on_retry_callback")
        self.on_skipped_callback = as_callbacks(on_skipped_callback, "on_skipped_callback")
        self._task_params = ParamsDict(params)
        for field in self.template_fields:
            if not isinstance(field, str):
                raise DagDefinitionError(f"{type(self).__name__}.template_fields must be names")
        self._attach(task_id, dag, task_group)

    # -- parameters -------------------------------------------------------------------

    @property
    def params(self) -> ParamsDict:
        """The DAG's params with this task's own added over them."""
        base = self.dag.params if self.dag is not None else ParamsDict()
        return base.merged(self._task_params)

    # -- mapping -----------------------------------------------------------------------

    @classmethod
    def partial(cls, **kwargs: Any) -> OperatorPartial:
        """Arguments every mapped instance shares: ``Op.partial(task_id=...).expand(x=[...])``."""
        from slipstream.models.mappedoperator import OperatorPartial

        return OperatorPartial(cls, kwargs)

    # -- running -----------------------------------------------------------------------

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Do the task's work. The return value is pushed as XCom ``return_value``."""
        raise NotImplementedError(f"{type(self).__name__} must implement execute(context)")

    def pre_execute(self, context: Mapping[str, Any]) -> None:
        """Called right before :meth:`execute`."""

    def post_execute(self, context: Mapping[str, Any], result: Any = None) -> None:
        """Called right after :meth:`execute` succeeded."""

    def on_kill(self) -> None:
        """Called when the try is being stopped (timeout, cleared, marked failed)."""

    # -- templates ---------------------------------------------------------------------

    def get_template_env(self) -> jinja2.Environment:
        from slipstream.templating import make_environment

        if self.dag is not None:
            return self.dag.get_template_env()
        return make_environment()

    def render_template_fields(
        self, context: Mapping[str, Any], env: jinja2.Environment | None = None
    ) -> None:
        """Replace each template field with its value rendered against ``context``."""
        from slipstream.templating import render_value

        env = env or self.get_template_env()
        for field in self.template_fields:
            value = getattr(self, field)
            setattr(self, field, render_value(value, context, env, self.template_ext, field))

    def _wire_xcom_args(self) -> None:
        for field in self.template_fields:
            for arg in find_xcom_args(getattr(self, field, None)):
                arg.operator._add_edge_to(self)

    # -- misc ---------------------------------------------------------------------------

    @property
    def log(self) -> logging.Logger:
        """The task's logger: its records go to the try's log file."""
        return logging.getLogger(f"slipstream.task.{type(self).__name__}")

    def has_dag(self) -> bool:
        return self.dag is not None

    @property
    def operator_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<Task({type(self).__name__}): {self.task_id}>"

    def __copy__(self) -> BaseOperator:
        # What copy.copy does for a plain object, without its generic protocol: every
        # try copies its operator before rendering templates into it.
        result = type(self).__new__(type(self))
        result.__dict__.update(self.__dict__)
        return result

    def __deepcopy__(self, memo: dict[int, Any]) -> BaseOperator:
        # A deep copy keeps the DAG and group references (they are not the task's to copy).
        result = type(self).__new__(type(self))
        memo[id(self)] = result
        shallow = {"dag", "task_group"}
        for key, value in self.__dict__.items():
            setattr(result, key, value if key in shallow else copy.deepcopy(value, memo))
        return result
