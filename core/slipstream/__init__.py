"""slipstream: workflows as Python DAGs, scheduled, run and watched.

``from slipstream import DAG, dag, task, ...`` — the names DAG files use. They
load on first use, so the CLI and the scheduler start without the authoring API.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from slipstream.version import __version__

if TYPE_CHECKING:
    from slipstream.decorators import task
    from slipstream.execution.context import get_current_context
    from slipstream.models.connection import Connection
    from slipstream.models.dag import DAG, dag
    from slipstream.models.dependencies import chain, cross_downstream
    from slipstream.models.param import Param
    from slipstream.models.taskgroup import TaskGroup
    from slipstream.models.variable import Variable
    from slipstream.trigger_rule import TriggerRule

_EXPORTS = {
    "DAG": "slipstream.models.dag",
    "dag": "slipstream.models.dag",
    "task": "slipstream.decorators",
    "TaskGroup": "slipstream.models.taskgroup",
    "Param": "slipstream.models.param",
    "Variable": "slipstream.models.variable",
    "Connection": "slipstream.models.connection",
    "TriggerRule": "slipstream.trigger_rule",
    "chain": "slipstream.models.dependencies",
    "cross_downstream": "slipstream.models.dependencies",
    "get_current_context": "slipstream.execution.context",
}

__all__ = [
    "DAG",
    "Connection",
    "Param",
    "TaskGroup",
    "TriggerRule",
    "Variable",
    "__version__",
    "chain",
    "cross_downstream",
    "dag",
    "get_current_context",
    "task",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'slipstream' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
