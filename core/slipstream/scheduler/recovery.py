"""Crash recovery: tries whose worker went silent, tries a dead scheduler left queued."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from slipstream.metadata.records import TaskInstanceUpdate
from slipstream.scheduler._parts import SchedulerParts
from slipstream.state import TaskInstanceState as TIS

log = logging.getLogger("slipstream.scheduler.core")


class RecoveryMixin(SchedulerParts):
    def reap(self, now: datetime) -> set[tuple[str, str]]:
        """Tries whose worker went silent are failed (or retried); tries queued by a
        scheduler that died and never started are queued again."""
        affected: set[tuple[str, str]] = set()
        silent = now - timedelta(seconds=self.task_heartbeat_timeout)
        for ti in self.store.list_task_instances(states=[TIS.RUNNING], limit=None).items:
            if ti.last_heartbeat_at is not None and ti.last_heartbeat_at < silent:
                info = f"no heartbeat for {self.task_heartbeat_timeout:g}s: the worker is gone"
                if self.recorder.finish(ti, None, info=info, now=now) is not None:
                    affected.add((ti.dag_id, ti.run_id))
        alive = self._alive_schedulers()
        resets = [
            TaskInstanceUpdate(
                ti_id=ti.id,
                state=TIS.SCHEDULED,
                expected_state=TIS.QUEUED,
                fields={"try_number": max(ti.try_number - 1, 0), "lease_owner": None},
            )
            for ti in self.store.list_task_instances(states=[TIS.QUEUED], limit=None).items
            if ti.lease_owner != self.id and _owner_process(ti.lease_owner) not in alive
        ]
        if resets:
            log.warning("queueing again %d tries left by a scheduler that died", len(resets))
            self.store.update_task_instances(resets)
            self._reread_scheduled = True
        return affected

    def _alive_schedulers(self) -> set[tuple[str, str]]:
        within = timedelta(seconds=self.scheduler_heartbeat_timeout)
        return {
            (job.hostname, str(job.pid))
            for job in self.store.list_jobs(kind="scheduler", alive_within=within)
        }


def _owner_process(lease_owner: str | None) -> tuple[str, str] | None:
    """``host:pid:nonce`` (a scheduler's id) -> ``(host, pid)``."""
    if not lease_owner:
        return None
    host, _, rest = lease_owner.partition(":")
    return host, rest.partition(":")[0]
