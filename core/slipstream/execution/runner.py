"""Running one try of one task: render, execute, push XCom, decide the final state.

The worker entry point (``slipstream tasks run``), ``tasks test`` and the
in-process executor all call :func:`run_task`. Shared state goes through a
:class:`~slipstream.execution.client.TaskClient`; the outcome is returned, and
the caller records it (in the store directly, or through the API).
"""

from __future__ import annotations

import copy
import json
import logging
import signal
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import attrs

from slipstream.exceptions import FailTask, RescheduleTask, SkipTask, TaskTimeout
from slipstream.execution.client import TaskClient, using_client
from slipstream.execution.context import set_current_context
from slipstream.models.baseoperator import BaseOperator, Task
from slipstream.models.dag import DAG
from slipstream.models.mappedoperator import MappedOperator
from slipstream.models.xcom_arg import RETURN_KEY, XComArg
from slipstream.state import TaskInstanceState as TIS
from slipstream.templating import build_context, to_json_safe

log = logging.getLogger("slipstream.task")
_NOTHING: Any = object()


@attrs.frozen(kw_only=True)
class RunInfo:
    """The dag run a try belongs to."""

    run_id: str
    logical_date: datetime | None = None
    data_interval_start: datetime | None = None
    data_interval_end: datetime | None = None
    conf: Mapping[str, Any] = attrs.field(factory=dict)
    run_type: str = "manual"


@attrs.frozen(kw_only=True)
class TaskOutcome:
    """How a try ended, for the caller to record."""

    state: TIS
    error: str | None = None
    skip_downstream: tuple[str, ...] = ()
    skip_recursive: bool = False
    reschedule_at: datetime | None = None
    rendered_fields: Mapping[str, Any] = attrs.field(factory=dict)
    started_at: datetime
    ended_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, to cross a process boundary in an executor event."""
        return {
            "state": self.state.value,
            "error": self.error,
            "skip_downstream": list(self.skip_downstream),
            "skip_recursive": self.skip_recursive,
            "reschedule_at": self.reschedule_at.isoformat() if self.reschedule_at else None,
            "rendered_fields": dict(self.rendered_fields),
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskOutcome:
        def when(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        return cls(
            state=TIS(data["state"]),
            error=data.get("error"),
            skip_downstream=tuple(data.get("skip_downstream") or ()),
            skip_recursive=bool(data.get("skip_recursive")),
            reschedule_at=when(data.get("reschedule_at")),
            rendered_fields=dict(data.get("rendered_fields") or {}),
            started_at=when(data["started_at"]) or datetime.now(UTC),
            ended_at=when(data["ended_at"]) or datetime.now(UTC),
        )


class RuntimeTaskInstance:
    """``ti`` in a task's context: its identity, and XCom push and pull."""

    def __init__(
        self,
        *,
        dag: DAG,
        task: Task,
        run: RunInfo,
        map_index: int,
        try_number: int,
        max_tries: int,
        client: TaskClient,
        first_attempt_started_at: datetime | None = None,
    ) -> None:
        self.dag = dag
        self.task = task
        self.dag_id = dag.dag_id
        self.task_id = task.task_id
        self.run_id = run.run_id
        self.map_index = map_index
        self.try_number = try_number
        self.max_tries = max_tries
        self.logical_date = run.logical_date
        self.start_date = datetime.now(UTC)
        self.first_attempt_started_at = first_attempt_started_at or self.start_date
        self.state = TIS.RUNNING
        self._client = client
        self.skipped_downstream: set[str] = set()
        self.skip_recursive = False

    def xcom_push(self, key: str, value: Any) -> None:
        try:
            json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"XCom {key!r} of task {self.task_id!r} must be JSON-serializable: {exc}"
            ) from None
        self._client.xcom_push(
            dag_id=self.dag_id,
            run_id=self.run_id,
            task_id=self.task_id,
            key=key,
            map_index=self.map_index,
            value=value,
        )

    def xcom_pull(
        self,
        task_ids: str | list[str] | None = None,
        key: str = RETURN_KEY,
        map_indexes: int | list[int] | None = None,
        default: Any = None,
        dag_id: str | None = None,
        run_id: str | None = None,
    ) -> Any:
        """One task's value, or a list for a list of ``task_ids``; a mapped task's
        values come as a list in map-index order."""
        if task_ids is None:
            task_ids = self.task_id
        ids = [task_ids] if isinstance(task_ids, str) else list(task_ids)
        values = []
        for task_id in ids:
            mapped = self.dag.has_task(task_id) and self.dag.get_task(task_id).is_mapped
            index = map_indexes if map_indexes is not None else (None if mapped else -1)
            value = self._client.xcom_pull(
                dag_id=dag_id or self.dag_id,
                run_id=run_id or self.run_id,
                task_id=task_id,
                key=key,
                map_index=index if isinstance(index, int) or index is None else None,
            )
            values.append(default if value is None else value)
        return values[0] if isinstance(task_ids, str) else values

    def skip_downstream(self, task_ids: list[str], *, recursive: bool = False) -> None:
        self.skipped_downstream.update(task_ids)
        self.skip_recursive = self.skip_recursive or recursive

    def __repr__(self) -> str:
        return f"<TaskInstance {self.dag_id}.{self.task_id} {self.run_id} try={self.try_number}>"


@contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`TaskTimeout` in this thread after ``seconds`` (SIGALRM: main thread only)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise TaskTimeout(f"task ran longer than its execution_timeout ({seconds:g}s)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def resolve_mapped(task: MappedOperator, ti: RuntimeTaskInstance, map_index: int) -> BaseOperator:
    """The concrete operator for ``map_index`` of a mapped task."""
    resolved: dict[str, Any] = {}
    for name, source in task.mapped_sources().items():
        if isinstance(source, XComArg):
            resolved[name] = ti.xcom_pull(task_ids=source.operator.task_id, key=source.key)
            if resolved[name] is None:
                raise ValueError(
                    f"cannot expand {task.task_id!r}: upstream {source.operator.task_id!r} "
                    f"pushed no value to map over"
                )
        else:
            resolved[name] = source
    combinations = task.combinations(resolved)
    if not 0 <= map_index < len(combinations):
        raise IndexError(
            f"{task.task_id!r} has {len(combinations)} mapped instances; no map_index {map_index}"
        )
    return task.unmap(combinations[map_index])


def _call_callbacks(kind: str, callbacks: list[Any], context: Mapping[str, Any]) -> None:
    for callback in callbacks:
        try:
            callback(context)
        except Exception:
            log.exception("%s callback %r raised; the task's state is unchanged", kind, callback)


def _push_result(operator: BaseOperator, ti: RuntimeTaskInstance, result: Any) -> None:
    if result is None or not operator.do_xcom_push:
        return
    if operator.multiple_outputs:
        if not isinstance(result, Mapping):
            raise TypeError(
                f"task {operator.task_id!r} has multiple_outputs but returned "
                f"{type(result).__name__}, not a dict"
            )
        for key, value in result.items():
            if not isinstance(key, str):
                raise TypeError(f"multiple_outputs keys must be strings, got {key!r}")
            ti.xcom_push(key, value)
    ti.xcom_push(RETURN_KEY, result)


def run_task(
    *,
    dag: DAG,
    task_id: str,
    run: RunInfo,
    client: TaskClient,
    map_index: int = -1,
    try_number: int = 1,
    max_tries: int | None = None,
    first_attempt_started_at: datetime | None = None,
) -> TaskOutcome:
    """Run one try in this process and report how it ended. Never raises for task errors."""
    task = dag.get_task(task_id)
    retries: int = getattr(task, "retries", 0)
    max_tries = retries if max_tries is None else max_tries
    ti = RuntimeTaskInstance(
        dag=dag,
        task=task,
        run=run,
        map_index=map_index,
        try_number=try_number,
        max_tries=max_tries,
        client=client,
        first_attempt_started_at=first_attempt_started_at,
    )
    started = ti.start_date
    operator: BaseOperator | None = None
    context: dict[str, Any] = {}
    rendered: dict[str, Any] = {}
    with using_client(client):
        try:
            # Rendering writes into the operator: work on a copy, so that the DAG's own task
            # keeps its templates for the next run or try (Airflow's prepare_for_execution).
            concrete = (
                resolve_mapped(task, ti, map_index)
                if isinstance(task, MappedOperator)
                else copy.copy(task)
            )
            if not isinstance(concrete, BaseOperator):
                raise TypeError(f"task {task_id!r} is not an operator")
            operator = concrete
            ti.task = operator
            params = operator.params.resolve(run.conf)
            context = build_context(
                dag=dag,
                task=operator,
                run_id=run.run_id,
                logical_date=run.logical_date,
                data_interval_start=run.data_interval_start,
                data_interval_end=run.data_interval_end,
                params=params,
                ti=ti,
                dag_run=run,
            )
            operator.render_template_fields(context)
            rendered = {
                f: to_json_safe(getattr(operator, f, None)) for f in operator.template_fields
            }
            with set_current_context(context):
                _call_callbacks("on_execute", operator.on_execute_callback, context)
                operator.pre_execute(context)
                timeout = operator.execution_timeout
                with _time_limit(timeout.total_seconds() if timeout else None):
                    result = operator.execute(context)
                _push_result(operator, ti, result)
                operator.post_execute(context, result)
            state, error, reschedule_at = TIS.SUCCESS, None, None
        except SkipTask as exc:
            state, error, reschedule_at = TIS.SKIPPED, str(exc) or None, None
            log.info("Task skipped: %s", exc)
        except RescheduleTask as exc:
            state, error, reschedule_at = TIS.UP_FOR_RESCHEDULE, None, exc.reschedule_date
            log.info("Rescheduled: next poke at %s", exc.reschedule_date.isoformat())
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.error("Task failed with exception", exc_info=exc)
            retry = not isinstance(exc, FailTask) and try_number <= max_tries
            state, reschedule_at = (TIS.UP_FOR_RETRY if retry else TIS.FAILED), None
            if operator is not None and isinstance(exc, TaskTimeout):
                try:
                    operator.on_kill()
                except Exception:
                    log.exception("on_kill raised")
    if operator is not None and context:
        callbacks = {
            TIS.SUCCESS: ("on_success", operator.on_success_callback),
            TIS.FAILED: ("on_failure", operator.on_failure_callback),
            TIS.UP_FOR_RETRY: ("on_retry", operator.on_retry_callback),
            TIS.SKIPPED: ("on_skipped", operator.on_skipped_callback),
        }.get(state)
        if callbacks:
            context["exception"] = error
            with using_client(client), set_current_context(context):
                _call_callbacks(callbacks[0], callbacks[1], context)
    ended = datetime.now(UTC)
    log.info(
        "Marking task as %s. dag_id=%s, task_id=%s, run_id=%s, map_index=%s, try=%s, %.3fs",
        state.upper(),
        dag.dag_id,
        task_id,
        run.run_id,
        map_index,
        try_number,
        (ended - started).total_seconds(),
    )
    return TaskOutcome(
        state=state,
        error=error,
        skip_downstream=tuple(sorted(ti.skipped_downstream)),
        skip_recursive=ti.skip_recursive,
        reschedule_at=reschedule_at,
        rendered_fields=rendered,
        started_at=started,
        ended_at=ended,
    )
