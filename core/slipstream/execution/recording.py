"""Writing a try's start, heartbeats and end into the store.

The worker that runs a try records it itself, so a try's outcome survives a
scheduler crash; the scheduler uses the same code for tries whose worker died
without a word. Every write is a compare-and-set on the try's state and number:
a try that was cleared, marked or re-queued meanwhile is never overwritten.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs

from slipstream.metadata.records import TaskInstance, TaskInstanceRef, TaskInstanceUpdate
from slipstream.scheduler.retries import retry_delay
from slipstream.serialized_dag import SerializedDag, deserialize_dag
from slipstream.state import TaskInstanceState as TIS

if TYPE_CHECKING:
    from slipstream.execution.runner import TaskOutcome
    from slipstream.executors.base import TaskInstanceKey
    from slipstream.metadata.base import MetadataStore
    from slipstream.plugins.manager import PluginManager

log = logging.getLogger(__name__)

_LISTENER_EVENTS = {
    TIS.SUCCESS: "on_task_instance_success",
    TIS.FAILED: "on_task_instance_failed",
    TIS.UP_FOR_RETRY: "on_task_instance_failed",
    TIS.SKIPPED: "on_task_instance_skipped",
}


def _now() -> datetime:
    return datetime.now(UTC)


class TryRecorder:
    def __init__(self, store: MetadataStore, plugins: PluginManager | None = None) -> None:
        self.store = store
        self.plugins = plugins
        self._versions: dict[int, SerializedDag] = {}

    def dag_for(self, ti: TaskInstance) -> SerializedDag | None:
        if ti.dag_version_id is None:
            version = self.store.get_dag_version(ti.dag_id)
        elif ti.dag_version_id in self._versions:
            return self._versions[ti.dag_version_id]
        else:
            version = self.store.get_dag_version_by_id(ti.dag_version_id)
        if version is None:
            return None
        dag = deserialize_dag(version.serialized)
        self._versions[version.id] = dag
        return dag

    # -- a worker's side ---------------------------------------------------------------

    def start(self, key: TaskInstanceKey, *, hostname: str, pid: int) -> TaskInstance | None:
        """Claim the queued try for this worker; None if it is not (or no longer) queued."""
        ref = TaskInstanceRef(
            dag_id=key.dag_id, run_id=key.run_id, task_id=key.task_id, map_index=key.map_index
        )
        ti = self.store.get_task_instance(ref)
        if ti is None or ti.try_number != key.try_number or ti.state != TIS.QUEUED:
            return None
        now = _now()
        fields: dict[str, Any] = {"last_heartbeat_at": now, "hostname": hostname, "pid": pid}
        if ti.reschedule_at is None or ti.start_date is None:
            fields["start_date"] = now  # a rescheduled sensor keeps its first poke's start
        if not self.store.compare_and_set_task_instance_state(
            ti.id, TIS.QUEUED, TIS.RUNNING, **fields
        ):
            return None
        started = attrs.evolve(ti, state=TIS.RUNNING, **fields)
        self._notify("on_task_instance_running", TIS.QUEUED, ref)
        return started

    def heartbeat(self, ti: TaskInstance) -> bool:
        """Say the try is alive; False if it is no longer running (cleared, marked, reaped)."""
        update = TaskInstanceUpdate(
            ti_id=ti.id, expected_state=TIS.RUNNING, fields={"last_heartbeat_at": _now()}
        )
        return self.store.update_task_instances([update])[0]

    # -- the end of a try ------------------------------------------------------------------

    def finish(
        self,
        ti: TaskInstance,
        outcome: TaskOutcome | None,
        *,
        info: str | None = None,
        now: datetime | None = None,
    ) -> TIS | None:
        """Record how the try ended (``outcome``), or that it died (``None``, with ``info``).

        Returns the state written, or None when the try was no longer this one's to end.
        """
        now = now or _now()
        current = self.store.get_task_instance(ti.ref)
        if current is None or current.try_number != ti.try_number:
            return None
        if current.state == TIS.RESTARTING:  # cleared while it ran: it runs again now
            self.store.compare_and_set_task_instance_state(
                current.id, TIS.RESTARTING, TIS.NONE, end_date=now
            )
            return TIS.NONE
        if current.state not in (TIS.QUEUED, TIS.RUNNING):
            return None
        if outcome is not None:
            new = outcome.state
        else:
            new = TIS.UP_FOR_RETRY if current.try_number <= current.max_tries else TIS.FAILED
            log.error(
                "task %s.%s (run %s) try %s ended without reporting: %s",
                current.dag_id,
                current.task_id,
                current.run_id,
                current.try_number,
                info,
            )
        ended = outcome.ended_at if outcome else now
        started = current.start_date if current.reschedule_at is not None else None
        started = started or (outcome.started_at if outcome else None) or current.start_date or now
        fields: dict[str, Any] = {
            "end_date": ended,
            "start_date": started,
            "duration": max((ended - started).total_seconds(), 0.0),
            "reschedule_at": outcome.reschedule_at
            if outcome is not None and new == TIS.UP_FOR_RESCHEDULE
            else None,
        }
        # The serialized DAG can be large: read it only when a retry or a skip needs it.
        needs_dag = new == TIS.UP_FOR_RETRY or bool(outcome and outcome.skip_downstream)
        dag = self.dag_for(current) if needs_dag else None
        if new == TIS.UP_FOR_RETRY and dag is not None and current.task_id in dag.tasks:
            task = dag.tasks[current.task_id]
            fields["next_retry_at"] = ended + retry_delay(
                base=task.retry_delay_td,
                try_number=current.try_number,
                exponential_backoff=bool(task.retry_exponential_backoff),
                max_delay=task.max_retry_delay_td,
                jitter_key=f"{current.dag_id}.{current.task_id}.{current.run_id}",
            )
        if outcome is not None and outcome.rendered_fields:
            fields["rendered_fields"] = dict(outcome.rendered_fields)
        if not self.store.compare_and_set_task_instance_state(
            current.id, current.state, new, **fields
        ):
            return None
        if outcome is not None and outcome.skip_downstream and dag is not None:
            self._skip(current, dag, outcome.skip_downstream, outcome.skip_recursive, now)
        event = _LISTENER_EVENTS.get(new)
        if event == "on_task_instance_failed":
            error = outcome.error if outcome is not None else info
            self._notify(event, current.state, current.ref, error=error)
        elif event is not None:
            self._notify(event, current.state, current.ref)
        return new

    def _skip(
        self,
        ti: TaskInstance,
        dag: SerializedDag,
        task_ids: Iterable[str],
        recursive: bool,
        now: datetime,
    ) -> None:
        """Skip downstream task instances a branch or short-circuit did not follow."""
        targets = set(task_ids)
        if recursive:
            frontier = list(targets)
            while frontier:
                task = dag.tasks.get(frontier.pop())
                for down in task.downstream if task else []:
                    if down not in targets:
                        targets.add(down)
                        frontier.append(down)
        tis = self.store.list_task_instances(
            dag_ids=[ti.dag_id], run_ids=[ti.run_id], task_ids=sorted(targets), limit=None
        ).items
        self.store.update_task_instances(
            [
                TaskInstanceUpdate(
                    ti_id=other.id,
                    state=TIS.SKIPPED,
                    expected_state=other.state,
                    fields={"end_date": now},
                )
                for other in tis
                if other.state in (TIS.NONE, TIS.SCHEDULED)
            ]
        )

    def _notify(self, event: str, previous: TIS, ref: TaskInstanceRef, **extra: Any) -> None:
        if self.plugins is None or not self.plugins.has_listeners(event):
            return
        ti = self.store.get_task_instance(ref)
        self.plugins.notify(event, previous_state=previous, task_instance=ti, **extra)
