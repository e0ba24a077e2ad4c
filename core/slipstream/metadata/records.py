"""The records the metadata store takes and returns.

Small, frozen, keyword-only attrs classes: what the scheduler, the API and the
CLI see of the database. Never ORM objects, never rows. Every datetime is
timezone-aware UTC. Secrets (passwords, connection extras, password hashes) are
kept out of ``repr`` so they do not end up in logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

import attrs

from slipstream.state import DagRunState, DagRunType, TaskInstanceState

T = TypeVar("T")

DEFAULT_POOL = "default_pool"
DEFAULT_POOL_SLOTS = 128
USER_ROLES = ("admin", "op", "user", "viewer")


def _tuple_of_str(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in value)


def _frozen_dict(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value or {})


@attrs.frozen(kw_only=True)
class Page(Generic[T]):
    """One page of a listing and how many rows match in all (for pagination)."""

    items: tuple[T, ...] = attrs.field(converter=tuple)
    total: int


# -- DAGs ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class NextRun:
    """When a DAG's next scheduled run is due, as the scheduler computed it."""

    logical_date: datetime | None = None
    data_interval_start: datetime | None = None
    data_interval_end: datetime | None = None
    create_after: datetime | None = None


@attrs.frozen(kw_only=True)
class DagMetadata:
    """What parsing a DAG file says about one DAG (the input of ``upsert_dags``).

    ``next_run`` is only written when given, so a re-parse does not move back a
    next run the scheduler has already advanced.
    """

    dag_id: str
    fileloc: str
    relative_fileloc: str | None = None
    owners: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    tags: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    description: str | None = None
    schedule: str | None = None  # a summary for people: "@daily", "0 * * * *", "None"
    max_active_runs: int = 16
    max_active_tasks: int = 16
    last_parsed_time: datetime
    next_run: NextRun | None = None


@attrs.frozen(kw_only=True)
class Dag:
    """A DAG as the store knows it: its parse metadata plus paused/active state."""

    dag_id: str
    fileloc: str
    relative_fileloc: str | None
    owners: tuple[str, ...] = attrs.field(converter=_tuple_of_str)
    tags: tuple[str, ...] = attrs.field(converter=_tuple_of_str)
    description: str | None
    schedule: str | None
    is_paused: bool
    is_active: bool
    max_active_runs: int
    max_active_tasks: int
    last_parsed_time: datetime | None
    next_run: NextRun


@attrs.frozen(kw_only=True)
class DagVersion:
    """One distinct serialized form of a DAG, numbered 1, 2, 3... per DAG."""

    id: int
    dag_id: str
    version_number: int
    content_hash: str
    serialized: dict[str, Any] = attrs.field(repr=False)
    source_code: str | None = attrs.field(repr=False)
    created_at: datetime


@attrs.frozen(kw_only=True)
class DagFileParse:
    """How the last parse of one DAG file went (``dags report``)."""

    path: str
    mtime: float | None
    content_hash: str | None
    last_parsed_at: datetime
    parse_duration: float  # seconds
    dag_ids: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)


@attrs.frozen(kw_only=True)
class DagImportError:
    """A DAG file that failed to import, with its traceback."""

    id: int
    filename: str
    stacktrace: str
    timestamp: datetime


# -- Runs and task instances --------------------------------------------------------


@attrs.frozen(kw_only=True)
class NewDagRun:
    """What ``create_dag_run`` needs; the store fills ids and timestamps."""

    dag_id: str
    run_id: str
    run_type: DagRunType
    state: DagRunState = DagRunState.QUEUED
    logical_date: datetime | None = None
    data_interval_start: datetime | None = None
    data_interval_end: datetime | None = None
    run_after: datetime
    conf: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict)
    dag_version_id: int | None = None
    triggered_by: str | None = None
    backfill_id: int | None = None
    note: str | None = None
    triggering_user_name: str | None = None  # the user who triggered it by hand (API, UI)


@attrs.frozen(kw_only=True)
class DagRun:
    """One run of a DAG."""

    id: int
    dag_id: str
    run_id: str
    run_type: DagRunType
    state: DagRunState
    logical_date: datetime | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    run_after: datetime
    conf: dict[str, Any]
    dag_version_id: int | None
    triggered_by: str | None
    backfill_id: int | None
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    created_at: datetime
    lease_owner: str | None = None  # the scheduler that holds the run (claim_dag_runs)
    lease_expires_at: datetime | None = None
    note: str | None = None  # a user's note (``set_dag_run_note``)
    triggering_user_name: str | None = None
    #: When a person (CLI, API, UI) last changed one of its task instances: an update
    #: with ``by_user``. A scheduler that saw another value evaluates the run again.
    tasks_changed_at: datetime | None = None


@attrs.frozen(kw_only=True, order=True)
class TaskInstanceRef:
    """Names one task instance (all tries): dag, run, task and map index."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1


@attrs.frozen(kw_only=True)
class NewTaskInstance:
    """One task instance to create in a run (``create_task_instances``)."""

    task_id: str
    map_index: int = -1
    state: TaskInstanceState = TaskInstanceState.NONE
    try_number: int = 0
    max_tries: int = 0
    pool: str = DEFAULT_POOL
    pool_slots: int = 1
    queue: str = "default"
    priority_weight: int = 1
    operator: str | None = None
    executor: str | None = None
    dag_version_id: int | None = None


@attrs.frozen(kw_only=True)
class TaskInstance:
    """One task instance (one task in one run, one map index) at its current try.

    Records from the history table (``list_task_instance_tries``) have the same
    shape, one per finished try.
    """

    id: int
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    max_tries: int
    state: TaskInstanceState
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None
    queued_at: datetime | None
    scheduled_at: datetime | None
    hostname: str | None
    pid: int | None
    executor: str | None
    pool: str
    pool_slots: int
    queue: str
    priority_weight: int
    operator: str | None
    next_retry_at: datetime | None
    reschedule_at: datetime | None
    last_heartbeat_at: datetime | None
    dag_version_id: int | None
    rendered_fields: dict[str, Any] | None
    external_executor_id: str | None
    lease_owner: str | None
    updated_at: datetime

    @property
    def ref(self) -> TaskInstanceRef:
        return TaskInstanceRef(
            dag_id=self.dag_id, run_id=self.run_id, task_id=self.task_id, map_index=self.map_index
        )


# Columns a ``TaskInstanceUpdate.fields`` may set (state has its own argument).
TI_UPDATABLE_FIELDS = frozenset(
    {
        "try_number",
        "max_tries",
        "start_date",
        "end_date",
        "duration",
        "queued_at",
        "scheduled_at",
        "hostname",
        "pid",
        "executor",
        "pool",
        "pool_slots",
        "queue",
        "priority_weight",
        "operator",
        "next_retry_at",
        "reschedule_at",
        "last_heartbeat_at",
        "dag_version_id",
        "rendered_fields",
        "external_executor_id",
        "lease_owner",
    }
)


def _check_fields(
    instance: object, attribute: attrs.Attribute[Any], value: Mapping[str, Any]
) -> None:
    unknown = set(value) - TI_UPDATABLE_FIELDS
    if unknown:
        raise ValueError(
            f"TaskInstanceUpdate cannot {'set' if attribute.name == 'fields' else 'compare'} "
            f"{', '.join(sorted(unknown))}; "
            f"known fields: {', '.join(sorted(TI_UPDATABLE_FIELDS))}"
        )


@attrs.frozen(kw_only=True)
class TaskInstanceUpdate:
    """A change to one task instance, applied in a batch by ``update_task_instances``.

    ``state=None`` leaves the state alone. With ``expected_state`` the change is
    a compare-and-set: it applies only if the current state is that one (and, with
    ``expected_try_number``, only if the task instance is still at that try, so a
    late write of an old try never lands on a newer one; with ``expected``, only if
    those fields still hold those values). ``by_user`` marks a person's change: it
    may make transitions the scheduler may not, and it stamps the run's
    ``tasks_changed_at``.
    """

    ti_id: int
    state: TaskInstanceState | None = None
    expected_state: TaskInstanceState | None = None
    expected_try_number: int | None = None
    by_user: bool = False
    fields: dict[str, Any] = attrs.field(
        factory=dict, converter=_frozen_dict, validator=_check_fields
    )
    expected: dict[str, Any] = attrs.field(
        factory=dict, converter=_frozen_dict, validator=_check_fields
    )


@attrs.frozen(kw_only=True)
class XCom:
    """A value one task instance pushed for others to pull (JSON)."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    key: str
    value: Any
    timestamp: datetime


# -- Coordination -----------------------------------------------------------------------


class JobState(StrEnum):
    RUNNING = "running"
    SUCCESS = "success"  # stopped cleanly
    FAILED = "failed"  # stopped heartbeating: declared dead by another job


@attrs.frozen(kw_only=True)
class Job:
    """A long-running slipstream process (scheduler, dag processor, ...) and its heartbeat."""

    id: int
    kind: str
    hostname: str
    pid: int
    state: JobState
    started_at: datetime
    last_heartbeat_at: datetime
    ended_at: datetime | None


# -- Variables, connections, pools, users ---------------------------------------------


@attrs.frozen(kw_only=True)
class Variable:
    key: str
    value: str = attrs.field(repr=False)
    description: str | None = None


@attrs.frozen(kw_only=True)
class Connection:
    """How to reach an external system; ``password`` and ``extra`` are encrypted at rest."""

    conn_id: str
    conn_type: str
    host: str | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    port: int | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict, repr=False)
    description: str | None = None


@attrs.frozen(kw_only=True)
class Pool:
    """A pool and how its slots are used right now (counted from task instances)."""

    name: str
    slots: int
    description: str | None
    occupied_slots: int = 0  # queued + running
    running_slots: int = 0
    queued_slots: int = 0
    scheduled_slots: int = 0

    @property
    def open_slots(self) -> int:
        return self.slots - self.occupied_slots


@attrs.frozen(kw_only=True)
class User:
    """A web-server user. The store keeps the hash it is given; it never hashes."""

    id: int
    username: str
    role: str
    password_hash: str = attrs.field(repr=False)
    email: str | None
    active: bool
    created_at: datetime
    last_login: datetime | None
