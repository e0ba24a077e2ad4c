"""``/api/v2/dags/{dag_id}/tasks``: the tasks of a DAG's latest version, read from its
serialized form (never by importing the DAG file), in Airflow 3's ``TaskResponse``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
from litestar import Controller, get
from litestar.params import FromPath, FromQuery

from slipstream.api.auth.guards import can_read
from slipstream.api.context import ApiContext
from slipstream.api.public.common import Ctx, get_dag_or_404, or_404, order_refused
from slipstream.api.public.serialized import params_response, time_delta
from slipstream.serialized_dag import SerializedDag, SerializedTask, deserialize_dag


@attrs.frozen(kw_only=True)
class TaskResponse:
    task_id: str | None
    task_display_name: str | None
    owner: str | None
    start_date: datetime | None
    end_date: datetime | None
    trigger_rule: str | None
    depends_on_past: bool
    wait_for_downstream: bool
    retries: float | None
    queue: str | None
    pool: str | None
    pool_slots: float | None
    execution_timeout: dict[str, Any] | None
    retry_delay: dict[str, Any] | None
    retry_exponential_backoff: float
    priority_weight: float | None
    weight_rule: str | None
    ui_color: str | None
    ui_fgcolor: str | None
    template_fields: list[str] | None
    downstream_task_ids: list[str] | None
    doc_md: str | None
    operator_name: str | None
    params: dict[str, Any] | None
    class_ref: dict[str, Any] | None
    is_mapped: bool | None
    extra_links: list[str]


@attrs.frozen(kw_only=True)
class TaskCollectionResponse:
    tasks: list[TaskResponse]
    total_entries: int


def _backoff(value: Any) -> float:
    """Airflow 3 takes a multiplier here (0 = off); ``True`` means its default of 2."""
    if isinstance(value, bool):
        return 2.0 if value else 0.0
    return float(value or 0)


def task_response(task: SerializedTask) -> TaskResponse:
    data = task.data
    return TaskResponse(
        task_id=task.task_id,
        task_display_name=data.get("task_display_name") or task.task_id,
        owner=data.get("owner"),
        start_date=task.start_date_dt,
        end_date=task.end_date_dt,
        trigger_rule=str(data["trigger_rule"]),
        depends_on_past=bool(data.get("depends_on_past")),
        wait_for_downstream=bool(data.get("wait_for_downstream")),
        retries=float(data.get("retries") or 0),
        queue=data.get("queue"),
        pool=data.get("pool"),
        pool_slots=float(data.get("pool_slots") or 1),
        execution_timeout=time_delta(data.get("execution_timeout")),
        retry_delay=time_delta(data.get("retry_delay")),
        retry_exponential_backoff=_backoff(data.get("retry_exponential_backoff")),
        priority_weight=float(data.get("priority_weight") or 0),
        weight_rule=data.get("weight_rule"),
        ui_color=data.get("ui_color"),
        ui_fgcolor=None,
        template_fields=list(data.get("template_fields") or []),
        downstream_task_ids=list(data.get("downstream") or []),
        doc_md=data.get("doc_md"),
        operator_name=data.get("custom_operator_name") or data.get("operator"),
        params=params_response(data.get("params")),
        class_ref={"module_path": data.get("operator_module"), "class_name": data.get("operator")},
        is_mapped=bool(data.get("is_mapped")),
        extra_links=[],
    )


def _latest(ctx: ApiContext, dag_id: str) -> SerializedDag:
    get_dag_or_404(ctx, dag_id)
    version = or_404(
        ctx.store.get_dag_version(dag_id), f"The Dag with ID: `{dag_id}` was not found"
    )
    return deserialize_dag(version.serialized)


TASK_ORDER = frozenset(attrs.fields_dict(TaskResponse)) - {
    "params",
    "class_ref",
    "extra_links",
    "template_fields",
    "downstream_task_ids",
    "execution_timeout",
    "retry_delay",
}


def _sort_key(name: str) -> Any:
    def key(task: TaskResponse) -> tuple[bool, Any]:
        value = getattr(task, name)
        return (value is None, value if value is not None else 0)

    return key


class TaskController(Controller):
    path = "/dags/{dag_id:str}/tasks"
    tags = ["Task"]

    @get("/", guards=[can_read], sync_to_thread=True)
    def get_tasks(
        self, ctx: Ctx, dag_id: FromPath[str], order_by: FromQuery[str] = "task_id"
    ) -> TaskCollectionResponse:
        """Every task of the DAG's latest version, ordered by any plain attribute."""
        name = order_by.lstrip("-")
        if name not in TASK_ORDER:
            raise order_refused(name, TASK_ORDER)
        tasks = [task_response(task) for task in _latest(ctx, dag_id).tasks.values()]
        tasks.sort(key=_sort_key(name), reverse=order_by.startswith("-"))
        return TaskCollectionResponse(tasks=tasks, total_entries=len(tasks))

    @get("/{task_id:str}", guards=[can_read], sync_to_thread=True)
    def get_task(self, ctx: Ctx, dag_id: FromPath[str], task_id: FromPath[str]) -> TaskResponse:
        task = or_404(
            _latest(ctx, dag_id).tasks.get(task_id), f"Task with id {task_id} was not found"
        )
        return task_response(task)
