"""The authoring model: DAGs, operators, task groups, params, Variables, Connections.

Custom operators subclass ``slipstream.models.BaseOperator``. Names load on
first use so that importing one submodule does not import them all.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slipstream.dag_processing.bag import DagBag
    from slipstream.models.baseoperator import BaseOperator
    from slipstream.models.connection import Connection
    from slipstream.models.dag import DAG
    from slipstream.models.mappedoperator import MappedOperator
    from slipstream.models.param import Param
    from slipstream.models.taskgroup import TaskGroup
    from slipstream.models.variable import Variable
    from slipstream.models.xcom_arg import XComArg

_EXPORTS = {
    "BaseOperator": "slipstream.models.baseoperator",
    "Connection": "slipstream.models.connection",
    "DagBag": "slipstream.dag_processing.bag",
    "DAG": "slipstream.models.dag",
    "MappedOperator": "slipstream.models.mappedoperator",
    "Param": "slipstream.models.param",
    "TaskGroup": "slipstream.models.taskgroup",
    "Variable": "slipstream.models.variable",
    "XComArg": "slipstream.models.xcom_arg",
}

__all__ = [
    "DAG",
    "BaseOperator",
    "Connection",
    "DagBag",
    "MappedOperator",
    "Param",
    "TaskGroup",
    "Variable",
    "XComArg",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'slipstream.models' has no attribute {name!r}")
    return getattr(import_module(module), name)
