"""Importing one DAG file in this process, turning every failure into an import error.

Used inside the forked parse process (to serialize) and by workers (to run a
task from the real DAG object). Never called by the scheduler.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from slipstream.models.dag import DAG


@attrs.define
class ImportResult:
    """The DAGs a file defined, and the errors it raised (by file path)."""

    dags: dict[str, DAG] = attrs.field(factory=dict)
    errors: dict[str, str] = attrs.field(factory=dict)


def module_name_for(path: Path) -> str:
    """A unique, stable module name per file, so two ``etl.py`` files never collide."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    return f"slipstream_dag_{digest}_{stem}"


def describe_exception(exc: BaseException, path: Path) -> str:
    """``file:line: Type: message`` for the deepest frame in the DAG file, then the traceback."""
    line = None
    if isinstance(exc, SyntaxError) and exc.filename == str(path):
        line = exc.lineno
    else:
        for frame in traceback.extract_tb(exc.__traceback__):
            if Path(frame.filename) == path:
                line = frame.lineno
    where = f"{path}:{line}" if line else str(path)
    summary = f"{where}: {type(exc).__name__}: {exc}"
    details = "".join(traceback.format_exception(exc)).rstrip()
    return f"{summary}\n\n{details}"


def dag_location(dag: DAG) -> str:
    """``file:line`` where ``dag`` is created, for errors found after its file ran."""
    line = getattr(dag, "fileloc_line", None)
    return f"{dag.fileloc}:{line}" if line else dag.fileloc


def import_dag_file(path: Path, *, source: str | None = None) -> ImportResult:
    """Import ``path`` and collect every DAG it created; validate each one.

    With ``source``, that text is run as if it were the file (an older version of
    it, kept in the store), under a module name of its own.
    """
    from slipstream.models import dag as dag_module

    path = path.resolve()
    result = ImportResult()
    collected: list[DAG] = []
    dag_module._collectors.append(collected)
    name = module_name_for(path)
    if source is not None:
        name += "_" + hashlib.sha1(source.encode()).hexdigest()[:12]
    try:
        if source is not None:
            module: ModuleType = ModuleType(name)
            module.__file__ = str(path)
            sys.modules[name] = module
            exec(compile(source, str(path), "exec"), module.__dict__)
        else:
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                result.errors[str(path)] = f"{path}: cannot be imported as a Python file"
                return result
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(name, None)
        result.errors[str(path)] = describe_exception(exc, path)
        return result
    finally:
        dag_module._collectors.pop()
        dag_module._dag_stack.clear()
    for found in collected:
        if found.fileloc != str(path):
            found.fileloc_line = None  # a line of another file would mislead
        found.fileloc = str(path)  # a DAG built by a factory elsewhere belongs to this file
        if found.dag_id in result.dags and result.dags[found.dag_id] is not found:
            result.errors[str(path)] = (
                f"{path}: DAG id {found.dag_id!r} is defined more than once in this file"
            )
            continue
        try:
            found.validate()
        except Exception as exc:
            result.errors[str(path)] = f"{dag_location(found)}: {type(exc).__name__}: {exc}"
            continue
        result.dags[found.dag_id] = found
    return result
