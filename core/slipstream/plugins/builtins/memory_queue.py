"""The in-process ``memory://`` queue."""

from __future__ import annotations

from collections.abc import Iterator

from slipstream.plugins import QueueBackendSpec, hookimpl
from slipstream.queues.base import QueueBackend


def _make(url: str) -> QueueBackend:
    from slipstream.queues.memory import MemoryQueue

    return MemoryQueue(url)


@hookimpl
def slipstream_queue_backends() -> Iterator[QueueBackendSpec]:
    yield QueueBackendSpec(
        schemes=("memory",),
        factory=_make,
        description="In-process queue: one machine, nothing survives a restart.",
    )
