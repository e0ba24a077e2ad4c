"""Handing scheduled task instances to the executor, within every limit."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

from slipstream.execution.worker import dag_file_for
from slipstream.executors.base import TaskInstanceKey, Workload
from slipstream.metadata.records import TaskInstance, TaskInstanceUpdate
from slipstream.scheduler._parts import SchedulerParts
from slipstream.state import TaskInstanceState as TIS

log = logging.getLogger("slipstream.scheduler.core")


class QueueingMixin(SchedulerParts):
    def queue_tasks(self, now: datetime) -> int:
        """Hand scheduled task instances to the executor, within every limit."""
        slots = self.executor.open_slots()
        if slots <= 0:
            return 0
        focus = self.focus or set()
        candidates = self.store.list_task_instances(
            states=[TIS.SCHEDULED],
            dag_ids=sorted({dag_id for dag_id, _ in focus}),
            run_ids=sorted({run_id for _, run_id in focus}),
            order_by="-priority_weight",
            limit=max(slots * 4, 64),
        ).items
        if focus:
            candidates = tuple(ti for ti in candidates if (ti.dag_id, ti.run_id) in focus)
        if not candidates:
            return 0
        pools = {pool.name: pool.open_slots for pool in self.store.list_pools()}
        active = self.store.list_task_instances(
            dag_ids=sorted({ti.dag_id for ti in candidates}),
            states=[TIS.QUEUED, TIS.RUNNING],
            limit=None,
        ).items
        per_dag = Counter(ti.dag_id for ti in active)
        per_task = Counter((ti.dag_id, ti.task_id) for ti in active)
        chosen: list[tuple[TaskInstance, Workload]] = []
        for ti in candidates:
            if len(chosen) >= slots:
                break
            sdag = self.dag_for_version(ti.dag_version_id, ti.dag_id)
            task = sdag.tasks.get(ti.task_id)
            if task is None:
                continue
            if pools.get(ti.pool) is None:
                log.warning(
                    "task %s.%s waits: pool %r does not exist", ti.dag_id, ti.task_id, ti.pool
                )
                continue
            if pools[ti.pool] < ti.pool_slots:
                continue
            if per_dag[ti.dag_id] >= sdag.max_active_tasks:
                continue
            limit = task.max_active_tis_per_dag
            if limit is not None and per_task[(ti.dag_id, ti.task_id)] >= limit:
                continue
            try_number = ti.try_number if ti.reschedule_at is not None else ti.try_number + 1
            timeout = task.execution_timeout
            workload = Workload(
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
            chosen.append((ti, workload))
            pools[ti.pool] -= ti.pool_slots
            per_dag[ti.dag_id] += 1
            per_task[(ti.dag_id, ti.task_id)] += 1
        if not chosen:
            return 0
        won = self.store.update_task_instances(
            [
                TaskInstanceUpdate(
                    ti_id=ti.id,
                    state=TIS.QUEUED,
                    expected_state=TIS.SCHEDULED,
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
            if ok:  # a False means another scheduler queued it first
                if self.task_tokens is not None:
                    workload = self.task_tokens(ti.id, workload)
                self.executor.submit(workload)
                queued += 1
        return queued
