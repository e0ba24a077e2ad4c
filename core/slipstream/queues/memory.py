"""``memory://``: an in-process queue, for the local executor, tests and embedding."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
import uuid

from slipstream.queues.base import Lease, QueueBackend, QueueHealth


class MemoryQueue(QueueBackend):
    """Thread-safe; higher ``priority`` first, then first in, first out."""

    blocking_get = True
    priority = True

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._cond = threading.Condition()
        self._heaps: dict[str, list[tuple[int, int, str, str, int]]] = {}
        self._leased: dict[str, tuple[str, str, int, int]] = {}
        self._order = itertools.count()

    def put(self, queue: str, body: str, *, priority: int = 0) -> str:
        message_id = uuid.uuid4().hex
        self._push(queue, message_id, body, priority, deliveries=0)
        return message_id

    def _push(self, queue: str, message_id: str, body: str, priority: int, deliveries: int) -> None:
        with self._cond:
            heap = self._heaps.setdefault(queue, [])
            heapq.heappush(heap, (-priority, next(self._order), message_id, body, deliveries))
            self._cond.notify()

    def get(self, queue: str, *, timeout: float = 0.0) -> Lease | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._heaps.get(queue):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            neg_priority, _, message_id, body, deliveries = heapq.heappop(self._heaps[queue])
            self._leased[message_id] = (queue, body, -neg_priority, deliveries + 1)
            return Lease(
                message_id=message_id, body=body, queue=queue, delivery_count=deliveries + 1
            )

    def ack(self, lease: Lease) -> None:
        with self._cond:
            self._leased.pop(lease.message_id, None)

    def nack(self, lease: Lease, *, requeue: bool = True) -> None:
        with self._cond:
            held = self._leased.pop(lease.message_id, None)
        if held is not None and requeue:
            queue, body, priority, deliveries = held
            self._push(queue, lease.message_id, body, priority, deliveries)

    def size(self, queue: str) -> int:
        with self._cond:
            return len(self._heaps.get(queue, ()))

    def purge(self, queue: str) -> int:
        with self._cond:
            dropped = len(self._heaps.pop(queue, ()))
        return dropped

    def health(self) -> QueueHealth:
        with self._cond:
            waiting = sum(len(h) for h in self._heaps.values())
        return QueueHealth(healthy=True, detail=f"{waiting} waiting, {len(self._leased)} leased")
