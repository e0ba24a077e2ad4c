"""The queue interface: where workloads wait between an executor and its workers.

A queue moves opaque messages (a workload's JSON) with at-least-once delivery:
``get`` hands out a lease; ``ack`` removes the message, ``nack`` (or an expired
lease) makes it visible again. Results and state never go through a queue: they
belong to the metadata store.
"""

from __future__ import annotations

from typing import ClassVar

import attrs


@attrs.frozen(kw_only=True)
class Lease:
    """A message handed to one consumer until it is acked, nacked or expires."""

    message_id: str
    body: str
    queue: str
    delivery_count: int = 1


@attrs.frozen(kw_only=True)
class QueueHealth:
    """What ``slipstream info`` and the API show about a queue."""

    healthy: bool
    detail: str = ""


class QueueBackend:
    """Base class for queue backends; one instance serves every named queue of one URL."""

    #: Does ``get`` wait for a message (True) or return at once (False, callers poll)?
    blocking_get: ClassVar[bool] = True
    #: Are higher priorities delivered first?
    priority: ClassVar[bool] = False

    def put(self, queue: str, body: str, *, priority: int = 0) -> str:
        """Enqueue ``body`` on ``queue``; returns the message id."""
        raise NotImplementedError

    def get(self, queue: str, *, timeout: float = 0.0) -> Lease | None:
        """Lease the next message, waiting up to ``timeout`` seconds; ``None`` if none came."""
        raise NotImplementedError

    def ack(self, lease: Lease) -> None:
        """The message was handled: forget it."""
        raise NotImplementedError

    def nack(self, lease: Lease, *, requeue: bool = True) -> None:
        """The message was not handled: make it visible again (or drop it)."""
        raise NotImplementedError

    def size(self, queue: str) -> int:
        """Messages waiting (not leased) on ``queue``."""
        raise NotImplementedError

    def purge(self, queue: str) -> int:
        """Drop every waiting message on ``queue``; returns how many."""
        raise NotImplementedError

    def health(self) -> QueueHealth:
        return QueueHealth(healthy=True)

    def close(self) -> None:
        """Release connections."""
