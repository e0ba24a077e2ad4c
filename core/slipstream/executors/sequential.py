"""Runs one try at a time, in this process: for ``dags test``, tests and embedding."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from slipstream.executors.base import (
    Executor,
    ExecutorContext,
    ExecutorEvent,
    TaskInstanceKey,
    Workload,
)


class SequentialExecutor(Executor):
    """Each ``sync`` runs the oldest submitted try to completion, then reports it.

    Running inside ``sync`` (not ``submit``) keeps the scheduler's order of
    operations the same as with a parallel executor: submit, then observe.
    """

    def __init__(self, run: Callable[[Workload], Mapping[str, Any]]) -> None:
        self._run = run
        self._pending: deque[Workload] = deque()
        self._cancelled: set[TaskInstanceKey] = set()

    @classmethod
    def from_context(cls, context: ExecutorContext) -> SequentialExecutor:
        if context.run_in_process is None:
            raise ValueError("the sequential executor needs ExecutorContext.run_in_process")
        return cls(context.run_in_process)

    def submit(self, workload: Workload) -> None:
        self._pending.append(workload)

    def open_slots(self) -> int:
        return 0 if self._pending else 1

    def wait_for_events(self, timeout: float) -> None:
        if not self._pending:  # pending work runs in the next sync(): no waiting then
            super().wait_for_events(timeout)

    def sync(self) -> list[ExecutorEvent]:
        events: list[ExecutorEvent] = []
        while self._pending:
            workload = self._pending.popleft()
            if workload.key in self._cancelled:
                self._cancelled.discard(workload.key)
                events.append(ExecutorEvent(key=workload.key, state="failed", info="cancelled"))
                continue
            events.append(ExecutorEvent(key=workload.key, state="running"))
            try:
                outcome = self._run(workload)
            except Exception as exc:  # the runner records task errors; this is its own failure
                events.append(
                    ExecutorEvent(key=workload.key, state="failed", info=f"runner error: {exc}")
                )
                continue
            events.append(
                ExecutorEvent(
                    key=workload.key, state=str(outcome.get("state", "success")), outcome=outcome
                )
            )
        return events

    def cancel(self, key: TaskInstanceKey) -> None:
        if any(w.key == key for w in self._pending):
            self._cancelled.add(key)

    def shutdown(self, *, wait: bool = True) -> None:
        if wait:
            return
        self._pending.clear()
