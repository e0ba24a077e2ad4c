"""``get_current_context()``: the running task's context, from anywhere in its code."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_context: ContextVar[Mapping[str, Any] | None] = ContextVar("slipstream_context", default=None)


def get_current_context() -> Mapping[str, Any]:
    """The context of the task running now; an error outside a running task."""
    context = _context.get()
    if context is None:
        raise RuntimeError(
            "get_current_context() works only while a task runs (inside execute or a @task)"
        )
    return context


@contextmanager
def set_current_context(context: Mapping[str, Any]) -> Iterator[None]:
    token = _context.set(context)
    try:
        yield
    finally:
        _context.reset(token)
