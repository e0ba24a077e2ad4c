"""``ExternalTaskSensor``: wait for tasks (or a whole run) of another DAG.

The other DAG's run is the one whose logical date is this run's logical date,
shifted back by ``execution_delta``, or given by ``execution_date_fn`` /
``logical_date_fn`` (Airflow 3's name), which may return several dates: then
every one of those runs must be done.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from slipstream.exceptions import DagDefinitionError, SkipTask, SlipstreamException
from slipstream.execution.client import TaskClient, current_client
from slipstream.operators._common import check_type, is_templated_value
from slipstream.operators.python import determine_kwargs
from slipstream.sensors.base import BaseSensorOperator
from slipstream.state import DagRunState, TaskInstanceState
from slipstream.timetables import as_utc

TASK_STATES = frozenset(s.value for s in TaskInstanceState)
DAG_RUN_STATES = frozenset(s.value for s in DagRunState)


def _state_list(value: Collection[str] | None, default: Sequence[str], name: str) -> list[str]:
    if value is None:
        return list(default)
    if isinstance(value, str) or not all(isinstance(s, str) for s in value):
        raise DagDefinitionError(f"ExternalTaskSensor: {name} must be a list of states")
    return [str(s) for s in value]


class ExternalTaskSensor(BaseSensorOperator):
    """Done when ``external_task_id`` / ``external_task_ids`` / every task of
    ``external_task_group_id`` in ``external_dag_id`` is in ``allowed_states`` (or,
    with none of them, when the other DAG's run is).

    A task in ``failed_states`` fails the sensor (skips it under ``soft_fail``); one
    in ``skipped_states`` skips it. A mapped task counts when all its instances do.
    ``check_existence`` fails at once if the DAG, task or group does not exist.
    """

    template_fields: Sequence[str] = (
        "external_dag_id",
        "external_task_id",
        "external_task_ids",
        "external_task_group_id",
    )
    ui_color = "#4db7db"

    def __init__(
        self,
        *,
        external_dag_id: str,
        external_task_id: str | None = None,
        external_task_ids: Collection[str] | None = None,
        external_task_group_id: str | None = None,
        allowed_states: Collection[str] | None = None,
        skipped_states: Collection[str] | None = None,
        failed_states: Collection[str] | None = None,
        execution_delta: timedelta | None = None,
        execution_date_fn: Callable[..., Any] | None = None,
        logical_date_fn: Callable[..., Any] | None = None,
        check_existence: bool = False,
        **kwargs: Any,
    ) -> None:
        owner = f"ExternalTaskSensor {kwargs.get('task_id')!r}"
        dag_id: Any = external_dag_id
        if not isinstance(dag_id, str) and not is_templated_value(dag_id):
            raise DagDefinitionError(f"{owner}: external_dag_id must be a string")
        check_type(owner, "external_task_id", external_task_id, str)
        check_type(owner, "external_task_group_id", external_task_group_id, str)
        check_type(owner, "execution_delta", execution_delta, timedelta)
        if external_task_id is not None and external_task_ids is not None:
            raise DagDefinitionError(
                f"{owner}: give only one of external_task_id and external_task_ids"
            )
        if external_task_group_id is not None and (external_task_id or external_task_ids):
            raise DagDefinitionError(
                f"{owner}: give either external_task_group_id or external task ids, not both"
            )
        if external_task_ids is not None and not is_templated_value(external_task_ids):
            if isinstance(external_task_ids, str) or not all(
                isinstance(t, str) for t in external_task_ids
            ):
                raise DagDefinitionError(f"{owner}: external_task_ids must be a list of task ids")
            if len(set(external_task_ids)) != len(list(external_task_ids)):
                raise DagDefinitionError(f"{owner}: external_task_ids has duplicates")
        date_fns = [f for f in (execution_date_fn, logical_date_fn) if f is not None]
        if len(date_fns) + (execution_delta is not None) > 1:
            raise DagDefinitionError(
                f"{owner}: give only one of execution_delta, execution_date_fn and logical_date_fn"
            )
        if date_fns and not callable(date_fns[0]):
            raise DagDefinitionError(f"{owner}: execution_date_fn must be callable")
        allowed = _state_list(allowed_states, ["success"], "allowed_states")
        skipped = _state_list(skipped_states, [], "skipped_states")
        failed = _state_list(failed_states, [], "failed_states")
        waits_for_tasks = bool(external_task_id or external_task_ids or external_task_group_id)
        valid = TASK_STATES if waits_for_tasks else DAG_RUN_STATES
        unknown = sorted(set(allowed + skipped + failed) - valid)
        if unknown:
            kind = "task instance" if waits_for_tasks else "dag run"
            raise DagDefinitionError(
                f"{owner}: {', '.join(map(repr, unknown))} are not {kind} states "
                f"(valid: {', '.join(sorted(valid))})"
            )
        for name, other in (("failed_states", failed), ("skipped_states", skipped)):
            if set(allowed) & set(other):
                raise DagDefinitionError(
                    f"{owner}: {', '.join(sorted(set(allowed) & set(other)))} is in both "
                    f"allowed_states and {name}"
                )
        super().__init__(**kwargs)
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        self.external_task_ids: Any = (
            list(external_task_ids)
            if external_task_ids is not None and not is_templated_value(external_task_ids)
            else external_task_ids
        )
        self.external_task_group_id = external_task_group_id
        self.allowed_states = allowed
        self.skipped_states = skipped
        self.failed_states = failed
        self.execution_delta = execution_delta
        self.execution_date_fn = date_fns[0] if date_fns else None
        self.check_existence = check_existence
        self._existence_checked = False

    # -- what to look at ----------------------------------------------------------------

    def _task_ids(self) -> list[str] | None:
        if self.external_task_id is not None:
            return [self.external_task_id]
        if self.external_task_ids is not None:
            return list(self.external_task_ids)
        return None

    def logical_dates(self, context: Mapping[str, Any]) -> list[datetime]:
        """The other DAG's logical dates to look at."""
        logical_date = context.get("logical_date")
        if logical_date is None:
            raise SlipstreamException(
                "ExternalTaskSensor needs a run with a logical date to find the other DAG's run"
            )
        if self.execution_delta is not None:
            return [as_utc(logical_date - self.execution_delta)]
        if self.execution_date_fn is not None:
            kwargs = determine_kwargs(self.execution_date_fn, [logical_date], {}, context)
            found = self.execution_date_fn(logical_date, **kwargs)
            dates = found if isinstance(found, list | tuple) else [found]
            if not dates or not all(isinstance(d, datetime) for d in dates):
                raise SlipstreamException(
                    f"execution_date_fn must return a datetime or a list of them, got {found!r}"
                )
            return [as_utc(d) for d in dates]
        return [as_utc(logical_date)]

    def _check_existence(self, client: TaskClient) -> None:
        known = client.get_dag_task_ids(dag_id=self.external_dag_id)
        if known is None:
            raise SlipstreamException(f"the external DAG {self.external_dag_id!r} does not exist")
        missing = [t for t in self._task_ids() or [] if t not in known]
        if missing:
            raise SlipstreamException(
                f"the external task(s) {', '.join(map(repr, missing))} do not exist in DAG "
                f"{self.external_dag_id!r}"
            )
        group = self.external_task_group_id
        if group is not None and not any(t.startswith(group + ".") for t in known):
            raise SlipstreamException(
                f"the external task group {group!r} does not exist in DAG {self.external_dag_id!r}"
            )
        self._existence_checked = True

    # -- poking -------------------------------------------------------------------------

    def poke(self, context: Mapping[str, Any]) -> bool:
        client = current_client()
        if client is None:
            raise SlipstreamException("ExternalTaskSensor runs only inside a task")
        if self.check_existence and not self._existence_checked:
            self._check_existence(client)
        dates = self.logical_dates(context)
        task_ids = self._task_ids()
        group = self.external_task_group_id
        what = (
            f"task group {group!r}"
            if group is not None
            else f"task(s) {task_ids}"
            if task_ids is not None
            else "the run"
        )
        self.log.info(
            "Poking for %s of DAG %s on %s",
            what,
            self.external_dag_id,
            ", ".join(d.isoformat() for d in dates),
        )
        states: list[str] = []  # one per run, or per task instance in each run
        waiting = False
        for date in dates:
            if task_ids is None and group is None:
                state = client.get_dag_run_state(dag_id=self.external_dag_id, logical_date=date)
                if state is None:
                    waiting = True
                else:
                    states.append(state)
                continue
            found = client.get_task_states(
                dag_id=self.external_dag_id, logical_date=date, task_ids=task_ids
            )
            if found is None:
                waiting = True
                continue
            wanted = (
                task_ids
                if task_ids is not None
                else sorted(t for t in found if t.startswith(f"{group}."))
            )
            if not wanted or any(t not in found for t in wanted):
                waiting = True
            for task_id in wanted:  # each instance of a mapped task counts
                states.extend(found.get(task_id) or ["none"])
        failed = [s for s in states if s in self.failed_states]
        if failed:
            message = (
                f"{what} of DAG {self.external_dag_id!r} ended in failed state(s) "
                f"{sorted(set(failed))}"
            )
            if self.soft_fail:
                raise SkipTask(message)
            raise SlipstreamException(message)
        skipped = [s for s in states if s in self.skipped_states]
        if skipped:
            raise SkipTask(
                f"{what} of DAG {self.external_dag_id!r} ended in skipped state(s) "
                f"{sorted(set(skipped))}"
            )
        return not waiting and all(s in self.allowed_states for s in states)
