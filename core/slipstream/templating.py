"""Jinja rendering of template fields, and the context a task sees.

The context has Airflow's names (``ds``, ``logical_date``, ``data_interval_start``,
``params``, ``ti``, ``var``, ``conn``, ``macros``...) so templates port unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import jinja2
import jinja2.nativetypes

from slipstream import macros

if TYPE_CHECKING:
    from slipstream.models.baseoperator import Task
    from slipstream.models.dag import DAG


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


class TemplateError(Exception):
    """A template field could not be rendered; says which field and why."""


def make_environment(
    *,
    searchpath: Sequence[str] = (),
    undefined: type[jinja2.Undefined] = jinja2.StrictUndefined,
    native: bool = False,
) -> jinja2.Environment:
    cls = jinja2.nativetypes.NativeEnvironment if native else jinja2.Environment
    env = cls(
        loader=jinja2.FileSystemLoader(list(searchpath)) if searchpath else None,
        undefined=undefined,
        extensions=["jinja2.ext.do"],
        keep_trailing_newline=True,
        cache_size=0,
    )
    env.filters.update(
        {
            "ds": lambda d: d.strftime("%Y-%m-%d"),
            "ds_nodash": lambda d: d.strftime("%Y%m%d"),
            "ts": lambda d: d.isoformat(),
            "ts_nodash": lambda d: d.strftime("%Y%m%dT%H%M%S"),
        }
    )
    return env


def render_value(
    value: Any,
    context: Mapping[str, Any],
    env: jinja2.Environment,
    template_ext: Sequence[str] = (),
    field: str = "",
) -> Any:
    """Render strings (or the files they name, by extension), recursing into containers;
    resolve task outputs and @dag params to their values."""
    from slipstream.models.dag import DagParam
    from slipstream.models.xcom_arg import XComArg

    if isinstance(value, XComArg | DagParam):
        return value.resolve(context)
    if isinstance(value, str):
        try:
            if template_ext and value.strip().endswith(tuple(template_ext)):
                template = env.get_template(value.strip())
            else:
                template = env.from_string(value)
            return template.render(**context)
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(
                f"template field {field!r}: template file {exc.name!r} not found next to the "
                f"DAG file or in its template_searchpath"
            ) from None
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template field {field!r}: {type(exc).__name__}: {exc}") from None
    if isinstance(value, list):
        return [render_value(v, context, env, template_ext, field) for v in value]
    if isinstance(value, tuple):
        return tuple(render_value(v, context, env, template_ext, field) for v in value)
    if isinstance(value, dict):
        return {k: render_value(v, context, env, template_ext, field) for k, v in value.items()}
    if isinstance(value, set):
        return {render_value(v, context, env, template_ext, field) for v in value}
    nested = getattr(value, "template_fields", None)
    if nested and not hasattr(value, "task_id"):
        for name in nested:
            setattr(
                value, name, render_value(getattr(value, name), context, env, template_ext, name)
            )
    return value


class VariableAccessor:
    """``{{ var.value.name }}`` and ``{{ var.json.name.field }}``."""

    def __init__(self, deserialize_json: bool) -> None:
        self._json = deserialize_json

    def __getattr__(self, key: str) -> Any:
        from slipstream.models.variable import Variable

        return Variable.get(key, deserialize_json=self._json)

    def get(self, key: str, default: Any = None) -> Any:
        from slipstream.models.variable import Variable

        return Variable.get(key, default, deserialize_json=self._json)


class _VariableNamespace:
    value = VariableAccessor(False)
    json = VariableAccessor(True)


class ConnectionAccessor:
    """``{{ conn.my_db.host }}``."""

    def __getattr__(self, conn_id: str) -> Any:
        from slipstream.models.connection import Connection

        return Connection.get(conn_id)

    def get(self, conn_id: str, default: Any = None) -> Any:
        from slipstream.models.connection import Connection

        try:
            return Connection.get(conn_id)
        except KeyError:
            return default


def build_context(
    *,
    dag: DAG,
    task: Task,
    run_id: str,
    logical_date: datetime | None,
    data_interval_start: datetime | None,
    data_interval_end: datetime | None,
    params: Mapping[str, Any],
    ti: Any,
    dag_run: Any = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything a template or a TaskFlow function can read about its run."""
    moment = logical_date or data_interval_start or datetime.now().astimezone()
    context: dict[str, Any] = {
        "dag": dag,
        "task": task,
        "ti": ti,
        "task_instance": ti,
        "dag_run": dag_run,
        "run_id": run_id,
        "logical_date": logical_date,
        "data_interval_start": data_interval_start,
        "data_interval_end": data_interval_end,
        "ds": moment.strftime("%Y-%m-%d"),
        "ds_nodash": moment.strftime("%Y%m%d"),
        "ts": moment.isoformat(),
        "ts_nodash": moment.strftime("%Y%m%dT%H%M%S"),
        "ts_nodash_with_tz": moment.strftime("%Y%m%dT%H%M%S%z"),
        "prev_data_interval_start_success": None,
        "prev_data_interval_end_success": None,
        "params": dict(params),
        "var": _VariableNamespace(),
        "conn": ConnectionAccessor(),
        "macros": macros,
        "task_instance_key_str": f"{dag.dag_id}__{task.task_id}__{moment.strftime('%Y%m%d')}",
        "map_index": getattr(ti, "map_index", -1),
        "try_number": getattr(ti, "try_number", 1),
        "test_mode": False,
    }
    context["inlets"], context["outlets"] = [], []
    context.update(extra or {})
    return context


def to_json_safe(value: Any) -> Any:
    """What the UI shows of a rendered field: JSON when possible, else its repr."""
    try:
        json.dumps(value)
        return value
    except TypeError:
        if isinstance(value, timedelta | datetime):
            return str(value)
        # Without memory addresses ("<function f at 0x7f...>"), so that the same DAG
        # serializes to the same document, and content hash, in every parse.
        return _ADDRESS.sub("", repr(value))
