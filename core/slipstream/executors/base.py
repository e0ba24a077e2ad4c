"""The executor interface: how the scheduler hands task tries to workers.

An executor takes :class:`Workload` records, gets them run somewhere, and
reports back with :class:`ExecutorEvent` records. A workload is small, frozen and
JSON-serializable, so the same record can go to a local process, a Celery task
or a pod's command line (``slipstream tasks run --workload JSON``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import attrs

if TYPE_CHECKING:
    from slipstream.config import Config


@attrs.frozen(kw_only=True, order=True)
class TaskInstanceKey:
    """Names one try of one task instance."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    try_number: int = 1

    def __str__(self) -> str:
        mapped = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"{self.dag_id}.{self.task_id}{mapped} run={self.run_id} try={self.try_number}"


@attrs.frozen(kw_only=True)
class Workload:
    """Everything a worker needs to run one try, and nothing it must not see.

    ``dag_file`` is where the DAG comes from, relative to the worker's DAGs
    folder; ``token`` is a credential scoped to this one try, for remote workers
    that report through the API instead of the database.

    A workload with ``dag_callback`` (``"success"`` or ``"failure"``) runs the
    DAG's own callbacks for the run in ``key`` instead of a task (its ``task_id``
    is empty); ``reason`` says why the run ended. Workers load user code, the
    scheduler never does: that is why callbacks travel this way.

    ``dag_hash`` is the definition hash of the version the try belongs to
    (``SerializedDag.definition_hash``): when the DAG file no longer defines that
    version, the worker runs the version's stored code instead of the file's.

    ``try_info`` (JSON text) is what the scheduler knew of the try and its run when
    it queued it (``slipstream.execution.worker.started_payload``); with it, a local
    worker runs the try without reading the store first, and the scheduler records
    the try's start and end from the executor's events. Executors that cannot report
    through events ignore it.
    """

    key: TaskInstanceKey
    dag_file: str
    dag_version: int | None = None
    dag_hash: str | None = None
    queue: str = "default"
    priority: int = 1
    timeout_seconds: float | None = None
    token: str | None = attrs.field(default=None, repr=False)
    dag_callback: str | None = None
    reason: str | None = None
    try_info: str | None = attrs.field(default=None, repr=False)

    def to_json(self) -> str:
        return json.dumps(attrs.asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Workload:
        data = json.loads(text)
        key = TaskInstanceKey(**data.pop("key"))
        return cls(key=key, **data)


@attrs.frozen(kw_only=True)
class ExecutorEvent:
    """A change an executor observed: a try started, finished, or vanished.

    ``state`` uses task-instance state names (``running``, ``success``,
    ``failed``, ...); ``info`` is a short human explanation ("exit code -9").
    ``outcome`` is the worker's report of how the try ended (see
    :meth:`slipstream.execution.runner.TaskOutcome.to_dict`), when it could send one.
    """

    key: TaskInstanceKey
    state: str
    info: str | None = None
    outcome: Mapping[str, Any] | None = None


class LocalWorker(Protocol):
    """Runs workloads in processes forked on this machine (local executors).

    The executor's long-lived parent of the forks (the local executor's zygote)
    prepares, heartbeats and, when the scheduler cannot (the workload has no
    ``try_info``, or the scheduler died), records tries in batches — ``begin``
    before a fork runs its try, ``end`` once it has exited; a fork only runs
    ``execute`` and needs no database connection unless the task itself reads or
    writes shared state. The parent outlives the scheduler, so a try's end is
    recorded even when the scheduler dies.
    """

    def forking(self) -> None:
        """In the executor's process, just before it forks the long-lived parent of its
        workers: release what no fork may inherit (the store's pooled connections)."""

    def warm_up(self) -> None:
        """In the parent, once before its first fork: import and first-use what every
        try needs (never user code), so that forks start warm. Must never raise."""

    def warm(self, workload: Workload) -> None:
        """Import what ``workload`` needs (its DAG file) in this process, so that
        processes forked from it later start warm. Must never raise."""

    def adopt(self, keys: Collection[TaskInstanceKey]) -> None:
        """In the parent: take over heartbeats and ``end`` of begun tries whose start
        someone else recorded (the scheduler); those not running at that try are left."""

    def begin(self, starts: Sequence[tuple[Workload, int]]) -> list[str | None]:
        """In the parent: record, in one batch, that these tries start now, each in
        the forked process with that pid. Per try, the text its process hands to
        ``execute``, or None when the try is no longer queued (cleared, marked, run
        elsewhere): it must not run. Raises when the store cannot be written."""

    def prepare(self, workload: Workload) -> None:
        """In the parent, as it hands a try to its fork: cheap preparations better made
        one at a time than by forks side by side (the try's log folder). Must never
        raise."""

    def execute(self, workload: Workload, started: str) -> Mapping[str, Any]:
        """In the forked process: run a try ``begin`` recorded, recording nothing.
        Returns its report for ``end``."""

    def heartbeat(self, keys: Collection[TaskInstanceKey]) -> None:
        """In the parent: say these begun tries are alive, in one batch."""

    def end(
        self, ends: Sequence[tuple[Workload, Mapping[str, Any] | None, str | None]]
    ) -> list[Mapping[str, Any]]:
        """In the parent: record, in one batch, how begun tries ended: each with the
        report ``execute`` returned, or None and why its process ended without one.
        Returns each try's report for its executor event (``recorded``, ``state``).
        Raises when the store cannot be written; the tries stay unrecorded then."""


@attrs.frozen(kw_only=True)
class ExecutorContext:
    """What a factory receives to build an executor.

    ``run_in_process`` runs one workload in the calling process and returns its
    outcome (``TaskOutcome.to_dict()``); in-process executors use it, remote ones
    ignore it. ``worker`` is for executors that fork worker processes on this
    machine.
    """

    config: Config
    parallelism: int
    run_in_process: Callable[[Workload], Mapping[str, Any]] | None = None
    worker: LocalWorker | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict)


class Executor:
    """Base class for executors. Subclasses implement every method below.

    The scheduler calls ``start`` once, then ``submit`` and ``sync`` from one
    thread; ``sync`` must not block for long. After a scheduler restart it calls
    ``adopt`` with the tries the store says are still running.
    """

    #: Runs tries on this machine (logs are local files, workers share the DAG folder).
    is_local: ClassVar[bool] = True

    #: Its workers report through the task-execution API rather than the metadata
    #: database: the scheduler then puts a token scoped to the try into each
    #: workload it submits (``Workload.token``). Remote executors set it.
    needs_task_token: ClassVar[bool] = False

    def start(self) -> None:
        """Acquire resources (processes, connections). Called once."""

    def submit(self, workload: Workload) -> None:
        """Accept one try for execution; never blocks on the try itself."""
        raise NotImplementedError

    def sync(self) -> list[ExecutorEvent]:
        """Return (and forget) the events observed since the last call."""
        raise NotImplementedError

    def open_slots(self) -> int:
        """How many more tries this executor will accept now."""
        raise NotImplementedError

    def wait_for_events(self, timeout: float) -> None:
        """Block until an event may be ready or ``timeout`` seconds pass.

        The scheduler calls this when it has nothing to do; an executor that can
        be woken by its workers should return as soon as one reports.
        """
        time.sleep(timeout)

    def adopt(self, workloads: Iterable[Workload]) -> list[Workload]:
        """Take over tries started by a previous scheduler; return the ones it could not."""
        return list(workloads)

    def cancel(self, key: TaskInstanceKey) -> None:
        """Stop a running try (marked failed or cleared by a user)."""
        raise NotImplementedError

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop accepting work; with ``wait``, let running tries finish first."""
