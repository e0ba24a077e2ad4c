"""Task logs: one file per try, readable while it runs.

``<base>/dag_id=<dag>/run_id=<run>/task_id=<task>[/map_index=<i>]/attempt=<n>.log``,
Airflow's layout. Everything the task logs or prints goes there.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from slipstream.errors import SlipstreamError

if TYPE_CHECKING:
    from slipstream.executors.base import TaskInstanceKey

TASK_LOGGER = "slipstream.task"
FORMAT = "[%(asctime)s] {%(filename)s:%(lineno)d} %(levelname)s - %(message)s"


class TaskLogError(SlipstreamError):
    """The task log cannot be written (no space, no permission)."""


class _TaskLogHandler(logging.FileHandler):
    """A file handler that remembers a failed write instead of printing it to stderr."""

    error: OSError | None = None

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError) and self.error is None:
            self.error = exc


def log_path(base: Path, key: TaskInstanceKey) -> Path:
    folder = base / f"dag_id={key.dag_id}" / f"run_id={key.run_id}" / f"task_id={key.task_id}"
    if key.map_index >= 0:
        folder = folder / f"map_index={key.map_index}"
    return folder / f"attempt={key.try_number}.log"


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
def task_log(path: Path, *, echo: bool = False, capture_output: bool = True) -> Iterator[Path]:
    """Send the task logger (and, with ``capture_output``, stdout/stderr) to ``path``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = _TaskLogHandler(path, encoding="utf-8", delay=False)
    except OSError as exc:
        raise TaskLogError(f"cannot write the task log {path}: {exc}") from exc
    handler.setFormatter(logging.Formatter(FORMAT))
    logger = logging.getLogger(TASK_LOGGER)
    previous_level, previous_propagate = logger.level, logger.propagate
    if previous_level != logging.INFO:  # setLevel touches every logger (a cache clear)
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    console: logging.Handler | None = None
    if echo:
        console = logging.StreamHandler(sys.__stdout__)
        console.setFormatter(logging.Formatter(FORMAT))
        logger.addHandler(console)
    logger.propagate = False
    redirect = contextlib.ExitStack()
    if capture_output:
        redirect.enter_context(contextlib.redirect_stdout(_LoggerStream(logger, logging.INFO)))
        redirect.enter_context(contextlib.redirect_stderr(_LoggerStream(logger, logging.WARNING)))
    try:
        with redirect:
            yield path
    finally:
        logger.removeHandler(handler)
        try:
            handler.close()
        except OSError as exc:
            handler.error = handler.error or exc
        if console is not None:
            logger.removeHandler(console)
        if previous_level != logging.INFO:
            logger.setLevel(previous_level)
        logger.propagate = previous_propagate
    if handler.error is not None:
        raise TaskLogError(f"cannot write the task log {path}: {handler.error}")
