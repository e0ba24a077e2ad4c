"""Small helpers the built-in operators and sensors share."""

from __future__ import annotations

from typing import Any

from slipstream.exceptions import DagDefinitionError, SlipstreamException
from slipstream.models.connection import Connection


def get_connection(conn_id: str) -> Connection:
    """The connection, or an error that names it and says where it may be defined."""
    try:
        return Connection.get(conn_id)
    except KeyError:
        raise SlipstreamException(
            f"connection {conn_id!r} is not defined: add it to the metadata store, or set "
            f"the environment variable SLIPSTREAM_CONN_{conn_id.upper()} to its URI"
        ) from None


def is_templated_value(value: Any) -> bool:
    """A task's result (XComArg) or a DAG param stands in for a value known at run time."""
    from slipstream.models.dag import DagParam
    from slipstream.models.xcom_arg import XComArg

    return isinstance(value, XComArg | DagParam)


def check_type(owner: str, name: str, value: Any, expected: type | tuple[type, ...]) -> None:
    """Fail at DAG definition when an argument has the wrong type (run-time values pass)."""
    if value is None or is_templated_value(value) or isinstance(value, expected):
        return
    kinds = expected if isinstance(expected, tuple) else (expected,)
    wanted = " or ".join(k.__name__ for k in kinds)
    raise DagDefinitionError(f"{owner}: {name} must be {wanted}, got {type(value).__name__}")


def check_required_str(owner: str, name: str, value: Any) -> None:
    """A required string argument (a run-time value passes)."""
    if not is_templated_value(value) and (not isinstance(value, str) or not value):
        raise DagDefinitionError(f"{owner}: {name} must be a non-empty string, got {value!r}")


def check_callable(owner: str, name: str, value: Any) -> None:
    if value is not None and not callable(value):
        raise DagDefinitionError(f"{owner}: {name} must be callable, got {value!r}")
