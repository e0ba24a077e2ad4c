"""Hook implementations only; the executor itself is imported when it is built."""

from __future__ import annotations

from collections.abc import Iterator

from slipstream.executors import Executor, ExecutorContext
from slipstream.plugins import ExecutorSpec, hookimpl


def _make(context: ExecutorContext) -> Executor:
    from slipstream_local_executor.executor import LocalExecutor

    return LocalExecutor.from_context(context)


@hookimpl
def slipstream_executors() -> Iterator[ExecutorSpec]:
    yield ExecutorSpec(
        name="local",
        factory=_make,
        description="core.parallelism task tries at once on this machine, each in its own "
        "process forked from a warm worker.",
    )
