"""``Variable``: small named values shared by DAGs (encrypted at rest in the store).

An environment variable ``SLIPSTREAM_VAR_<KEY>`` wins over the store, which
makes tests and local runs easy (Airflow's ``AIRFLOW_VAR_`` convention).
"""

from __future__ import annotations

import json
import os
from typing import Any

from slipstream.execution.client import current_client

_MISSING: Any = object()


class Variable:
    @staticmethod
    def get(key: str, default_var: Any = _MISSING, deserialize_json: bool = False) -> Any:
        """The value of ``key``; ``default_var`` if it does not exist, else ``KeyError``."""
        raw = os.environ.get(f"SLIPSTREAM_VAR_{key.upper()}")
        if raw is None:
            client = current_client()
            raw = client.get_variable(key) if client is not None else None
        if raw is None:
            if default_var is not _MISSING:
                return default_var
            raise KeyError(f"Variable {key} does not exist")
        if deserialize_json:
            try:
                return json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError(f"Variable {key} is not valid JSON: {exc}") from None
        return raw

    @staticmethod
    def set(
        key: str, value: Any, description: str | None = None, serialize_json: bool = False
    ) -> None:
        client = current_client()
        if client is None:
            raise RuntimeError(
                "Variable.set() needs a running task (or a slipstream runtime) to write to"
            )
        text = json.dumps(value) if serialize_json else str(value)
        client.set_variable(key, text, description)

    @staticmethod
    def delete(key: str) -> None:
        client = current_client()
        if client is None:
            raise RuntimeError("Variable.delete() needs a running task (or a slipstream runtime)")
        client.delete_variable(key)
