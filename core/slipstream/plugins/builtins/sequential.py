"""The in-process executor, always available."""

from __future__ import annotations

from collections.abc import Iterator

from slipstream.executors.base import Executor, ExecutorContext
from slipstream.plugins import ExecutorSpec, hookimpl


def _make(context: ExecutorContext) -> Executor:
    from slipstream.executors.sequential import SequentialExecutor

    return SequentialExecutor.from_context(context)


@hookimpl
def slipstream_executors() -> Iterator[ExecutorSpec]:
    yield ExecutorSpec(
        name="sequential",
        factory=_make,
        description="One task try at a time, in the scheduler's process (tests, dags test).",
    )
