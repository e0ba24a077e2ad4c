"""Hook implementations only; the executor itself is imported when it is built."""

from __future__ import annotations

from collections.abc import Iterator

from slipstream.executors import Executor, ExecutorContext
from slipstream.plugins import ExecutorSpec, SettingSpec, hookimpl


def _make(context: ExecutorContext) -> Executor:
    from slipstream_local_executor.executor import LocalExecutor  # type: ignore[import-not-found]

    executor: Executor = LocalExecutor.from_context(context)
    return executor


@hookimpl
def slipstream_executors() -> Iterator[ExecutorSpec]:
    yield ExecutorSpec(
        name="local",
        factory=_make,
        description="core.parallelism task tries at once on this machine, each in its own "
        "process forked from a warm worker.",
        unavailable="the local executor is not implemented yet in slipstream-local-executor "
        '0.1.0; use executor = "sequential" meanwhile',
    )


@hookimpl
def slipstream_settings() -> Iterator[SettingSpec]:
    yield SettingSpec(
        section="local_executor",
        key="warm_workers",
        type="int",
        default=2,
        minimum=1,
        description="Warm processes that fork task tries (they have imported slipstream).",
    )
