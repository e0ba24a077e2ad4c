"""A :class:`~slipstream.execution.client.TaskClient` that keeps everything in dicts.

For ``slipstream tasks test`` and for unit tests of operators: Variables,
Connections and XComs without a metadata store.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any


class MemoryTaskClient:
    def __init__(
        self,
        *,
        variables: Mapping[str, str] | None = None,
        connections: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.variables: dict[str, str] = dict(variables or {})
        self.connections: dict[str, dict[str, Any]] = {
            k: dict(v) for k, v in (connections or {}).items()
        }
        # (dag_id, run_id, task_id, key) -> {map_index: value}
        self.xcoms: dict[tuple[str, str, str, str], dict[int, Any]] = {}

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
