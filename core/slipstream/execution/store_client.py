"""A :class:`~slipstream.execution.client.TaskClient` backed by the metadata store.

For workers on the machine that holds the store (local and sequential
executors, ``dags test``, embedding). Remote workers use the API instead.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from slipstream.errors import AlreadyExistsError, NotFoundError
from slipstream.exceptions import DagNotFound, DagRunAlreadyExists
from slipstream.metadata.base import MetadataStore
from slipstream.metadata.records import DagRun, TaskInstanceRef


class StoreTaskClient:
    def __init__(self, store: MetadataStore) -> None:
        self._store: MetadataStore | None = store

    @property
    def store(self) -> MetadataStore:
        assert self._store is not None
        return self._store

    def get_variable(self, key: str) -> str | None:
        found = self.store.get_variable(key)
        return found.value if found is not None else None

    def set_variable(self, key: str, value: str, description: str | None = None) -> None:
        self.store.set_variable(key, value, description=description)

    def delete_variable(self, key: str) -> None:
        self.store.delete_variable(key)

    def get_connection(self, conn_id: str) -> Mapping[str, Any] | None:
        found = self.store.get_connection(conn_id)
        return attrs.asdict(found) if found is not None else None

    def xcom_pull(
        self, *, dag_id: str, run_id: str, task_id: str, key: str, map_index: int | None
    ) -> Any:
        if map_index is not None:
            ref = TaskInstanceRef(
                dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index
            )
            found = self.store.get_xcom(ref, key)
            return found.value if found is not None else None
        values = [
            x
            for x in self.store.list_xcoms(dag_id, run_id, task_id=task_id, key=key)
            if x.map_index >= 0
        ]
        if not values:
            return None
        return [x.value for x in sorted(values, key=lambda x: x.map_index)]

    def xcom_push(
        self, *, dag_id: str, run_id: str, task_id: str, key: str, map_index: int, value: Any
    ) -> None:
        ref = TaskInstanceRef(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index)
        self.store.set_xcom(ref, key, value)

    # -- other dag runs (TriggerDagRunOperator, ExternalTaskSensor) ---------------------

    def _run_at(self, dag_id: str, logical_date: datetime) -> DagRun | None:
        found = self.store.list_dag_runs(
            dag_ids=[dag_id], logical_date_gte=logical_date, logical_date_lte=logical_date, limit=1
        ).items
        return found[0] if found else None

    def trigger_dag_run(
        self,
        *,
        dag_id: str,
        run_id: str,
        conf: Mapping[str, Any] | None,
        logical_date: datetime | None,
        reset_dag_run: bool,
    ) -> str:
        from slipstream.scheduler.clearing import clear_task_instances
        from slipstream.scheduler.triggering import trigger_dag_run

        existing = self.store.get_dag_run(dag_id, run_id)
        if existing is None and logical_date is not None:
            existing = self._run_at(dag_id, logical_date)
        if existing is None:
            try:
                return trigger_dag_run(
                    self.store,
                    dag_id,
                    conf=conf,
                    logical_date=logical_date,
                    run_id=run_id,
                    triggered_by="operator",
                ).run_id
            except NotFoundError as exc:
                raise DagNotFound(str(exc)) from None
            except AlreadyExistsError as exc:  # created meanwhile by someone else
                if not reset_dag_run:
                    raise DagRunAlreadyExists(str(exc)) from None
                existing = self.store.get_dag_run(dag_id, run_id)
                if existing is None and logical_date is not None:
                    existing = self._run_at(dag_id, logical_date)
                if existing is None:
                    raise
        if not reset_dag_run:
            raise DagRunAlreadyExists(
                f"a run of DAG {dag_id!r} with run id {existing.run_id!r} "
                f"(logical date {existing.logical_date}) already exists"
            )
        clear_task_instances(self.store, dag_id, run_ids=[existing.run_id])
        return existing.run_id

    def get_dag_run_state(
        self, *, dag_id: str, run_id: str | None = None, logical_date: datetime | None = None
    ) -> str | None:
        if run_id is not None:
            run = self.store.get_dag_run(dag_id, run_id)
        elif logical_date is not None:
            run = self._run_at(dag_id, logical_date)
        else:
            run = None
        return str(run.state) if run is not None else None

    def get_task_states(
        self, *, dag_id: str, logical_date: datetime, task_ids: Collection[str] | None = None
    ) -> Mapping[str, Sequence[str]] | None:
        run = self._run_at(dag_id, logical_date)
        if run is None:
            return None
        tis = self.store.list_task_instances(
            dag_ids=[dag_id], run_ids=[run.run_id], task_ids=list(task_ids or ()), limit=None
        ).items
        states: dict[str, list[str]] = {}
        for ti in sorted(tis, key=lambda ti: (ti.task_id, ti.map_index)):
            states.setdefault(ti.task_id, []).append(str(ti.state))
        return states

    def get_dag_task_ids(self, *, dag_id: str) -> Sequence[str] | None:
        from slipstream.serialized_dag import deserialize_dag

        version = self.store.get_dag_version(dag_id)
        if version is None:
            return None
        return sorted(deserialize_dag(version.serialized).tasks)


class LazyStoreTaskClient(StoreTaskClient):
    """Opens its store on first use: a forked try that reads and writes no shared state
    (no XCom, Variable or Connection) never connects to the database."""

    def __init__(self, opener: Callable[[], MetadataStore]) -> None:
        self._store = None
        self._opener = opener

    @property
    def store(self) -> MetadataStore:
        if self._store is None:
            self._store = self._opener()
        return self._store

    @property
    def opened(self) -> MetadataStore | None:
        """The store, if anything opened it."""
        return self._store
