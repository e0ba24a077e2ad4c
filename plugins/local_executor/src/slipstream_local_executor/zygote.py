"""The warm process every task try is forked from.

Protocol on the pipe to the executor (pickled tuples):
  executor -> zygote: ("run", workload_json) | ("cancel", key_json) | ("stop", wait)
                    | ("ack", seq)
  zygote -> executor: ("running", key_json, report_json, info, seq)
                    | ("done", key_json, report_json | None, info, seq)

Who records a try in the store:
- A workload that carries ``try_info`` (the scheduler's snapshot of the try and its
  run) is recorded by the scheduler: the zygote hands it to a spare fork at once
  and reports ``running`` (with the fork's pid, ``record: true``) and ``done``
  (the fork's report, or None when it died without one). The executor acknowledges
  events (``ack``) once the scheduler has taken them. Until then the zygote keeps
  them: if the scheduler dies, or the executor stops, the zygote records every
  unacknowledged start and end itself (compare-and-set writes make a repeat
  harmless), so no try's outcome is lost and none runs twice.
- A workload without ``try_info`` is recorded here, in batches, through
  ``LocalWorker.begin`` and ``end``; its "done" report says ``recorded``.
The zygote heartbeats every running try (one batch per interval) either way, so a
try stays alive in the store while the scheduler is busy, stopped or gone. A fork
only runs its task; it connects to the store only if the task needs it.
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
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection, wait
from typing import Any

import attrs

from slipstream.executors import LocalWorker, Workload

log = logging.getLogger(__name__)

WARM_TIMEOUT = 30
#: Seconds between attempts to record tries while the store refuses; after the last,
#: ends are handed to the scheduler as they are.
RETRIES = (0.2, 0.5, 1.0, 2.0, 4.0)
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
    pid: int
    workload: Workload
    key_json: str
    reader: int
    recorded_here: bool  # the zygote recorded its start (no try_info)
    buffer: bytearray = attrs.field(factory=bytearray)
    deadline: float | None = None
    kill_reason: str | None = None
    open: bool = True
    running_seq: int = 0  # the "running" event that asks the scheduler to record it


@attrs.define
class _Ended:
    """A try whose process exited."""

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
        # Without the zygote nobody watches this try: die with it, and the
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
        # Two JSON texts, a line each (JSON text holds no raw newline): the workload
        # as the scheduler sent it, and what the try's start recorded.
        workload_json, started = b"".join(chunks).decode().split("\n", 1)
        workload = Workload.from_json(workload_json)
        payload = json.dumps(worker.execute(workload, started)).encode()
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

    When the scheduler dies, the pipe ends: the zygote starts nothing more, records
    what the scheduler had not, lets running tries finish, records them, and exits.
    """
    executor_end.close()  # else the pipe never ends, even when the scheduler dies
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the scheduler's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _limited(worker.warm_up)
    gc.freeze()  # the inherited heap stays out of collections here and in every fork
    _huge_pages()
    _Zygote(conn, worker, kill_grace, heartbeat_interval, spares).loop()
    os._exit(0)


MADV_HUGEPAGE = 14
MADV_COLLAPSE = 25  # Linux 6.1+
HUGE = 1 << 21


def _huge_pages() -> None:
    """Back this process's heap with 2 MiB pages where the kernel can (Linux 6.1+):
    a fork then copies one page-table entry per 2 MiB instead of 512, and its exit
    tears down as few. Pages a fork writes are still copied 4 KiB at a time. An
    optimisation: any failure leaves things as they were."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        madvise = libc.madvise
        madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        with open("/proc/self/maps") as maps:
            regions = maps.read().splitlines()
    except (OSError, AttributeError):
        return
    for region in regions:
        fields = region.split()
        if len(fields) > 5 and fields[5] != "[heap]":
            continue  # a file, the stack, ...: anonymous memory and the heap only
        if not fields[1].startswith("rw"):
            continue
        low, high = (int(x, 16) for x in fields[0].split("-"))
        low, high = (low + HUGE - 1) & ~(HUGE - 1), high & ~(HUGE - 1)
        if high > low and madvise(low, high - low, MADV_HUGEPAGE) == 0:
            madvise(low, high - low, MADV_COLLAPSE)


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
        self.ending: list[_Ended] = []  # exited; to report (and maybe record)
        self.reported: dict[int, _Ended] = {}  # seq -> reported for the scheduler to record
        self.seq = 0  # of the last event sent
        self.acked = 0  # events up to this one are the scheduler's
        self.taken_over = False  # the zygote records everything from now on
        self.failures = 0
        self.next_attempt = 0.0
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
            runs: list[tuple[Workload, str]] = []
            for item in ready:
                if isinstance(item, int):
                    self._read_child(item)
                else:
                    runs.extend(self._receive())
            if runs:
                self._start(runs)
            self._enforce_deadlines()
            self._reap()
            due = time.monotonic() >= self.next_attempt
            if (self.stopping or self.parent_gone) and not self.taken_over and due:
                self._take_over()
            if self.ending and due:
                self._end()
            self._beat()
            if self.stopping:
                self._retire_spares()
                if not self.children and not self.ending and self.taken_over:
                    return
            elif len(self.spares) < self.spares_wanted and not self.ending:
                # Off the critical path, and all at once: the pages this process
                # writes next are copied once for the batch, not once per fork.
                while len(self.spares) < self.spares_wanted and not self.conn.poll(0):
                    self._fork_spare()

    def _timeout(self) -> float:
        now = time.monotonic()
        if not self.stopping and len(self.spares) < self.spares_wanted:
            return 0.0
        due = [now + 0.2, self.next_beat]
        if self.ending or (self.stopping and not self.taken_over):
            due.append(self.next_attempt)
        due.extend(c.deadline for c in self.children.values() if c.deadline is not None)
        return max(0.0, min(due) - now)

    def send(self, *message: Any) -> int:
        """Send an event; returns its sequence number (0 when nobody listens)."""
        if self.parent_gone:
            return 0
        self.seq += 1
        try:
            self.conn.send((*message, self.seq))
        except (BrokenPipeError, OSError):  # the scheduler is gone: finish up and leave
            self.parent_gone = self.stopping = True
            return 0
        return self.seq

    def _receive(self) -> list[tuple[Workload, str]]:
        """Every message waiting on the pipe; returns the tries to start (each with the
        JSON it came as, which its fork gets as it is)."""
        runs: list[tuple[Workload, str]] = []
        while True:
            try:
                kind, argument = self.conn.recv()
            except (EOFError, OSError):
                self.parent_gone = self.stopping = True
                return runs
            if kind == "run":
                runs.append((Workload.from_json(argument), argument))
            elif kind == "ack":
                self._ack(argument)
            elif kind == "cancel":
                self._cancel(argument)
            elif kind == "stop":
                self._stop(argument)
            if not self.conn.poll(0):
                return runs

    def _ack(self, seq: int) -> None:
        """The scheduler took every event up to ``seq``: their starts and ends are its."""
        self.acked = max(self.acked, seq)
        for done in [s for s in self.reported if s <= self.acked]:
            del self.reported[done]

    # -- starting tries ------------------------------------------------------------

    def _start(self, orders: list[tuple[Workload, str]]) -> None:
        """Hand each try to a spare fork; tries the scheduler does not record get their
        start recorded here first, in one batch."""
        if self.parent_gone or os.getppid() != self.parent:
            # The scheduler died: the tries stay queued, and the next scheduler queues
            # them again once this one's heartbeat is stale.
            self.parent_gone = self.stopping = True
            return
        runs = [workload for workload, _ in orders]
        while len(self.spares) < len(runs):
            self._fork_spare()
        chosen = self.spares[: len(runs)]
        started: list[str | None] = [w.try_info for w in runs]
        skip: set[int] = set()
        here = [i for i, w in enumerate(runs) if w.try_info is None]
        if here:
            failure: str | None = None
            try:
                begun = self.worker.begin([(runs[i], chosen[i].pid) for i in here])
            except Exception as exc:
                log.exception("could not record the start of %d tries", len(here))
                begun, failure = [None] * len(here), f"its start was not recorded: {exc}"
            for i, payload in zip(here, begun, strict=True):
                started[i] = payload
                if payload is None:  # not run: the spare waits for another try
                    skip.add(i)
                    report = None if failure else ABANDONED
                    self.send("done", _key_json(runs[i]), report, failure)
        for i, (workload, spare) in enumerate(zip(runs, chosen, strict=True)):
            if i in skip:
                continue
            self.spares.remove(spare)
            deadline = None
            if workload.timeout_seconds:
                deadline = time.monotonic() + workload.timeout_seconds + self.kill_grace
            child = _Child(
                spare.pid,
                workload,
                _key_json(workload),
                spare.reader,
                recorded_here=workload.try_info is None,
                deadline=deadline,
            )
            self.children[spare.pid] = child
            self.by_reader[spare.reader] = spare.pid
            with contextlib.suppress(Exception):  # an optimisation: the try meets any problem
                self.worker.prepare(workload)
            order = f"{orders[i][1]}\n{started[i] or ''}"
            try:
                _write_all(spare.orders, order.encode())
            except OSError:
                child.kill_reason = "the task's process died before the try began"
            finally:
                os.close(spare.orders)
            if child.recorded_here:
                self.send("running", child.key_json, '{"notify":true}', f"pid {spare.pid}")
            else:
                report = json.dumps({"record": True, "pid": spare.pid})
                child.running_seq = self.send("running", child.key_json, report, None)

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

    def _end(self) -> None:
        """Report ended tries: the scheduler records those it started recording; the
        rest (and everything once the zygote took over) are recorded here, in one
        batch, first."""
        batch = self.ending
        mine = [e for e in batch if self.taken_over or e.child.recorded_here]
        reports: dict[int, Mapping[str, Any] | None] = {}
        if mine:
            try:
                recorded = self.worker.end([(e.child.workload, e.report, e.info) for e in mine])
            except Exception:
                log.warning("could not record the end of %d tries", len(mine), exc_info=True)
                if self._retry_later():
                    return
                # The store keeps refusing: hand the tries to the scheduler as they are.
                recorded = [_outcome(e) or {} for e in mine]
            reports = {id(e): r or None for e, r in zip(mine, recorded, strict=True)}
        self.ending, self.failures = [], 0
        for ended in batch:
            child = ended.child
            # Recorded here, or the fork's own report for the scheduler to record.
            report = reports[id(ended)] if id(ended) in reports else _outcome(ended)
            text = json.dumps(report) if report else None
            seq = self.send("done", child.key_json, text, ended.info)
            if not (self.taken_over or child.recorded_here):
                if seq:
                    self.reported[seq] = ended
                else:  # the scheduler is gone: the end is ours to record after all
                    self.ending.append(ended)
            produced = ended.report is not None and "state" in ended.report
            if produced and child.workload.dag_file not in self.warmed:
                self.warmed.add(child.workload.dag_file)
                _warm(self.worker, child.workload)
                self._retire_spares()

    def _retry_later(self) -> bool:
        """After a failed write: wait before the next attempt; False once out of tries."""
        if self.failures < len(RETRIES):
            self.next_attempt = time.monotonic() + RETRIES[self.failures]
            self.failures += 1
            return True
        self.failures = 0
        return False

    def _take_over(self) -> None:
        """The scheduler is gone or the executor stops: from now on the zygote records
        every try — first the starts and ends the scheduler was sent but never took."""
        unacked = [c for c in self.children.values() if not c.recorded_here]
        unacked += [e.child for e in [*self.ending, *self.reported.values()]]
        unacked = [c for c in unacked if not c.recorded_here]
        starts = [(c.workload, c.pid) for c in unacked if c.running_seq > self.acked]
        try:
            if starts:
                self.worker.begin(starts)  # compare-and-set: no-ops for recorded ones
            self.worker.adopt([c.workload.key for c in unacked])
        except Exception:
            log.warning("could not take over %d tries", len(unacked), exc_info=True)
            if self._retry_later():
                return
        self.taken_over, self.failures = True, 0
        self.ending.extend(self.reported.values())
        self.reported.clear()


def _outcome(ended: _Ended) -> dict[str, Any] | None:
    """The fork's report when it holds an outcome; None when it ended without one."""
    report = ended.report
    return report if report is not None and report.get("state") else None


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
