"""Executors: the interface plugins implement, and the core's in-process one."""

from slipstream.executors.base import (
    Executor,
    ExecutorContext,
    ExecutorEvent,
    LocalWorker,
    TaskInstanceKey,
    Workload,
)

__all__ = [
    "Executor",
    "ExecutorContext",
    "ExecutorEvent",
    "LocalWorker",
    "TaskInstanceKey",
    "Workload",
]
