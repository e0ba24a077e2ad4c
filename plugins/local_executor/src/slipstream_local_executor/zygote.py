"""The warm process every task try is forked from.

Protocol on the pipe to the executor (pickled tuples):
  executor -> zygote: ("run", workload_json) | ("cancel", key_json) | ("stop", wait)
  zygote -> executor: ("running", key_json, None, info) | ("done", key_json, outcome_json, info)

A "done" without an outcome means the try's process ended without reporting
(crash, ``os._exit``, killed): the executor reports it failed with ``info``.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

import attrs

from slipstream.executors import LocalWorker, Workload

WARM_TIMEOUT = 30


@attrs.define
class _Child:
    workload: Workload
    key_json: str
    reader: int
    buffer: bytearray = attrs.field(factory=bytearray)
    deadline: float | None = None
    kill_reason: str | None = None
    open: bool = True


def _key_json(workload: Workload) -> str:
    key = workload.key
    return json.dumps(
        [key.dag_id, key.run_id, key.task_id, key.map_index, key.try_number],
        separators=(",", ":"),
    )


def _become_child() -> None:
    gc.disable()  # a short-lived fork: collecting would only copy the parent's pages
    os.setsid()  # the try and whatever it starts form one group we can kill
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _spare_child(worker: LocalWorker, orders: int, writer: int) -> None:
    """A fork made ahead of time: get ready (connect to the store), then wait for the
    one workload it will run. An empty order means it is not needed: exit."""
    _become_child()
    prepare = getattr(worker, "prepare", None)
    if prepare is not None:
        with contextlib.suppress(Exception):  # the try itself will meet any problem
            prepare()
    chunks = []
    while chunk := os.read(orders, 65536):
        chunks.append(chunk)
    os.close(orders)
    if not chunks:
        os._exit(0)
    _run_child(worker, Workload.from_json(b"".join(chunks).decode()), writer, forked=True)


def _run_child(worker: LocalWorker, workload: Workload, writer: int, forked: bool = False) -> None:
    """In the forked child: run the try, write its outcome, exit without cleanup."""
    code = 0
    try:
        if not forked:
            _become_child()
        payload = json.dumps(worker.run(workload)).encode()
    except BaseException as exc:
        payload = json.dumps({"runner_error": f"{type(exc).__name__}: {exc}"}).encode()
        code = 1
    try:
        view = memoryview(payload)
        while view:
            written = os.write(writer, view)
            view = view[written:]
    finally:
        os._exit(code)


def _describe_exit(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        return f"the task's process was killed by signal {number} ({signal.Signals(number).name})"
    return f"the task's process exited with code {os.WEXITSTATUS(status)} without reporting"


def serve(
    conn: Connection, executor_end: Connection, worker: LocalWorker, kill_grace: float
) -> None:
    """The zygote's loop; runs until told to stop and its children are done.

    When the scheduler dies, the pipe ends: the zygote lets running tries finish
    (they record themselves) and exits.
    """
    executor_end.close()  # else the pipe never ends, even when the scheduler dies
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the scheduler's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    children: dict[int, _Child] = {}
    finished: dict[int, int] = {}  # reaped already, not yet reported: pid -> wait status
    warmed: set[str] = set()
    stopping = False
    parent_gone = False

    def send(*message: Any) -> None:
        nonlocal parent_gone, stopping
        if parent_gone:
            return
        try:
            conn.send(message)
        except (BrokenPipeError, OSError):  # the scheduler is gone: finish up and leave
            parent_gone, stopping = True, True

    def kill(pid: int, child: _Child, sig: int, reason: str) -> None:
        child.kill_reason = child.kill_reason or reason
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)

    handlers: dict[str, Callable[[Any], None]] = {}

    spares: list[tuple[int, int, int]] = []  # (pid, orders pipe, outcome pipe), ready to run

    def fork_spare() -> None:
        orders_r, orders_w = os.pipe()
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(orders_w)
            os.close(reader)
            conn.close()
            for _, other_orders, other_reader in spares:
                os.close(other_orders)
                os.close(other_reader)
            _spare_child(worker, orders_r, writer)
        os.close(orders_r)
        os.close(writer)
        spares.append((pid, orders_w, reader))

    def retire_spares() -> None:
        """Spares forked before a DAG file was warmed would import it again: replace them."""
        while spares:
            _, orders, reader = spares.pop()
            os.close(orders)  # an empty order: the spare exits
            os.close(reader)

    def on_run(workload_json: str) -> None:
        workload = Workload.from_json(workload_json)
        if spares:
            pid, orders, reader = spares.pop(0)
            os.write(orders, workload_json.encode())
            os.close(orders)
        else:
            reader, writer = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(reader)
                conn.close()
                for _, other_orders, other_reader in spares:
                    os.close(other_orders)  # else a spare's orders never end while we live
                    os.close(other_reader)
                _run_child(worker, workload, writer)
            os.close(writer)
        deadline = None
        if workload.timeout_seconds:
            deadline = time.monotonic() + workload.timeout_seconds + kill_grace
        children[pid] = _Child(workload, _key_json(workload), reader, deadline=deadline)
        send("running", children[pid].key_json, None, f"pid {pid}")
        if not spares and not stopping:
            fork_spare()  # off the critical path: the next try starts without a fork

    def on_cancel(key_json: str) -> None:
        for pid, child in children.items():
            if child.key_json == key_json:
                kill(pid, child, signal.SIGTERM, "cancelled")
                child.deadline = time.monotonic() + kill_grace

    def on_stop(wait_for_children: bool) -> None:
        nonlocal stopping
        stopping = True
        if not wait_for_children:
            for pid, child in children.items():
                kill(pid, child, signal.SIGKILL, "the executor shut down")

    handlers.update(run=on_run, cancel=on_cancel, stop=on_stop)

    while True:
        readers = [child.reader for child in children.values() if child.open]
        watch: list[Any] = [*readers] if parent_gone else [conn, *readers]
        if not watch:  # parent gone and no child left to read: just reap below
            time.sleep(0.2)
        ready = wait(watch, timeout=0.2) if watch else []
        for item in ready:
            if item is conn:
                try:
                    kind, argument = conn.recv()
                except (EOFError, OSError):
                    parent_gone, stopping = True, True
                    continue
                handlers[kind](argument)
            else:
                pid, child = next((p, c) for p, c in children.items() if c.reader == item)
                chunk = os.read(child.reader, 65536)
                if chunk:
                    child.buffer.extend(chunk)
                else:  # the try closed its pipe: it is exiting now; reap it without a poll delay
                    child.open = False
                    _, status = os.waitpid(pid, 0)
                    finished[pid] = status
        now = time.monotonic()
        for pid, child in list(children.items()):
            if child.deadline is not None and now > child.deadline:
                kill(pid, child, signal.SIGKILL, "killed: it overran its execution_timeout")
                child.deadline = None
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                pid, status = 0, 0
            if pid == 0 and not finished:
                break
            if pid == 0:
                pid, status = finished.popitem()
            finished.pop(pid, None)
            if pid not in children:
                continue
            child = children.pop(pid)
            while True:  # whatever is left in the pipe
                chunk = os.read(child.reader, 65536)
                if not chunk:
                    break
                child.buffer.extend(chunk)
            os.close(child.reader)
            outcome: str | None = None
            info: str | None = child.kill_reason or _describe_exit(status)
            if child.buffer:
                data = json.loads(bytes(child.buffer))
                if "runner_error" in data:
                    info = f"runner error: {data['runner_error']}"
                else:
                    outcome = json.dumps(data)
                    info = None
            send("done", child.key_json, outcome, info)
            if outcome is not None and child.workload.dag_file not in warmed:
                warmed.add(child.workload.dag_file)
                _warm(worker, child.workload)
                retire_spares()
        if stopping:
            retire_spares()
        if stopping and not children:
            break
    os._exit(0)


def _warm(worker: LocalWorker, workload: Workload) -> None:
    """Import the DAG file here so later forks start with it, within a time limit."""

    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(WARM_TIMEOUT)
    try:
        worker.warm(workload)
    except BaseException:  # warming is an optimisation: never fatal
        pass
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    gc.freeze()  # what is warm now stays out of the forks' collections
