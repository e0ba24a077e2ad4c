"""A :class:`~slipstream.execution.client.TaskClient` backed by the metadata store.

For workers on the machine that holds the store (local and sequential
executors, ``dags test``, embedding). Remote workers use the API instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from slipstream.metadata.base import MetadataStore
from slipstream.metadata.records import TaskInstanceRef


class StoreTaskClient:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store

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
