"""Hook implementations only; celery and kombu are imported when something is built."""

from __future__ import annotations

from collections.abc import Iterator

from slipstream.executors import Executor, ExecutorContext
from slipstream.plugins import ExecutorSpec, QueueBackendSpec, SettingSpec, hookimpl
from slipstream.queues import QueueBackend

_NOT_YET = "not implemented yet in slipstream-celery-executor 0.1.0"


def _make_executor(context: ExecutorContext) -> Executor:
    from slipstream_celery_executor.executor import CeleryExecutor  # type: ignore[import-not-found]

    executor: Executor = CeleryExecutor.from_context(context)
    return executor


def _make_queue(url: str) -> QueueBackend:
    from slipstream_celery_executor.queues import KombuQueue  # type: ignore[import-not-found]

    queue: QueueBackend = KombuQueue(url)
    return queue


@hookimpl
def slipstream_executors() -> Iterator[ExecutorSpec]:
    yield ExecutorSpec(
        name="celery",
        factory=_make_executor,
        description="Task tries run on Celery workers; the broker is [core] queue.",
        unavailable=f"the celery executor is {_NOT_YET}",
    )


@hookimpl
def slipstream_queue_backends() -> Iterator[QueueBackendSpec]:
    yield QueueBackendSpec(
        schemes=("redis",),
        factory=_make_queue,
        description="Redis, as Celery's broker.",
        unavailable=f"the redis queue is {_NOT_YET}",
    )
    yield QueueBackendSpec(
        schemes=("amqp",),
        factory=_make_queue,
        description="RabbitMQ (AMQP 0-9-1), as Celery's broker.",
        unavailable=f"the amqp queue is {_NOT_YET}",
    )


@hookimpl
def slipstream_settings() -> Iterator[SettingSpec]:
    yield SettingSpec(
        section="celery",
        key="worker_concurrency",
        type="int",
        default=4,
        minimum=1,
        description="Task tries one `slipstream celery worker` runs at once.",
    )
    yield SettingSpec(
        section="celery",
        key="api_url",
        description="Where Celery workers reach the task-execution API "
        "(default: the [api] host and port).",
    )
