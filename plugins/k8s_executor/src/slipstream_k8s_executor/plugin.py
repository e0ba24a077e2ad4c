"""Hook implementations only; the Kubernetes client is imported when the executor is built."""

from __future__ import annotations

from collections.abc import Iterator

from slipstream.executors import Executor, ExecutorContext
from slipstream.plugins import ExecutorSpec, SettingSpec, hookimpl


def _make(context: ExecutorContext) -> Executor:
    from slipstream_k8s_executor.executor import KubernetesExecutor  # type: ignore[import-not-found]

    executor: Executor = KubernetesExecutor.from_context(context)
    return executor


@hookimpl
def slipstream_executors() -> Iterator[ExecutorSpec]:
    yield ExecutorSpec(
        name="kubernetes",
        factory=_make,
        description="Each task try runs in its own pod.",
        unavailable="the kubernetes executor is not implemented yet in "
        "slipstream-k8s-executor 0.1.0",
    )


@hookimpl
def slipstream_settings() -> Iterator[SettingSpec]:
    yield SettingSpec(
        section="kubernetes",
        key="namespace",
        default="default",
        description="Namespace the task pods run in.",
    )
    yield SettingSpec(
        section="kubernetes",
        key="worker_image",
        description="Container image of task pods (it must have slipstream and the DAGs).",
    )
