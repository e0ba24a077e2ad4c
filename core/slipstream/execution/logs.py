"""Task logs: one file per try, readable while it runs.

``<base>/dag_id=<dag>/run_id=<run>/task_id=<task>[/map_index=<i>]/attempt=<n>.log``,
Airflow's layout. Everything the task logs or prints goes there.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from slipstream.errors import SlipstreamError
from slipstream.executors.base import TaskInstanceKey
from slipstream.state import TaskInstanceState

if TYPE_CHECKING:
    from slipstream.metadata.records import TaskInstanceRef

TASK_LOGGER = "slipstream.task"
#: The states in which a task instance's current try may still write to its log: a
#: sensor waiting to be rescheduled appends its next poke to the same file.
LOG_MAY_GROW = frozenset(
    {
        TaskInstanceState.QUEUED,
        TaskInstanceState.RUNNING,
        TaskInstanceState.RESTARTING,
        TaskInstanceState.UP_FOR_RESCHEDULE,
    }
)
FORMAT = "[%(asctime)s] {%(filename)s:%(lineno)d} %(levelname)s - %(message)s"


_FORMATTER = logging.Formatter(FORMAT)  # made once: formatters keep no state of a record


class TaskLogError(SlipstreamError):
    """The task log cannot be written (no space, no permission)."""


class _TaskLogHandler(logging.FileHandler):
    """A file handler that remembers a failed write instead of printing it to stderr."""

    error: OSError | None = None

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError) and self.error is None:
            self.error = exc


def log_path(base: str | Path, key: TaskInstanceKey) -> Path:
    return Path(log_file(base, key))


def log_file(base: str | Path, key: TaskInstanceKey) -> str:
    """``log_path`` as a string: what a worker needs, without pathlib's parsing."""
    mapped = f"/map_index={key.map_index}" if key.map_index >= 0 else ""
    return (
        f"{base}/dag_id={key.dag_id}/run_id={key.run_id}/task_id={key.task_id}{mapped}"
        f"/attempt={key.try_number}.log"
    )


def try_log_path(base: str | Path, ti: TaskInstanceRef, try_number: int) -> Path:
    """The log file of try ``try_number`` of the task instance ``ti``."""
    key = TaskInstanceKey(
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        map_index=ti.map_index,
        try_number=try_number,
    )
    return log_path(base, key)


class _LoggerStream(io.TextIOBase):
    """``print()`` inside a task becomes log lines."""

    def __init__(self, logger: logging.Logger, level: int) -> None:
        self._logger = logger
        self._level = level
        self._buffer = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            self._logger.log(self._level, "%s", line, stacklevel=2)
        return len(text)

    def flush(self) -> None:
        if self._buffer:
            self._logger.log(self._level, "%s", self._buffer)
            self._buffer = ""


@contextlib.contextmanager
def task_log(
    path: str | Path, *, echo: bool = False, capture_output: bool = True
) -> Iterator[str | Path]:
    """Send the task logger (and, with ``capture_output``, stdout/stderr) to ``path``."""
    try:
        try:  # the local executor's zygote made the folder already
            handler = _TaskLogHandler(path, encoding="utf-8", delay=False)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            handler = _TaskLogHandler(path, encoding="utf-8", delay=False)
    except OSError as exc:
        raise TaskLogError(f"cannot write the task log {path}: {exc}") from exc
    try:
        with capture_task_log(handler, echo=echo, capture_output=capture_output):
            yield path
    finally:
        try:
            handler.close()
        except OSError as exc:
            handler.error = handler.error or exc
    if handler.error is not None:
        raise TaskLogError(f"cannot write the task log {path}: {handler.error}")


@contextlib.contextmanager
def capture_task_log(
    handler: logging.Handler, *, echo: bool = False, capture_output: bool = True
) -> Iterator[None]:
    """Send the task logger (and, with ``capture_output``, stdout/stderr) to ``handler``,
    formatted as task logs are: a file here, the task-execution API for remote workers."""
    handler.setFormatter(_FORMATTER)
    logger = logging.getLogger(TASK_LOGGER)
    previous_level, previous_propagate = logger.level, logger.propagate
    if previous_level != logging.INFO:  # setLevel touches every logger (a cache clear)
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    console: logging.Handler | None = None
    if echo:
        console = logging.StreamHandler(sys.__stdout__)
        console.setFormatter(_FORMATTER)
        logger.addHandler(console)
    logger.propagate = False
    redirect = contextlib.ExitStack()
    if capture_output:
        redirect.enter_context(contextlib.redirect_stdout(_LoggerStream(logger, logging.INFO)))
        redirect.enter_context(contextlib.redirect_stderr(_LoggerStream(logger, logging.WARNING)))
    try:
        with redirect:
            yield
    finally:
        logger.removeHandler(handler)
        if console is not None:
            logger.removeHandler(console)
        if previous_level != logging.INFO:
            logger.setLevel(previous_level)
        logger.propagate = previous_propagate


LOG_CHUNK_BYTES = 256 * 1024


def read_log_chunk(
    path: Path, offset: int = 0, limit: int | None = LOG_CHUNK_BYTES, *, whole_lines: bool = False
) -> tuple[str, int]:
    """Up to ``limit`` bytes (``None``: all there is) of a task log from byte ``offset``,
    as text, and the offset to read from next (for tailing a running try): what the UI
    and the REST API's logs route read. A missing file reads as empty (other errors
    raise ``OSError``). What is cut short is left for the next read: a UTF-8 character,
    and with ``whole_lines`` (a try still writing) an unterminated last line."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, offset))
            data = handle.read(limit)
    except FileNotFoundError:
        return "", offset
    if whole_lines and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
    # Do not split a multi-byte character (cut by the limit, or being written): stop
    # before an incomplete one.
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # the lead byte of the last character
            needed = 1 if byte < 0x80 else 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            if needed > back:
                data = data[:-back]
            break
    return data.decode("utf-8", errors="replace"), max(0, offset) + len(data)
