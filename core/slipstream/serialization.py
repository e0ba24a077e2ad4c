"""Turning DAG objects into JSON documents (the dag processor's side).

The scheduler, the API and the UI read these documents through
:mod:`slipstream.serialized_dag`, which imports neither user code nor the
authoring model.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from slipstream.exceptions import DagDefinitionError
from slipstream.models.baseoperator import Task
from slipstream.models.dag import DAG
from slipstream.models.mappedoperator import MappedOperator
from slipstream.models.xcom_arg import XComArg
from slipstream.serialized_dag import FORMAT_VERSION
from slipstream.templating import to_json_safe


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


def _json_checked(value: Any, what: str) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise DagDefinitionError(f"{what} must be JSON-serializable: {exc}") from None
    return value


def _priority_totals(dag: DAG) -> dict[str, int]:
    """Effective priority of each task under its weight rule (Airflow's semantics)."""
    order = dag.topological_sort()
    totals: dict[str, int] = {}
    down: dict[str, set[str]] = {}
    for task in reversed(order):
        reach: set[str] = set()
        for d in task.downstream_task_ids:
            reach.add(d)
            reach |= down[d]
        down[task.task_id] = reach
    up: dict[str, set[str]] = {}
    for task in order:
        reach = set()
        for u in task.upstream_task_ids:
            reach.add(u)
            reach |= up[u]
        up[task.task_id] = reach
    for task in order:
        t: Any = task
        related = {"downstream": down, "upstream": up}.get(t.weight_rule)
        others = related[task.task_id] if related is not None else set()
        weights: list[int] = [int(getattr(dag.task_dict[o], "priority_weight", 1)) for o in others]
        totals[task.task_id] = int(t.priority_weight) + sum(weights)
    return totals


def _expand_spec(task: MappedOperator) -> dict[str, Any]:
    def source(value: Any) -> dict[str, Any]:
        if isinstance(value, XComArg):
            return {"type": "xcom", "task_id": value.operator.task_id, "key": value.key}
        return {"type": "literal", "length": len(value), "value": to_json_safe(value)}

    kind = "expand_kwargs" if task.expand_kwargs_input is not None else "expand"
    return {"kind": kind, "args": {name: source(v) for name, v in task.mapped_sources().items()}}


def serialize_task(task: Task, priority_total: int) -> dict[str, Any]:
    t: Any = task
    operator_class = task.operator_class if isinstance(task, MappedOperator) else type(task)
    template_fields = list(t.template_fields)
    if isinstance(task, MappedOperator):
        raw_templates = {f: to_json_safe(task.partial_kwargs.get(f)) for f in template_fields}
    else:
        raw_templates = {f: to_json_safe(getattr(task, f, None)) for f in template_fields}
    sensor = None
    if hasattr(t, "poke_interval") and hasattr(t, "mode"):
        sensor = {
            "mode": t.mode,
            "poke_interval": _seconds(t.poke_interval),
            "timeout": _seconds(t.timeout),
            "exponential_backoff": t.exponential_backoff,
            "max_wait": _seconds(t.max_wait),
            "soft_fail": t.soft_fail,
        }
    elif isinstance(task, MappedOperator) and hasattr(operator_class, "poke"):
        kw = task.partial_kwargs
        sensor = {
            "mode": kw.get("mode", "poke"),
            "poke_interval": float(kw.get("poke_interval", 60)),
            "timeout": float(kw.get("timeout", 7 * 86400)),
            "exponential_backoff": bool(kw.get("exponential_backoff", False)),
            "max_wait": None,
            "soft_fail": bool(kw.get("soft_fail", False)),
        }
    return {
        "task_id": task.task_id,
        "label": task.label,
        "operator": operator_class.__name__,
        "custom_operator_name": getattr(operator_class, "custom_operator_name", None),
        "operator_module": operator_class.__module__,
        "task_group": task.task_group.group_id if task.task_group else None,
        "upstream": sorted(task.upstream_task_ids),
        "downstream": sorted(task.downstream_task_ids),
        "trigger_rule": str(t.trigger_rule),
        "retries": t.retries,
        "retry_delay": _seconds(t.retry_delay),
        "retry_exponential_backoff": t.retry_exponential_backoff,
        "max_retry_delay": _seconds(t.max_retry_delay),
        "execution_timeout": _seconds(t.execution_timeout),
        "depends_on_past": t.depends_on_past,
        "wait_for_downstream": t.wait_for_downstream,
        "pool": t.pool,
        "pool_slots": t.pool_slots,
        "priority_weight": t.priority_weight,
        "weight_rule": t.weight_rule,
        "priority_weight_total": priority_total,
        "queue": t.queue,
        "executor": t.executor,
        "executor_config": _json_checked(
            t.executor_config, f"task {task.task_id}: executor_config"
        ),
        "max_active_tis_per_dag": t.max_active_tis_per_dag,
        "do_xcom_push": t.do_xcom_push,
        "multiple_outputs": t.multiple_outputs,
        "owner": t.owner,
        "start_date": _iso(t.start_date),
        "end_date": _iso(t.end_date),
        "doc_md": t.doc_md or t.doc,
        "task_display_name": t.task_display_name,
        "ui_color": t.ui_color,
        "template_fields": template_fields,
        "template_fields_renderers": dict(getattr(operator_class, "template_fields_renderers", {})),
        "templates": raw_templates,
        "callbacks": {
            name: bool(getattr(t, f"on_{name}_callback"))
            for name in ("execute", "success", "failure", "retry", "skipped")
        },
        "params": _json_checked(t._task_params.to_dict(), f"task {task.task_id}: params"),
        "is_mapped": task.is_mapped,
        "expand": _expand_spec(task) if isinstance(task, MappedOperator) else None,
        "sensor": sensor,
    }


def serialize_dag(dag: DAG) -> dict[str, Any]:
    """The JSON document for ``dag`` (validated first: cycles are errors here)."""
    dag.validate()
    totals = _priority_totals(dag)
    groups = {
        group_id: {
            "label": group.label,
            "parent": group.parent_group.group_id if group.parent_group else None,
            "tooltip": group.tooltip,
            "ui_color": group.ui_color,
        }
        for group_id, group in dag.task_group_dict.items()
    }
    document = {
        "format_version": FORMAT_VERSION,
        "dag_id": dag.dag_id,
        "dag_display_name": dag.dag_display_name,
        "fileloc": dag.fileloc,
        "description": dag.description,
        "doc_md": dag.doc_md,
        "schedule": dag.timetable.serialize(),
        "timetable_summary": dag.timetable.summary,
        "timezone": dag.timezone,
        "start_date": _iso(dag.start_date),
        "end_date": _iso(dag.end_date),
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "max_active_tasks": dag.max_active_tasks,
        "dagrun_timeout": _seconds(dag.dagrun_timeout),
        "tags": list(dag.tags),
        "owner": dag.owner,
        "owner_links": dict(dag.owner_links),
        "params": _json_checked(dag.params.to_dict(), f"DAG {dag.dag_id}: params"),
        "is_paused_upon_creation": dag.is_paused_upon_creation,
        "render_template_as_native_obj": dag.render_template_as_native_obj,
        "callbacks": {
            "success": bool(dag.on_success_callback),
            "failure": bool(dag.on_failure_callback),
        },
        "task_groups": groups,
        "tasks": [serialize_task(task, totals[task.task_id]) for task in dag.topological_sort()],
    }
    return document
