"""The worker side of one workload, through the task-execution API instead of the store.

What :func:`~slipstream.execution.worker.run_workload` does with the metadata
database, done over HTTP with the workload's task token: start the try,
heartbeat while it runs, stream its log lines in batches to the API (which
appends them to the try's log file), and report its end. The worker needs the
DAG files and the API's URL; no database, no password.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from slipstream.execution.api_client import ApiTaskClient, ExecutionApiError, TryNotRunning
from slipstream.execution.logs import TASK_LOGGER, capture_task_log
from slipstream.execution.runner import TaskOutcome, run_task
from slipstream.execution.worker import dag_for_try
from slipstream.state import TaskInstanceState as TIS

if TYPE_CHECKING:
    from slipstream.execution.api_client import RunContext
    from slipstream.execution.worker import DagLoader
    from slipstream.executors.base import Workload

log = logging.getLogger(__name__)

#: A batch is sent when this many lines wait, or every ``flush_interval`` seconds.
BATCH_LINES = 500
#: Lines kept while the API cannot be reached; older ones are dropped beyond this.
MAX_PENDING_LINES = 50_000


class ApiLogHandler(logging.Handler):
    """Buffers formatted task log lines and sends them to the API in batches, from a
    thread of its own, so a task never waits on the network to log."""

    def __init__(
        self, client: ApiTaskClient, *, flush_interval: float = 1.0, batch_lines: int = BATCH_LINES
    ) -> None:
        super().__init__()
        self._client = client
        self._interval = flush_interval
        self._batch = batch_lines
        self._pending: deque[str] = deque()
        self._pending_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._dropped = 0
        self._gone = False  # the try is over: nothing more is accepted
        self.error: str | None = None
        self._thread = threading.Thread(target=self._loop, name="task-log-sender", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        with self._pending_lock:
            self._pending.append(line)
            if len(self._pending) > MAX_PENDING_LINES:
                self._pending.popleft()
                self._dropped += 1
            full = len(self._pending) >= self._batch
        if full:
            self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            self.send()

    def send(self) -> None:
        """Send what waits, in batches; on failure keep it for the next attempt."""
        with self._send_lock:
            while not self._gone:
                with self._pending_lock:
                    count = min(self._batch, len(self._pending))
                    batch = [self._pending.popleft() for _ in range(count)]
                    if self._dropped:
                        lost = f"[{self._dropped} log lines were lost: the API was unreachable]"
                        batch.insert(0, lost)
                        self._dropped = 0
                if not batch:
                    return
                try:
                    self._client.send_logs(batch)
                except TryNotRunning as exc:
                    self._gone, self.error = True, str(exc)
                    return
                except ExecutionApiError as exc:
                    self.error = str(exc)
                    with self._pending_lock:
                        self._pending.extendleft(reversed(batch))
                    return

    def close(self) -> None:
        """Stop the sender and send the rest (before the try's end is reported: the
        token is refused afterwards)."""
        self._stopping.set()
        self._wake.set()
        self._thread.join()
        self.send()
        super().close()


def run_workload_via_api(
    client: ApiTaskClient,
    loader: DagLoader,
    workload: Workload,
    *,
    heartbeat_interval: float = 5.0,
    log_flush_interval: float = 1.0,
    echo: bool = False,
) -> dict[str, Any]:
    """Run one workload in this process and report it through the API. Returns the
    executor's report, as :func:`~slipstream.execution.worker.run_workload` does."""
    hostname, pid = socket.gethostname(), os.getpid()
    try:
        context = client.start(hostname=hostname, pid=pid)
    except TryNotRunning as exc:
        return {
            "abandoned": f"the try is no longer queued (cleared, marked or run elsewhere): {exc}"
        }
    stop = threading.Event()
    beats = threading.Thread(
        target=_heartbeat,
        args=(client, hostname, pid, stop, heartbeat_interval),
        name="task-heartbeat",
        daemon=True,
    )
    beats.start()
    handler = ApiLogHandler(client, flush_interval=log_flush_interval)
    try:
        with capture_task_log(handler, echo=echo):
            try:
                outcome = _run(loader, workload, context, client)
            except Exception as exc:
                logging.getLogger(TASK_LOGGER).exception("the try could not start")
                now = datetime.now(UTC)
                outcome = TaskOutcome(
                    state=TIS.UP_FOR_RETRY if context.should_retry else TIS.FAILED,
                    error=f"the try could not start: {exc}",
                    started_at=now,
                    ended_at=now,
                )
    finally:
        stop.set()
        handler.close()
    if handler.error:
        log.warning("some task log lines could not be sent: %s", handler.error)
    report: dict[str, Any] = outcome.to_dict()
    try:
        report["state"] = client.finish(outcome)
    except TryNotRunning as exc:
        return {**report, "abandoned": f"the end of the try was not recorded: {exc}"}
    return {**report, "recorded": True}


def _heartbeat(
    client: ApiTaskClient, hostname: str, pid: int, stop: threading.Event, every: float
) -> None:
    while not stop.wait(every):
        try:
            if not client.heartbeat(hostname=hostname, pid=pid):
                return  # cleared, marked or reaped: the end is still reported
        except ExecutionApiError:  # a missed beat is retried at the next one
            log.warning("task heartbeat failed", exc_info=True)


def _run(
    loader: DagLoader, workload: Workload, context: RunContext, client: ApiTaskClient
) -> TaskOutcome:
    key = workload.key
    dag = dag_for_try(loader, workload, client.dag_source)
    return run_task(
        dag=dag,
        task_id=key.task_id,
        run=context.run,
        client=client,
        map_index=key.map_index,
        try_number=key.try_number,
        max_tries=context.max_tries,
        first_attempt_started_at=context.first_attempt_started_at,
    )
