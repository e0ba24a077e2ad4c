"""Helpers for testing DAGs and plugins: in-memory stand-ins for shared state."""

from slipstream.testing.memory_client import MemoryDagRun, MemoryTaskClient, TriggerRequest

__all__ = ["MemoryDagRun", "MemoryTaskClient", "TriggerRequest"]
