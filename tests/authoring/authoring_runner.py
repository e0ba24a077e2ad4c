"""A tiny in-process "scheduler" for authoring tests: runs a DAG's tasks in dependency order.

Each try goes through the real :func:`slipstream.execution.runner.run_task` with a
:class:`MemoryTaskClient`; which tasks run, are skipped or fail upstream follows
their trigger rules, branch and short-circuit outcomes, retries and map indexes,
as a DAG author expects from a real run.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from slipstream.execution.runner import RunInfo, TaskOutcome, run_task
from slipstream.models.dag import DAG
from slipstream.models.xcom_arg import XComArg
from slipstream.scheduler.trigger_rules import Decision, UpstreamSummary, evaluate
from slipstream.testing import MemoryTaskClient

LOGICAL_DATE = datetime(2024, 1, 2, tzinfo=UTC)


def run_info(
    dag: DAG,
    logical_date: datetime = LOGICAL_DATE,
    conf: Mapping[str, Any] | None = None,
    run_id: str | None = None,
) -> RunInfo:
    """The run a scheduler would create for ``logical_date``."""
    interval = dag.timetable.data_interval_for(logical_date)
    return RunInfo(
        run_id=run_id or f"scheduled__{logical_date.isoformat()}",
        logical_date=logical_date,
        data_interval_start=interval.start,
        data_interval_end=interval.end,
        conf=dict(conf or {}),
    )


@attrs.define
class DagRunResult:
    dag: DAG
    run: RunInfo
    client: MemoryTaskClient
    states: dict[str, str] = attrs.field(factory=dict)
    map_states: dict[str, list[str]] = attrs.field(factory=dict)
    outcomes: dict[tuple[str, int], list[TaskOutcome]] = attrs.field(factory=dict)

    def xcom(self, task_id: str, key: str = "return_value") -> Any:
        """What a downstream task would pull: a list for a mapped task."""
        task = self.dag.get_task(task_id)
        return self.client.xcom_pull(
            dag_id=self.dag.dag_id,
            run_id=self.run.run_id,
            task_id=task_id,
            key=key,
            map_index=None if task.is_mapped else -1,
        )

    def errors(self, task_id: str, map_index: int = -1) -> list[str | None]:
        return [o.error for o in self.outcomes.get((task_id, map_index), [])]


def _map_count(dag: DAG, task: Any, client: MemoryTaskClient, run: RunInfo) -> int:
    resolved: dict[str, Any] = {}
    for name, source in task.mapped_sources().items():
        if isinstance(source, XComArg):
            upstream = dag.get_task(source.operator.task_id)
            resolved[name] = client.xcom_pull(
                dag_id=dag.dag_id,
                run_id=run.run_id,
                task_id=upstream.task_id,
                key=source.key,
                map_index=None if upstream.is_mapped else -1,
            )
        else:
            resolved[name] = source
    return len(task.combinations(resolved))


def run_dag(
    dag: DAG,
    *,
    client: MemoryTaskClient | None = None,
    logical_date: datetime = LOGICAL_DATE,
    conf: Mapping[str, Any] | None = None,
) -> DagRunResult:
    """Run every task of ``dag`` once, upstream first; retries run at once."""
    client = client or MemoryTaskClient()
    run = run_info(dag, logical_date, conf)
    result = DagRunResult(dag, run, client)
    forced: dict[str, str] = {}  # skips decided by branch / short-circuit tasks

    def upstream_states(task_id: str) -> list[str]:
        states: list[str] = []
        for up in dag.get_task(task_id).upstream_task_ids:
            states.extend(result.map_states.get(up) or [result.states[up]])
        return states

    def skip_recursively(task_id: str) -> None:
        for down in dag.get_task(task_id).downstream_task_ids:
            forced[down] = "skipped"
            skip_recursively(down)

    for task in dag.topological_sort():
        task_id = task.task_id
        if task_id in forced:
            result.states[task_id] = forced[task_id]
            continue
        decision = evaluate(task.trigger_rule, UpstreamSummary.of(upstream_states(task_id)))
        if decision is Decision.SKIP:
            result.states[task_id] = "skipped"
            continue
        if decision is Decision.UPSTREAM_FAILED:
            result.states[task_id] = "upstream_failed"
            continue
        assert decision is Decision.RUN, (task_id, decision)
        indexes = [-1]
        if task.is_mapped:
            indexes = list(range(_map_count(dag, task, client, run)))
        states: list[str] = []
        for map_index in indexes:
            tries: list[TaskOutcome] = []
            try_number = 1
            while True:
                outcome = run_task(
                    dag=dag,
                    task_id=task_id,
                    run=run,
                    client=client,
                    map_index=map_index,
                    try_number=try_number,
                )
                tries.append(outcome)
                if outcome.state != "up_for_retry":
                    break
                try_number += 1
            result.outcomes[(task_id, map_index)] = tries
            states.append(outcome.state.value)
            for skipped in outcome.skip_downstream:
                forced[skipped] = "skipped"
                if outcome.skip_recursive:
                    skip_recursively(skipped)
        if task.is_mapped:
            result.map_states[task_id] = states
            if not states:
                result.states[task_id] = "skipped"  # zero instances, as in Airflow
            elif all(s == "success" for s in states):
                result.states[task_id] = "success"
            else:
                result.states[task_id] = "failed" if "failed" in states else states[0]
        else:
            result.states[task_id] = states[0]
    return result
