"""The operators and sensors that ship with the core."""

from __future__ import annotations

from collections.abc import Iterator

from slipstream.plugins import OperatorSpec, hookimpl

BUILTIN_OPERATORS: tuple[tuple[str, str, str], ...] = ()


@hookimpl
def slipstream_operators() -> Iterator[OperatorSpec]:
    for name, import_path, description in BUILTIN_OPERATORS:
        yield OperatorSpec(name=name, import_path=import_path, description=description)
