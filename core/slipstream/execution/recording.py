"""Writing a try's start, heartbeats and end into the store.

Whoever watches a try's process records it: the process itself (``slipstream
tasks run``, in-process executors), or the local executor's zygote, which
records the tries of all its forks in batches. Either way the record does not
depend on the scheduler, so a try's outcome survives a scheduler crash; the
scheduler uses the same code for tries whose watcher died without a word. Every
write is a compare-and-set on the try's state and number: a try that was
cleared, marked or re-queued meanwhile is never overwritten.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs

from slipstream.errors import NotFoundError
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


@attrs.frozen(kw_only=True)
class TryClaim:
    """A worker's claim on a queued try: it starts now, in process ``pid`` on ``hostname``."""

    key: TaskInstanceKey
    hostname: str
    pid: int


@attrs.frozen(kw_only=True)
class TryEnd:
    """How a started try ended: ``ti`` as its start recorded it, and its ``outcome``, or
    None (with ``info`` saying why) when its process ended without one."""

    ti: TaskInstance
    outcome: TaskOutcome | None
    info: str | None = None


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
        return self.start_many([TryClaim(key=key, hostname=hostname, pid=pid)])[0]

    def start_many(self, claims: Sequence[TryClaim]) -> list[TaskInstance | None]:
        """Claim queued tries in one read and one write; per claim, the try as it
        started, or None if it is not (or no longer) queued at that try number."""
        if not claims:
            return []
        refs = [_ref(claim.key) for claim in claims]
        current = {ti.ref: ti for ti in self.store.get_task_instances(refs)}
        return self.start_known(
            [(current.get(ref), claim) for ref, claim in zip(refs, claims, strict=True)]
        )

    def start_known(
        self, starts: Sequence[tuple[TaskInstance | None, TryClaim]]
    ) -> list[TaskInstance | None]:
        """``start_many`` for tries the caller has read already (as queued): no read, one
        compare-and-set write on state and try number."""
        return self.record(starts, [])[0]

    def record(
        self,
        starts: Sequence[tuple[TaskInstance | None, TryClaim]],
        ends: Sequence[TryEnd],
        *,
        now: datetime | None = None,
    ) -> tuple[list[TaskInstance | None], list[TIS | None]]:
        """Record tries that started (known as queued, see ``start_known``), then tries
        that ended (see ``finish_many``), in one write. An end whose ``ti`` is the
        queued task instance of a start in the same call ends the started try.
        Returns, per start, the try as started or None; per end, the state written
        or None."""
        now = now or _now()
        plans = [self._start_plan(ti, claim, now) for ti, claim in starts]
        begun = {plan[1].id: plan[1] for plan in plans if plan is not None}
        ends = [
            attrs.evolve(end, ti=begun[end.ti.id])
            if end.ti.state == TIS.QUEUED and end.ti.id in begun
            else end
            for end in ends
        ]
        endings = [self._ending(end.ti, end.outcome, end.info, now) for end in ends]
        updates = [plan[0] for plan in plans if plan is not None]
        updates += [update for _, update, _ in endings]
        try:
            applied = iter(self.store.update_task_instances(updates))
        except NotFoundError:  # a run was deleted meanwhile: ends are settled one by one
            applied = iter([False] * len(updates))
        started: list[TaskInstance | None] = []
        for plan in plans:
            if plan is not None and next(applied):
                self._notify("on_task_instance_running", TIS.QUEUED, plan[1].ref)
                started.append(plan[1])
            else:
                started.append(None)
        written: list[TIS | None] = []
        for end, (new, _, dag) in zip(ends, endings, strict=True):
            if next(applied):
                self._after_end(end.ti, new, end.outcome, end.info, dag, now)
                written.append(new)
            else:
                written.append(self.finish(end.ti, end.outcome, info=end.info, now=now))
        return started, written

    @staticmethod
    def _start_plan(
        ti: TaskInstance | None, claim: TryClaim, now: datetime
    ) -> tuple[TaskInstanceUpdate, TaskInstance] | None:
        """The compare-and-set that starts ``ti`` (queued at the claimed try), and the try
        as started; None when ``ti`` is not that."""
        if ti is None or ti.try_number != claim.key.try_number or ti.state != TIS.QUEUED:
            return None
        fields: dict[str, Any] = {
            "last_heartbeat_at": now,
            "hostname": claim.hostname,
            "pid": claim.pid,
        }
        if ti.reschedule_at is None or ti.start_date is None:
            fields["start_date"] = now  # a rescheduled sensor keeps its first poke's start
        update = TaskInstanceUpdate(
            ti_id=ti.id,
            state=TIS.RUNNING,
            expected_state=TIS.QUEUED,
            expected_try_number=ti.try_number,
            fields=fields,
        )
        return update, attrs.evolve(ti, state=TIS.RUNNING, **fields)

    def heartbeat(self, ti: TaskInstance) -> bool:
        """Say the try is alive; False if it is no longer running (cleared, marked, reaped)."""
        return self.heartbeat_many([ti])[0]

    def heartbeat_many(self, tis: Sequence[TaskInstance]) -> list[bool]:
        """Say these tries are alive, in one write; per try, False if it no longer runs."""
        now = _now()
        updates = [
            TaskInstanceUpdate(
                ti_id=ti.id,
                expected_state=TIS.RUNNING,
                expected_try_number=ti.try_number,
                fields={"last_heartbeat_at": now},
            )
            for ti in tis
        ]
        try:
            return self.store.update_task_instances(updates)
        except NotFoundError:  # a run was deleted under one of them: beat the others alone
            alive = {ti.id for ti in self.store.get_task_instances_by_id([ti.id for ti in tis])}
            kept = [update for update in updates if update.ti_id in alive]
            applied = self.store.update_task_instances(kept)
            beats = {u.ti_id: ok for u, ok in zip(kept, applied, strict=True)}
            return [beats.get(update.ti_id, False) for update in updates]

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
        new, update, dag = self._ending(current, outcome, info, now)
        if not self.store.update_task_instances([update])[0]:
            return None
        self._after_end(current, new, outcome, info, dag, now)
        return new

    def finish_many(
        self, ends: Sequence[TryEnd], *, now: datetime | None = None
    ) -> list[TIS | None]:
        """Record how started tries ended, in one write for all of them.

        Each ``TryEnd.ti`` is the try as its start was recorded (running); a try that
        changed since (cleared, marked, reaped) is settled one by one by ``finish``.
        Returns, per try, the state written or None.
        """
        if not ends:
            return []
        return self.record([], ends, now=now)[1]

    def _ending(
        self, current: TaskInstance, outcome: TaskOutcome | None, info: str | None, now: datetime
    ) -> tuple[TIS, TaskInstanceUpdate, SerializedDag | None]:
        """The state and fields that end ``current`` (queued or running), as a
        compare-and-set on its state and try number."""
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
        update = TaskInstanceUpdate(
            ti_id=current.id,
            state=new,
            expected_state=current.state,
            expected_try_number=current.try_number,
            fields=fields,
        )
        return new, update, dag

    def _after_end(
        self,
        ti: TaskInstance,
        new: TIS,
        outcome: TaskOutcome | None,
        info: str | None,
        dag: SerializedDag | None,
        now: datetime,
    ) -> None:
        if outcome is not None and outcome.skip_downstream and dag is not None:
            self._skip(ti, dag, outcome.skip_downstream, outcome.skip_recursive, now)
        self.notify_ended(ti.ref, new, ti.state, outcome.error if outcome is not None else info)

    def notify_ended(
        self, ref: TaskInstanceRef, new: TIS, previous: TIS, error: str | None
    ) -> None:
        """Tell listeners a try ended in ``new`` (when anyone listens)."""
        event = _LISTENER_EVENTS.get(new)
        if event == "on_task_instance_failed":
            self._notify(event, previous, ref, error=error)
        elif event is not None:
            self._notify(event, previous, ref)

    def notify_started(self, ref: TaskInstanceRef) -> None:
        """Tell listeners a try started (when anyone listens)."""
        self._notify("on_task_instance_running", TIS.QUEUED, ref)

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


def _ref(key: TaskInstanceKey) -> TaskInstanceRef:
    return TaskInstanceRef(
        dag_id=key.dag_id, run_id=key.run_id, task_id=key.task_id, map_index=key.map_index
    )
