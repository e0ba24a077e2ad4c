"""Handing scheduled task instances to the executor, within every limit."""

from __future__ import annotations

import heapq
import itertools
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime

from slipstream.execution.worker import dag_file_for
from slipstream.executors.base import TaskInstanceKey, Workload
from slipstream.metadata.records import TaskInstance, TaskInstanceUpdate
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

    def known(self, dag_id: str) -> int:
        return self._per_dag[dag_id]

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

        One grouped count says which DAGs have tries waiting and how many run (DAGs
        at their ``max_active_tasks`` cost nothing more); the candidates come from
        the scheduler's own queue of scheduled task instances, which reads the store
        only for what it has not seen (every full pass, or when a DAG with waiting
        tries has none in it).
        """
        slots = self.executor.open_slots()
        if slots <= 0:
            return 0
        focus = self.focus or set()
        counts = self.store.count_task_instances_by_dag(
            states=[TIS.SCHEDULED, TIS.QUEUED, TIS.RUNNING],
            dag_ids=sorted({dag_id for dag_id, _ in focus}),
        )
        waiting = {d: c.get(TIS.SCHEDULED, 0) for d, c in counts.items() if c.get(TIS.SCHEDULED)}
        if not waiting:
            self.scheduled.clear()
            return 0
        per_dag: Counter[str] = Counter(
            {d: c.get(TIS.QUEUED, 0) + c.get(TIS.RUNNING, 0) for d, c in counts.items()}
        )
        open_dags = {d for d in waiting if per_dag[d] < self._dag_limits.get(d, per_dag[d] + 1)}
        if not open_dags:
            return 0
        if self._reread_scheduled or any(self.scheduled.known(d) == 0 for d in open_dags):
            self._reread_scheduled = False
            self.scheduled.add(
                self.store.list_task_instances(
                    states=[TIS.SCHEDULED],
                    dag_ids=sorted(open_dags),
                    run_ids=sorted({run_id for _, run_id in focus}),
                    order_by="-priority_weight",
                    limit=PAGE,
                    with_total=False,
                ).items
            )
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
        while len(chosen) < slots and budget > 0:
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
                continue
            chosen.append((ti, workload))
            pools[ti.pool] -= ti.pool_slots
            per_dag[ti.dag_id] += 1
            if ti.dag_id in per_task:
                per_task[ti.dag_id][ti.task_id] += 1
        self.scheduled.add(passed)
        if not chosen:
            return 0
        won = self.store.update_task_instances(
            [
                TaskInstanceUpdate(
                    ti_id=ti.id,
                    state=TIS.QUEUED,
                    expected_state=TIS.SCHEDULED,
                    expected_try_number=ti.try_number,
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
        for (_, workload), ok in zip(chosen, won, strict=True):
            if ok:  # a False means another scheduler queued it first (or it changed)
                self.executor.submit(workload)
                queued += 1
        return queued

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
            queue=ti.queue,
            priority=ti.priority_weight,
            timeout_seconds=float(timeout) if timeout is not None else None,
        )
