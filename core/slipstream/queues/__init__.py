"""Queues: the interface plugins implement, and the core's in-memory one."""

from slipstream.queues.base import Lease, QueueBackend, QueueHealth

__all__ = ["Lease", "QueueBackend", "QueueHealth"]
