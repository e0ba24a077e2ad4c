"""What the scheduler's parts share: its settings, and the few methods they call
on each other. ``Scheduler`` (core.py) is the one class made of them."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slipstream.execution.recording import TryRecorder
    from slipstream.executors.base import Executor, TaskInstanceKey, Workload
    from slipstream.metadata.base import MetadataStore
    from slipstream.metadata.records import DagRun, TaskInstance
    from slipstream.plugins.manager import PluginManager
    from slipstream.scheduler.queueing import ScheduledQueue
    from slipstream.serialized_dag import SerializedDag


class SchedulerParts:
    store: MetadataStore
    executor: Executor
    executor_name: str
    plugins: PluginManager | None
    poll_interval: float
    task_heartbeat_timeout: float
    scheduler_heartbeat_timeout: float
    clock: Callable[[], datetime]
    recorder: TryRecorder
    id: str
    focus: set[tuple[str, str]] | None
    task_tokens: Callable[[int, Workload], Workload] | None
    #: DAG id -> max_active_tasks, as last seen: DAGs at their limit are not read.
    _dag_limits: dict[str, int]
    #: Task instances known to be scheduled (queueing.ScheduledQueue).
    scheduled: ScheduledQueue
    _submitted: dict[TaskInstanceKey, TaskInstance]
    _runs: dict[tuple[str, str], DagRun]
    #: Read scheduled task instances from the store at the next queueing (full pass,
    #: recovery): some may have been scheduled by others.
    _reread_scheduled: bool
    _more_to_queue: bool

    def dag_for_version(self, version_id: int | None, dag_id: str) -> SerializedDag:
        raise NotImplementedError

    def _notify(self, event: str, **kwargs: Any) -> None:
        raise NotImplementedError

    @staticmethod
    def _key(ti: TaskInstance) -> TaskInstanceKey:
        raise NotImplementedError

    def _begin(self, run: DagRun, sdag: SerializedDag) -> None:
        raise NotImplementedError

    def _mark(self, run: tuple[str, str], changed: Collection[str] | None) -> None:
        raise NotImplementedError
