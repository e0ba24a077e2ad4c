"""Serialized DAGs, read back without importing user code.

The dag processor serializes every DAG it parses; the scheduler, the API and
the UI work only from these documents: tasks, dependencies, schedule, params,
docs, the raw template fields, and a content hash that names the version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from slipstream.models.param import ParamsDict
from slipstream.timetables import Timetable, timetable_from_dict
from slipstream.trigger_rule import TriggerRule

FORMAT_VERSION = 1


def content_hash(document: Mapping[str, Any]) -> str:
    """A stable hash of a serialized DAG: equal documents, equal hashes."""
    body = {key: value for key, value in document.items() if key != "content_hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


#: What says where a DAG's file lives rather than what the DAG is.
_LOCATION_KEYS = frozenset(
    {"content_hash", "fileloc", "relative_fileloc", "is_example", "in_memory"}
)


def definition_hash(document: Mapping[str, Any]) -> str:
    """The content hash without the file's location: a worker whose DAGs folder is
    mounted elsewhere compares it with the DAG it imported, to tell whether the file
    still defines the version a task instance belongs to."""
    return content_hash({k: v for k, v in document.items() if k not in _LOCATION_KEYS})


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _td(value: float | None) -> timedelta | None:
    return timedelta(seconds=value) if value is not None else None


@attrs.frozen
class SerializedTask:
    """One task as the scheduler and the UI see it: data only."""

    data: Mapping[str, Any] = attrs.field(repr=False)

    @property
    def task_id(self) -> str:
        return str(self.data["task_id"])

    def __getattr__(self, name: str) -> Any:
        try:
            return self.data[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def trigger_rule(self) -> TriggerRule:
        return TriggerRule(self.data["trigger_rule"])

    @property
    def retry_delay_td(self) -> timedelta:
        return _td(self.data["retry_delay"]) or timedelta(0)

    @property
    def max_retry_delay_td(self) -> timedelta | None:
        return _td(self.data["max_retry_delay"])

    @property
    def execution_timeout_td(self) -> timedelta | None:
        return _td(self.data["execution_timeout"])

    @property
    def start_date_dt(self) -> datetime | None:
        return _dt(self.data["start_date"])

    @property
    def end_date_dt(self) -> datetime | None:
        return _dt(self.data["end_date"])


@attrs.frozen
class SerializedDag:
    """A DAG read back from its document; never imports the DAG file."""

    data: Mapping[str, Any] = attrs.field(repr=False)
    tasks: Mapping[str, SerializedTask] = attrs.field(init=False, repr=False)
    _definition_hash: str | None = attrs.field(init=False, default=None, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(
            self, "tasks", {t["task_id"]: SerializedTask(t) for t in self.data["tasks"]}
        )

    @property
    def definition_hash(self) -> str:
        """:func:`definition_hash` of the document, computed once (workloads carry it)."""
        if self._definition_hash is None:
            object.__setattr__(self, "_definition_hash", definition_hash(self.data))
        assert self._definition_hash is not None
        return self._definition_hash

    @property
    def dag_id(self) -> str:
        return str(self.data["dag_id"])

    def __getattr__(self, name: str) -> Any:
        if name == "tasks":  # during __attrs_post_init__
            raise AttributeError(name)
        try:
            return self.data[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def timetable(self) -> Timetable:
        return timetable_from_dict(self.data["schedule"])

    @property
    def params(self) -> ParamsDict:
        return ParamsDict.from_dict(self.data["params"])

    @property
    def start_date_dt(self) -> datetime | None:
        return _dt(self.data["start_date"])

    @property
    def end_date_dt(self) -> datetime | None:
        return _dt(self.data["end_date"])

    @property
    def dagrun_timeout_td(self) -> timedelta | None:
        return _td(self.data["dagrun_timeout"])

    def task(self, task_id: str) -> SerializedTask:
        return self.tasks[task_id]

    @property
    def roots(self) -> list[SerializedTask]:
        return [t for t in self.tasks.values() if not t.upstream]

    @property
    def leaves(self) -> list[SerializedTask]:
        return [t for t in self.tasks.values() if not t.downstream]

    def to_dict(self) -> dict[str, Any]:
        copied: dict[str, Any] = json.loads(json.dumps(self.data))
        return copied


def deserialize_dag(document: Mapping[str, Any] | str) -> SerializedDag:
    data = json.loads(document) if isinstance(document, str) else document
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"serialized DAG format {version!r} is not supported (this slipstream reads "
            f"{FORMAT_VERSION}); re-parse the DAG files"
        )
    return SerializedDag(data)
