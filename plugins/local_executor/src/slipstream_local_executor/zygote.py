"""The warm process every task try is forked from, and the recorder of those tries.

Protocol on the pipe to the executor (pickled tuples):
  executor -> zygote: ("run", workload_json) | ("cancel", key_json) | ("stop", wait)
  zygote -> executor: ("running", key_json, report_json, info)
                    | ("done", key_json, report_json | None, info)

The zygote records a try's start before its fork runs it, heartbeats every running
try, and records each try's end once its fork has exited — all in batches, through
``LocalWorker.begin``, ``heartbeat`` and ``end`` — and only then reports it. A fork
just runs its task. It outlives the scheduler, so tries that run on when the
scheduler dies are still recorded. A "done" whose report says ``recorded`` is in
the store already; any other is left to the scheduler to record (a "done" without a
report ended without a word: it failed, with ``info`` saying why).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

import attrs

from slipstream.executors import LocalWorker, Workload

log = logging.getLogger(__name__)

WARM_TIMEOUT = 30
#: Seconds between attempts to record ended tries while the store refuses; after the
#: last, the scheduler is asked to record them.
END_RETRIES = (0.2, 0.5, 1.0, 2.0, 4.0)
ABANDONED = json.dumps(
    {"abandoned": "the try is no longer queued (cleared, marked or run elsewhere)"}
)
PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15  # what ps and top show: "slipstream-zyg" and "slipstream-try"


@attrs.define
class _Spare:
    """A fork made ahead of time, waiting for the one try it will run."""

    pid: int
    orders: int  # we write its try here
    reader: int  # it writes its report here


@attrs.define
class _Child:
    workload: Workload
    key_json: str
    reader: int
    buffer: bytearray = attrs.field(factory=bytearray)
    deadline: float | None = None
    kill_reason: str | None = None
    open: bool = True


@attrs.define
class _Ended:
    """A try whose process exited, and whose end is not recorded yet."""

    child: _Child
    report: dict[str, Any] | None
    info: str | None


def _key_json(workload: Workload) -> str:
    key = workload.key
    return json.dumps(
        [key.dag_id, key.run_id, key.task_id, key.map_index, key.try_number],
        separators=(",", ":"),
    )


def _prctl() -> Callable[..., int] | None:
    """libc's prctl, loaded once in the zygote (forks only call it)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


def _become_child(prctl: Callable[..., int] | None, zygote: int) -> None:
    gc.disable()  # a short-lived fork: collecting would only copy the parent's pages
    os.setsid()  # the try and whatever it starts form one group we can kill
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if prctl is not None:
        prctl(PR_SET_NAME, b"slipstream-try")
        # Without the zygote nobody records this try: die with it, and the
        # scheduler fails (or retries) the try at once instead of it running twice.
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != zygote:  # it died before the line above
            os._exit(1)


def _spare_child(worker: LocalWorker, orders: int, writer: int) -> None:
    """In a fork made ahead of time: wait for the one try it will run, run it, write
    its report, exit without cleanup. An empty order means it is not needed."""
    chunks = []
    while chunk := os.read(orders, 65536):
        chunks.append(chunk)
    os.close(orders)
    if not chunks:
        os._exit(0)
    code = 0
    try:
        message = json.loads(b"".join(chunks))
        workload = Workload.from_json(message["workload"])
        payload = json.dumps(worker.execute(workload, message["started"])).encode()
    except BaseException as exc:
        payload = json.dumps({"no_outcome": f"runner error: {type(exc).__name__}: {exc}"}).encode()
        code = 1
    try:
        _write_all(writer, payload)
    finally:
        os._exit(code)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _describe_exit(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        return f"the task's process was killed by signal {number} ({signal.Signals(number).name})"
    return f"the task's process exited with code {os.WEXITSTATUS(status)} without reporting"


def serve(
    conn: Connection,
    executor_end: Connection,
    worker: LocalWorker,
    kill_grace: float,
    heartbeat_interval: float = 5.0,
    spares: int = 1,
) -> None:
    """The zygote's loop; runs until told to stop and its children are done and recorded.

    When the scheduler dies, the pipe ends: the zygote starts nothing more, lets
    running tries finish, records them, and exits.
    """
    executor_end.close()  # else the pipe never ends, even when the scheduler dies
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the scheduler's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _limited(worker.warm_up)
    gc.freeze()  # the inherited heap stays out of collections here and in every fork
    _Zygote(conn, worker, kill_grace, heartbeat_interval, spares).loop()
    os._exit(0)


class _Zygote:
    def __init__(
        self,
        conn: Connection,
        worker: LocalWorker,
        kill_grace: float,
        heartbeat_interval: float,
        spares: int,
    ) -> None:
        self.conn = conn
        self.worker = worker
        self.kill_grace = kill_grace
        self.heartbeat_interval = heartbeat_interval
        self.spares_wanted = max(1, spares)
        self.parent = os.getppid()
        self.me = os.getpid()
        self.prctl = _prctl()
        if self.prctl is not None:
            self.prctl(PR_SET_NAME, b"slipstream-zyg")
        self.children: dict[int, _Child] = {}
        self.by_reader: dict[int, int] = {}  # reader fd -> pid
        self.spares: list[_Spare] = []
        self.ending: list[_Ended] = []
        self.end_failures = 0
        self.next_end_attempt = 0.0
        self.next_beat = time.monotonic() + heartbeat_interval
        self.warmed: set[str] = set()
        self.stopping = False
        self.parent_gone = False

    # -- the loop ------------------------------------------------------------------

    def loop(self) -> None:
        while True:
            watch: list[Any] = [] if self.parent_gone else [self.conn]
            watch.extend(child.reader for child in self.children.values() if child.open)
            timeout = self._timeout()
            if watch:
                ready = wait(watch, timeout=timeout)
            else:
                time.sleep(timeout)
                ready = []
            runs: list[Workload] = []
            for item in ready:
                if isinstance(item, int):
                    self._read_child(item)
                else:
                    runs.extend(self._receive())
            if runs:
                self._start(runs)
            self._enforce_deadlines()
            self._reap()
            if self.ending and time.monotonic() >= self.next_end_attempt:
                self._record_ends()
            self._beat()
            if self.stopping:
                self._retire_spares()
                if not self.children and not self.ending:
                    return
            elif len(self.spares) < self.spares_wanted and not self.ending:
                self._fork_spare()  # one per turn, off the critical path

    def _timeout(self) -> float:
        now = time.monotonic()
        if not self.stopping and len(self.spares) < self.spares_wanted:
            return 0.0
        due = [now + 0.2, self.next_beat]
        if self.ending:
            due.append(self.next_end_attempt)
        due.extend(c.deadline for c in self.children.values() if c.deadline is not None)
        return max(0.0, min(due) - now)

    def send(self, *message: Any) -> None:
        if self.parent_gone:
            return
        try:
            self.conn.send(message)
        except (BrokenPipeError, OSError):  # the scheduler is gone: finish up and leave
            self.parent_gone = self.stopping = True

    def _receive(self) -> list[Workload]:
        """Every message waiting on the pipe; returns the tries to start."""
        runs: list[Workload] = []
        while True:
            try:
                kind, argument = self.conn.recv()
            except (EOFError, OSError):
                self.parent_gone = self.stopping = True
                return runs
            if kind == "run":
                runs.append(Workload.from_json(argument))
            elif kind == "cancel":
                self._cancel(argument)
            elif kind == "stop":
                self._stop(argument)
            if not self.conn.poll(0):
                return runs

    # -- starting tries ------------------------------------------------------------

    def _start(self, runs: list[Workload]) -> None:
        """Record the tries' start in one batch, then hand each to a spare fork."""
        if self.parent_gone or os.getppid() != self.parent:
            # The scheduler died: the tries stay queued, and the next scheduler queues
            # them again once this one's heartbeat is stale.
            self.parent_gone = self.stopping = True
            return
        while len(self.spares) < len(runs):
            self._fork_spare()
        chosen = self.spares[: len(runs)]
        try:
            started = self.worker.begin([(w, s.pid) for w, s in zip(runs, chosen, strict=True)])
        except Exception as exc:
            log.exception("could not record the start of %d tries", len(runs))
            for workload in runs:
                self.send("done", _key_json(workload), None, f"its start was not recorded: {exc}")
            return
        for workload, spare, payload in zip(runs, chosen, started, strict=True):
            key_json = _key_json(workload)
            if payload is None:
                self.send("done", key_json, ABANDONED, None)
                continue  # the spare waits for another try
            self.spares.remove(spare)
            deadline = None
            if workload.timeout_seconds:
                deadline = time.monotonic() + workload.timeout_seconds + self.kill_grace
            child = _Child(workload, key_json, spare.reader, deadline=deadline)
            self.children[spare.pid] = child
            self.by_reader[spare.reader] = spare.pid
            order = {"workload": workload.to_json(), "started": payload}
            try:
                _write_all(spare.orders, json.dumps(order).encode())
            except OSError:
                child.kill_reason = "the task's process died before the try began"
            finally:
                os.close(spare.orders)
            self.send("running", key_json, '{"notify":true}', f"pid {spare.pid}")

    def _fork_spare(self) -> None:
        orders_r, orders_w = os.pipe()
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(orders_w)
                os.close(reader)
                self.conn.close()
                for other in self.spares:
                    os.close(other.orders)  # else a spare's orders never end while we live
                    os.close(other.reader)
                _become_child(self.prctl, self.me)
                _spare_child(self.worker, orders_r, writer)
            finally:
                os._exit(1)
        os.close(orders_r)
        os.close(writer)
        os.set_blocking(reader, False)
        self.spares.append(_Spare(pid, orders_w, reader))

    def _retire_spares(self) -> None:
        """Spares forked before a DAG file was warmed would import it again: replace them."""
        while self.spares:
            spare = self.spares.pop()
            os.close(spare.orders)  # an empty order: the spare exits
            os.close(spare.reader)

    # -- running tries -------------------------------------------------------------

    def _cancel(self, key_json: str) -> None:
        for pid, child in self.children.items():
            if child.key_json == key_json:
                self._kill(pid, child, signal.SIGTERM, "cancelled")
                child.deadline = time.monotonic() + self.kill_grace

    def _stop(self, wait_for_children: bool) -> None:
        self.stopping = True
        if not wait_for_children:
            for pid, child in self.children.items():
                self._kill(pid, child, signal.SIGKILL, "the executor shut down")

    @staticmethod
    def _kill(pid: int, child: _Child, sig: int, reason: str) -> None:
        child.kill_reason = child.kill_reason or reason
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for pid, child in self.children.items():
            if child.deadline is not None and now > child.deadline:
                self._kill(pid, child, signal.SIGKILL, "killed: it overran its execution_timeout")
                child.deadline = None

    def _beat(self) -> None:
        now = time.monotonic()
        if now < self.next_beat:
            return
        self.next_beat = now + self.heartbeat_interval
        keys = [c.workload.key for c in self.children.values() if not c.workload.dag_callback]
        if keys:
            try:
                self.worker.heartbeat(keys)
            except Exception:  # a missed beat is retried at the next one
                log.warning("could not record the heartbeat of %d tries", len(keys), exc_info=True)

    # -- ending tries --------------------------------------------------------------

    def _read_child(self, reader: int) -> None:
        pid = self.by_reader[reader]
        child = self.children[pid]
        try:
            chunk = os.read(reader, 65536)
        except BlockingIOError:
            return
        if chunk:
            child.buffer.extend(chunk)
            return
        # The try closed its pipe: it is exiting now; reap it without a poll delay.
        child.open = False
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            return
        self._ended(pid, status)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.children:
                self._ended(pid, status)
                continue
            for spare in self.spares:  # a spare died before it was used
                if spare.pid == pid:
                    self.spares.remove(spare)
                    os.close(spare.orders)
                    os.close(spare.reader)
                    break

    def _ended(self, pid: int, status: int) -> None:
        child = self.children.pop(pid)
        del self.by_reader[child.reader]
        with contextlib.suppress(BlockingIOError):  # whatever is left in the pipe
            while chunk := os.read(child.reader, 65536):
                child.buffer.extend(chunk)
        os.close(child.reader)
        report: dict[str, Any] | None = None
        info: str | None = child.kill_reason or _describe_exit(status)
        if child.buffer:
            with contextlib.suppress(ValueError):
                report = json.loads(bytes(child.buffer))
        if report is not None and report.get("no_outcome"):
            info = str(report["no_outcome"])
        elif report is not None:
            info = child.kill_reason
        self.ending.append(_Ended(child, report, info))

    def _record_ends(self) -> None:
        """Record every ended try in one batch, then report them to the scheduler."""
        batch, now = self.ending, time.monotonic()
        try:
            reports: list[Any] = list(
                self.worker.end([(e.child.workload, e.report, e.info) for e in batch])
            )
        except Exception:
            log.warning("could not record the end of %d tries", len(batch), exc_info=True)
            if self.end_failures < len(END_RETRIES):
                self.next_end_attempt = now + END_RETRIES[self.end_failures]
                self.end_failures += 1
                return
            # The store keeps refusing: hand the tries to the scheduler as they are.
            reports = [e.report if e.report and e.report.get("state") else None for e in batch]
        self.ending, self.end_failures = [], 0
        for ended, report in zip(batch, reports, strict=True):
            child = ended.child
            self.send("done", child.key_json, json.dumps(report) if report else None, ended.info)
            produced = ended.report is not None and "state" in ended.report
            if produced and child.workload.dag_file not in self.warmed:
                self.warmed.add(child.workload.dag_file)
                _warm(self.worker, child.workload)
                self._retire_spares()


def _warm(worker: LocalWorker, workload: Workload) -> None:
    """Import the DAG file here so later forks start with it, within a time limit."""
    _limited(lambda: worker.warm(workload))
    gc.freeze()  # what is warm now stays out of the forks' collections


def _limited(warming: Callable[[], None]) -> None:
    """Run an optimisation within WARM_TIMEOUT seconds; it is never fatal."""

    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(WARM_TIMEOUT)
    try:
        warming()
    except BaseException:  # warming is an optimisation: never fatal
        pass
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
