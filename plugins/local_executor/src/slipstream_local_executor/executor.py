"""The local executor: ``core.parallelism`` tries at once, each in its own process.

A warm "zygote" process is forked from the scheduler when the executor starts
(it has slipstream imported, and imports each DAG file once it has run a task of
it). Every try is a fork of the zygote: it starts in milliseconds, yet a try that
segfaults, calls ``os._exit``, leaks memory or overruns its timeout takes down
only itself.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import time
from collections import deque
from collections.abc import Iterable
from multiprocessing.connection import Connection
from typing import Any

from slipstream.executors import (
    Executor,
    ExecutorContext,
    ExecutorEvent,
    LocalWorker,
    TaskInstanceKey,
    Workload,
)
from slipstream_local_executor.zygote import serve

log = logging.getLogger(__name__)

#: With this many tries in flight, wait_for_events lingers COALESCE_SECONDS after the
#: first event: ends then arrive a few at a time, and a chain (one try in flight)
#: never waits.
COALESCE_FROM = 4
COALESCE_SECONDS = 0.003

#: Forks the zygote keeps ready (at most ``parallelism``): a try starts without a fork
#: on its path, and a burst of tries finds most of its processes made already.
SPARES = 4


def _key_to_json(key: TaskInstanceKey) -> str:
    return json.dumps(
        [key.dag_id, key.run_id, key.task_id, key.map_index, key.try_number],
        separators=(",", ":"),
    )


def _key_from_json(text: str) -> TaskInstanceKey:
    dag_id, run_id, task_id, map_index, try_number = json.loads(text)
    return TaskInstanceKey(
        dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index, try_number=try_number
    )


class LocalExecutor(Executor):
    is_local = True

    def __init__(
        self,
        worker: LocalWorker,
        parallelism: int,
        kill_grace: float = 5.0,
        heartbeat_interval: float = 5.0,
    ) -> None:
        self._worker = worker
        self._parallelism = parallelism
        self._kill_grace = kill_grace
        self._heartbeat_interval = heartbeat_interval
        self._conn: Connection | None = None
        self._process: Any = None
        self._running: set[TaskInstanceKey] = set()
        self._events: deque[ExecutorEvent] = deque()
        self._drained = 0  # sequence number of the last event read from the zygote
        self._returned = 0  # ... of the last event sync() returned, to acknowledge

    @classmethod
    def from_context(cls, context: ExecutorContext) -> LocalExecutor:
        if context.worker is None:
            raise ValueError("the local executor needs ExecutorContext.worker")
        return cls(
            context.worker,
            context.parallelism,
            heartbeat_interval=float(context.config["scheduler.task_heartbeat_interval"]),
        )

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        if self._process is not None:
            return
        self._worker.forking()
        ctx = multiprocessing.get_context("fork")
        parent, child = ctx.Pipe(duplex=True)
        self._process = ctx.Process(
            target=serve,
            args=(
                child,
                parent,
                self._worker,
                self._kill_grace,
                self._heartbeat_interval,
                min(self._parallelism, SPARES),
            ),
            name="slipstream-local-zygote",
            daemon=True,
        )
        self._process.start()
        child.close()
        self._conn = parent
        self._drained = self._returned = 0  # a new zygote counts its events from 1

    def shutdown(self, *, wait: bool = True) -> None:
        conn, process = self._conn, self._process
        if conn is None or process is None:
            return
        try:
            conn.send(("stop", wait))
            # _drain forgets the zygote when it sees the pipe end: stop looping then.
            while wait and self._running and self._conn is not None and process.is_alive():
                self._drain(timeout=0.5)
        except (BrokenPipeError, EOFError, OSError):
            pass
        process.join(timeout=10 if wait else 2)
        if process.is_alive():
            process.kill()
        conn.close()
        self._conn = None
        self._process = None

    # -- work -----------------------------------------------------------------------

    def submit(self, workload: Workload) -> None:
        if self._conn is None:
            self.start()
        assert self._conn is not None
        self._running.add(workload.key)
        self._conn.send(("run", workload.to_json()))

    def open_slots(self) -> int:
        return self._parallelism - len(self._running)

    def cancel(self, key: TaskInstanceKey) -> None:
        if self._conn is not None and key in self._running:
            self._conn.send(("cancel", _key_to_json(key)))

    def wait_for_events(self, timeout: float) -> None:
        """Return as soon as the zygote reports; with many tries in flight, linger a
        few milliseconds first, so that the scheduler records and schedules several
        ends in one tick (a tick's queries cost the same for one event or ten)."""
        if self._events or self._conn is None:
            return
        if self._conn.poll(timeout) and len(self._running) >= COALESCE_FROM:
            time.sleep(COALESCE_SECONDS)

    def sync(self) -> list[ExecutorEvent]:
        """The events since the last call. Calling it again acknowledges the events it
        returned last time: the scheduler recorded them (it processes a batch before it
        asks for the next), so the zygote need not keep them for a crash any more."""
        if self._returned and self._conn is not None:
            with contextlib.suppress(BrokenPipeError, OSError):  # _drain notices its end
                self._conn.send(("ack", self._returned))
            self._returned = 0
        self._drain(timeout=0)
        events = list(self._events)
        self._events.clear()
        if events:
            self._returned = self._drained
        return events

    def adopt(self, workloads: Iterable[Workload]) -> list[Workload]:
        return list(workloads)  # tries of another scheduler's zygote cannot be watched from here

    def _drain(self, timeout: float) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            while conn.poll(timeout):
                timeout = 0
                kind, key_json, payload, info, seq = conn.recv()
                self._drained = max(self._drained, seq)
                key = _key_from_json(key_json)
                outcome = json.loads(payload) if payload else None
                if kind == "running":
                    self._events.append(
                        ExecutorEvent(key=key, state="running", info=info, outcome=outcome)
                    )
                    continue
                self._running.discard(key)
                state = outcome.get("state", "success") if outcome else "failed"
                self._events.append(ExecutorEvent(key=key, state=state, info=info, outcome=outcome))
        except (EOFError, OSError):
            log.error(
                "the local executor's worker process died; failing its %d tries", len(self._running)
            )
            for key in self._running:
                self._events.append(
                    ExecutorEvent(key=key, state="failed", info="the worker process died")
                )
            self._running.clear()
            self._conn = None
            self._process = None
