"""The scheduler's in-memory queue of scheduled task instances."""

from __future__ import annotations

from datetime import UTC, datetime

from slipstream.metadata.records import TaskInstance
from slipstream.scheduler.queueing import ScheduledQueue
from slipstream.state import TaskInstanceState

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def ti(ti_id: int, priority: int, dag_id: str = "d", try_number: int = 0) -> TaskInstance:
    return TaskInstance(
        id=ti_id,
        dag_id=dag_id,
        run_id="r",
        task_id=f"t{ti_id}",
        map_index=-1,
        try_number=try_number,
        max_tries=0,
        state=TaskInstanceState.SCHEDULED,
        start_date=None,
        end_date=None,
        duration=None,
        queued_at=None,
        scheduled_at=T0,
        hostname=None,
        pid=None,
        executor=None,
        pool="default_pool",
        pool_slots=1,
        queue="default",
        priority_weight=priority,
        operator=None,
        next_retry_at=None,
        reschedule_at=None,
        last_heartbeat_at=None,
        dag_version_id=None,
        rendered_fields=None,
        external_executor_id=None,
        lease_owner=None,
        updated_at=T0,
    )


def test_highest_priority_first_then_oldest() -> None:
    queue = ScheduledQueue()
    queue.add([ti(3, 1), ti(1, 5), ti(2, 5, dag_id="e")])
    assert queue.dags() == {"d", "e"}
    assert [queue.pop().id for _ in range(3)] == [1, 2, 3]  # type: ignore[union-attr]
    assert queue.pop() is None and len(queue) == 0 and queue.dags() == set()


def test_a_newer_snapshot_replaces_an_older_one() -> None:
    queue = ScheduledQueue()
    queue.add([ti(1, 1, try_number=0), ti(2, 3)])
    queue.add([ti(1, 9, try_number=1)])  # scheduled again, for its next try
    assert len(queue) == 2
    first = queue.pop()
    assert first is not None and (first.id, first.try_number) == (1, 1)
    second = queue.pop()
    assert second is not None and second.id == 2
    assert queue.pop() is None
