"""Handing scheduled task instances to the executor, within every limit."""

from __future__ import annotations

import heapq
import itertools
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime

import attrs

from slipstream.execution.worker import dag_file_for, started_payload
from slipstream.executors.base import TaskInstanceKey, Workload
from slipstream.metadata.records import DagRun, TaskInstance, TaskInstanceUpdate
from slipstream.scheduler._parts import SchedulerParts
from slipstream.state import TaskInstanceState as TIS

log = logging.getLogger("slipstream.scheduler.core")

#: Scheduled task instances read from the store at a time.
PAGE = 64


class ScheduledQueue:
    """The task instances this scheduler knows to be scheduled, highest priority first.

    It learns them from its own writes (it scheduled them) and from reads of the
    store (what other schedulers, or a recovery, scheduled): queueing then reads no
    rows. An entry may be stale — queued by another scheduler, cleared — which the
    compare-and-set that queues it finds out; the newest snapshot of a task instance
    replaces older ones.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, int]] = []  # (-priority, id, serial)
        self._latest: dict[int, tuple[int, TaskInstance]] = {}  # id -> (serial, snapshot)
        self._per_dag: Counter[str] = Counter()
        self._serial = itertools.count()

    def __len__(self) -> int:
        return len(self._latest)

    def dags(self) -> set[str]:
        """The DAGs with task instances in the queue."""
        return {dag_id for dag_id, n in self._per_dag.items() if n > 0}

    def add(self, tis: Iterable[TaskInstance]) -> None:
        for ti in tis:
            serial = next(self._serial)
            if ti.id not in self._latest:
                self._per_dag[ti.dag_id] += 1
            self._latest[ti.id] = (serial, ti)
            heapq.heappush(self._heap, (-ti.priority_weight, ti.id, serial))

    def pop(self) -> TaskInstance | None:
        while self._heap:
            _, ti_id, serial = heapq.heappop(self._heap)
            latest = self._latest.get(ti_id)
            if latest is None or latest[0] != serial:
                continue  # replaced by a newer snapshot, or taken already
            del self._latest[ti_id]
            self._per_dag[latest[1].dag_id] -= 1
            return latest[1]
        return None

    def clear(self) -> None:
        self._heap.clear()
        self._latest.clear()
        self._per_dag.clear()


class QueueingMixin(SchedulerParts):
    def queue_tasks(self, now: datetime) -> int:
        """Hand scheduled task instances to the executor, within every limit.

        The candidates come from the scheduler's own queue of scheduled task
        instances, which reads the store (the best PAGE of them) only on full passes,
        for what other schedulers or recoveries scheduled. One grouped count of
        queued and running tries per DAG says which DAGs may queue more: a DAG at its
        ``max_active_tasks`` costs nothing more.
        """
        self._more_to_queue = False
        slots = self.executor.open_slots()
        if slots <= 0:
            return 0
        focus = self.focus or set()
        focus_dags = sorted({dag_id for dag_id, _ in focus})
        limits = self._dag_limits
        if self._reread_scheduled:  # a full pass: learn what others scheduled too
            self._reread_scheduled = False
            counts = self.store.count_task_instances_by_dag(
                states=[TIS.SCHEDULED, TIS.QUEUED, TIS.RUNNING], dag_ids=focus_dags
            )
            per_dag = _active(counts)
            waiting = {d for d, c in counts.items() if c.get(TIS.SCHEDULED)}
            readable = sorted(d for d in waiting if per_dag[d] < limits.get(d, per_dag[d] + 1))
            if readable:
                self.scheduled.add(
                    self.store.list_task_instances(
                        states=[TIS.SCHEDULED],
                        dag_ids=readable,
                        run_ids=sorted({run_id for _, run_id in focus}),
                        order_by="-priority_weight",
                        limit=PAGE,
                        with_total=False,
                    ).items
                )
        else:
            if not len(self.scheduled):
                return 0
            # Every DAG's count: filtered by DAG, SQLite would scan all of a DAG's rows
            # instead of the few queued and running ones.
            per_dag = _active(
                self.store.count_task_instances_by_dag(states=[TIS.QUEUED, TIS.RUNNING])
            )
        open_dags = {d for d in self.scheduled.dags() if per_dag[d] < limits.get(d, per_dag[d] + 1)}
        if not open_dags:
            return 0
        pools = {pool.name: pool.open_slots for pool in self.store.list_pools(scheduled=False)}
        per_task: dict[str, Counter[str]] = {}

        def running_of(ti: TaskInstance) -> int:
            """Tries of ``ti``'s task queued or running, across runs (read when a task
            has ``max_active_tis_per_dag``)."""
            if ti.dag_id not in per_task:
                found = self.store.count_task_instances_by_task(
                    states=[TIS.QUEUED, TIS.RUNNING], dag_ids=[ti.dag_id]
                )
                per_task[ti.dag_id] = Counter({task: n for (_, task), n in found.items()})
            return per_task[ti.dag_id][ti.task_id]

        chosen: list[tuple[TaskInstance, Workload]] = []
        passed: list[TaskInstance] = []  # not for now: back into the queue
        budget = PAGE + 4 * slots  # entries looked at per call, at most
        while len(chosen) < slots and budget > 0 and open_dags:
            ti = self.scheduled.pop()
            if ti is None:
                break
            budget -= 1
            if ti.dag_id not in open_dags or (focus and (ti.dag_id, ti.run_id) not in focus):
                passed.append(ti)
                continue
            workload = self._fits(ti, pools, per_dag, running_of)
            if workload is None:
                passed.append(ti)
                if per_dag[ti.dag_id] >= limits.get(ti.dag_id, per_dag[ti.dag_id] + 1):
                    open_dags.discard(ti.dag_id)  # at max_active_tasks: the rest wait too
                continue
            chosen.append((ti, workload))
            pools[ti.pool] -= ti.pool_slots
            per_dag[ti.dag_id] += 1
            if ti.dag_id in per_task:
                per_task[ti.dag_id][ti.task_id] += 1
        self.scheduled.add(passed)
        self._more_to_queue = budget == 0 and len(chosen) < slots
        if not chosen:
            return 0
        won = self.store.update_task_instances(
            [
                TaskInstanceUpdate(
                    ti_id=ti.id,
                    state=TIS.QUEUED,
                    expected_state=TIS.SCHEDULED,
                    expected_try_number=ti.try_number,
                    # A clear onto the latest version (by another scheduler, since
                    # this snapshot) must not run the old version's code.
                    expected={"dag_version_id": ti.dag_version_id},
                    fields={
                        "try_number": workload.key.try_number,
                        "queued_at": now,
                        "lease_owner": self.id,
                        "executor": self.executor_name,
                    },
                )
                for ti, workload in chosen
            ]
        )
        queued = 0
        for (ti, workload), ok in zip(chosen, won, strict=True):
            if not ok:  # another scheduler queued it first (or it changed)
                continue
            now_queued = attrs.evolve(
                ti,
                state=TIS.QUEUED,
                try_number=workload.key.try_number,
                queued_at=now,
                lease_owner=self.id,
                executor=self.executor_name,
            )
            run = self._run_of(ti)
            if run is not None:
                # What the worker needs of the try and its run, so that it reads
                # nothing before the task starts; we record the start and the end.
                workload = attrs.evolve(workload, try_info=started_payload(now_queued, run))
                self._submitted[workload.key] = now_queued
            if self.task_tokens is not None:  # its workers report through the API
                workload = self.task_tokens(ti.id, workload)
            self.executor.submit(workload)
            queued += 1
        return queued

    def _run_of(self, ti: TaskInstance) -> DagRun | None:
        at = (ti.dag_id, ti.run_id)
        if at not in self._runs:
            run = self.store.get_dag_run(*at)
            if run is None:
                return None
            self._runs[at] = run
        return self._runs[at]

    def _fits(
        self,
        ti: TaskInstance,
        pools: dict[str, int],
        per_dag: Counter[str],
        running_of: Callable[[TaskInstance], int],
    ) -> Workload | None:
        """The workload for ``ti`` if every limit lets it run now, else None."""
        sdag = self.dag_for_version(ti.dag_version_id, ti.dag_id)
        self._dag_limits[ti.dag_id] = sdag.max_active_tasks
        task = sdag.tasks.get(ti.task_id)
        if task is None:
            return None
        if pools.get(ti.pool) is None:
            log.warning("task %s.%s waits: pool %r does not exist", ti.dag_id, ti.task_id, ti.pool)
            return None
        if pools[ti.pool] < ti.pool_slots:
            return None
        if per_dag[ti.dag_id] >= sdag.max_active_tasks:
            return None
        limit = task.max_active_tis_per_dag
        if limit is not None and running_of(ti) >= limit:
            return None
        try_number = ti.try_number if ti.reschedule_at is not None else ti.try_number + 1
        timeout = task.execution_timeout
        return Workload(
            key=TaskInstanceKey(
                dag_id=ti.dag_id,
                run_id=ti.run_id,
                task_id=ti.task_id,
                map_index=ti.map_index,
                try_number=try_number,
            ),
            dag_file=dag_file_for(sdag.data),
            dag_version=ti.dag_version_id,
            dag_hash=sdag.definition_hash,
            queue=ti.queue,
            priority=ti.priority_weight,
            timeout_seconds=float(timeout) if timeout is not None else None,
        )


def _active(counts: dict[str, dict[TIS, int]]) -> Counter[str]:
    """Tries queued or running, per DAG."""
    return Counter({d: c.get(TIS.QUEUED, 0) + c.get(TIS.RUNNING, 0) for d, c in counts.items()})
