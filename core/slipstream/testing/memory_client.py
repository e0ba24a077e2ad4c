"""A :class:`~slipstream.execution.client.TaskClient` that keeps everything in dicts.

For ``slipstream tasks test`` and for unit tests of operators: Variables,
Connections, XComs and other DAGs' runs without a metadata store. Tests seed
other runs with :meth:`MemoryTaskClient.add_dag_run`, change them while a task
waits with :meth:`~MemoryTaskClient.set_dag_run_state`, and read what a task
asked for in :attr:`~MemoryTaskClient.trigger_requests`.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from slipstream.exceptions import DagNotFound, DagRunAlreadyExists


@attrs.frozen(kw_only=True)
class TriggerRequest:
    """One call of ``trigger_dag_run``, as the task made it."""

    dag_id: str
    run_id: str
    conf: Mapping[str, Any] | None
    logical_date: datetime | None
    reset_dag_run: bool


@attrs.define(kw_only=True)
class MemoryDagRun:
    """A dag run the memory client knows: its state and its task instances' states."""

    dag_id: str
    run_id: str
    logical_date: datetime | None = None
    conf: dict[str, Any] = attrs.field(factory=dict)
    state: str = "queued"
    run_type: str = "manual"
    #: task id -> one state per task instance (several for a mapped task)
    task_states: dict[str, list[str]] = attrs.field(factory=dict)
    #: how many times a trigger with ``reset_dag_run`` cleared this run
    resets: int = 0


class MemoryTaskClient:
    def __init__(
        self,
        *,
        variables: Mapping[str, str] | None = None,
        connections: Mapping[str, Mapping[str, Any]] | None = None,
        dags: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """``dags`` (dag id -> task ids) are the DAGs that exist; without it any
        dag id may be triggered and none is known to :meth:`get_dag_task_ids`."""
        self.variables: dict[str, str] = dict(variables or {})
        self.connections: dict[str, dict[str, Any]] = {
            k: dict(v) for k, v in (connections or {}).items()
        }
        # (dag_id, run_id, task_id, key) -> {map_index: value}
        self.xcoms: dict[tuple[str, str, str, str], dict[int, Any]] = {}
        self.dags: dict[str, list[str]] | None = (
            {k: list(v) for k, v in dags.items()} if dags is not None else None
        )
        self.dag_runs: dict[tuple[str, str], MemoryDagRun] = {}
        self.trigger_requests: list[TriggerRequest] = []
        self._lock = threading.Lock()

    def get_variable(self, key: str) -> str | None:
        return self.variables.get(key)

    def set_variable(self, key: str, value: str, description: str | None = None) -> None:
        self.variables[key] = value

    def delete_variable(self, key: str) -> None:
        self.variables.pop(key, None)

    def get_connection(self, conn_id: str) -> Mapping[str, Any] | None:
        return self.connections.get(conn_id)

    def xcom_pull(
        self, *, dag_id: str, run_id: str, task_id: str, key: str, map_index: int | None
    ) -> Any:
        values = self.xcoms.get((dag_id, run_id, task_id, key), {})
        if map_index is None:
            if not values:
                return None
            return [copy.deepcopy(values[i]) for i in sorted(values)]
        return copy.deepcopy(values.get(map_index))

    def xcom_push(
        self, *, dag_id: str, run_id: str, task_id: str, key: str, map_index: int, value: Any
    ) -> None:
        # Round-trip through JSON so tests see exactly what a store would give back.
        stored = json.loads(json.dumps(value))
        self.xcoms.setdefault((dag_id, run_id, task_id, key), {})[map_index] = stored

    # -- other dag runs -------------------------------------------------------------------

    def add_dag_run(
        self,
        dag_id: str,
        run_id: str,
        *,
        logical_date: datetime | None = None,
        state: str = "running",
        task_states: Mapping[str, str | Sequence[str]] | None = None,
        conf: Mapping[str, Any] | None = None,
    ) -> MemoryDagRun:
        """Seed a run of another DAG (for sensors and triggers to find)."""
        states = {
            task_id: [value] if isinstance(value, str) else list(value)
            for task_id, value in (task_states or {}).items()
        }
        run = MemoryDagRun(
            dag_id=dag_id,
            run_id=run_id,
            logical_date=logical_date,
            conf=dict(conf or {}),
            state=state,
            task_states=states,
        )
        with self._lock:
            self.dag_runs[(dag_id, run_id)] = run
        return run

    def set_dag_run_state(self, dag_id: str, run_id: str, state: str) -> None:
        with self._lock:
            self.dag_runs[(dag_id, run_id)].state = state

    def set_task_state(
        self, dag_id: str, run_id: str, task_id: str, state: str | Sequence[str]
    ) -> None:
        with self._lock:
            run = self.dag_runs[(dag_id, run_id)]
            run.task_states[task_id] = [state] if isinstance(state, str) else list(state)

    def _find_run(
        self, dag_id: str, run_id: str | None, logical_date: datetime | None
    ) -> MemoryDagRun | None:
        if run_id is not None:
            return self.dag_runs.get((dag_id, run_id))
        if logical_date is None:
            return None
        for run in self.dag_runs.values():
            if run.dag_id == dag_id and run.logical_date == logical_date:
                return run
        return None

    def trigger_dag_run(
        self,
        *,
        dag_id: str,
        run_id: str,
        conf: Mapping[str, Any] | None,
        logical_date: datetime | None,
        reset_dag_run: bool,
    ) -> str:
        with self._lock:
            self.trigger_requests.append(
                TriggerRequest(
                    dag_id=dag_id,
                    run_id=run_id,
                    conf=copy.deepcopy(dict(conf)) if conf is not None else None,
                    logical_date=logical_date,
                    reset_dag_run=reset_dag_run,
                )
            )
            if self.dags is not None and dag_id not in self.dags:
                raise DagNotFound(f"DAG {dag_id!r} does not exist")
            existing = self._find_run(dag_id, run_id, None) or self._find_run(
                dag_id, None, logical_date
            )
            if existing is not None:
                if not reset_dag_run:
                    raise DagRunAlreadyExists(
                        f"a run of DAG {dag_id!r} with run id {existing.run_id!r} "
                        f"(logical date {existing.logical_date}) already exists"
                    )
                existing.state = "queued"
                existing.resets += 1
                existing.task_states = {t: ["none"] for t in existing.task_states}
                return existing.run_id
            tasks = self.dags.get(dag_id, []) if self.dags is not None else []
            self.dag_runs[(dag_id, run_id)] = MemoryDagRun(
                dag_id=dag_id,
                run_id=run_id,
                logical_date=logical_date,
                conf=json.loads(json.dumps(dict(conf or {}))),
                state="queued",
                task_states={t: ["none"] for t in tasks},
            )
            return run_id

    def get_dag_run_state(
        self, *, dag_id: str, run_id: str | None = None, logical_date: datetime | None = None
    ) -> str | None:
        with self._lock:
            run = self._find_run(dag_id, run_id, logical_date)
            return run.state if run is not None else None

    def get_task_states(
        self, *, dag_id: str, logical_date: datetime, task_ids: Collection[str] | None = None
    ) -> Mapping[str, Sequence[str]] | None:
        with self._lock:
            run = self._find_run(dag_id, None, logical_date)
            if run is None:
                return None
            return {
                task_id: list(states)
                for task_id, states in run.task_states.items()
                if task_ids is None or task_id in task_ids
            }

    def get_dag_task_ids(self, *, dag_id: str) -> Sequence[str] | None:
        if self.dags is None:
            return None
        found = self.dags.get(dag_id)
        return list(found) if found is not None else None
