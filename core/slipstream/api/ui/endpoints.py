"""The UI's own JSON endpoints under ``/ui``: what its pages poll (run and task states,
log tails) and the actions its buttons take (pause, trigger, clear, mark).

They call the store and the shared modules (triggering, clearing, marking) directly,
so the UI does not depend on the public REST routes. Reading needs the viewer role;
every action needs the user role (and, with a session cookie, the CSRF header).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import attrs
from litestar import Controller, get, post
from litestar.exceptions import HTTPException, ValidationException
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_409_CONFLICT

from slipstream.api.auth.guards import can_edit, can_read
from slipstream.api.errors import invalid
from slipstream.api.public.common import Ctx, get_dag_or_404, get_run_or_404, or_404
from slipstream.api.ui import views
from slipstream.errors import AlreadyExistsError
from slipstream.execution.logs import LOG_MAY_GROW, read_log_chunk, try_log_path
from slipstream.metadata.records import TaskInstance, TaskInstanceRef
from slipstream.scheduler.clearing import clear_task_instances
from slipstream.scheduler.marking import mark_dag_run, mark_task_instances
from slipstream.scheduler.triggering import TriggerError, trigger_dag_run
from slipstream.state import DagRunState, IllegalTransition
from slipstream.state import TaskInstanceState as TIS


@attrs.frozen(kw_only=True)
class PausedBody:
    is_paused: bool


@attrs.frozen(kw_only=True)
class TriggerBody:
    conf: dict[str, Any] = attrs.field(factory=dict)
    run_id: str | None = None


@attrs.frozen(kw_only=True)
class ClearBody:
    task_ids: list[str] = attrs.field(factory=list)
    include_downstream: bool = False
    include_upstream: bool = False
    only_failed: bool = False
    dry_run: bool = False


@attrs.frozen(kw_only=True)
class MarkBody:
    state: str
    map_index: int | None = None
    include_downstream: bool = False
    include_upstream: bool = False
    dry_run: bool = False


def _ti_json(ti: TaskInstance) -> dict[str, Any]:
    return {
        "task_id": ti.task_id,
        "map_index": ti.map_index,
        "state": ti.state.value,
        "try_number": ti.try_number,
    }


def _actions_result(tis: Any, dry_run: bool) -> dict[str, Any]:
    items = [_ti_json(ti) for ti in tis]
    return {"task_instances": items, "count": len(items), "dry_run": dry_run}


def _marked(mark: Callable[[], Iterable[TaskInstance]], dry_run: bool) -> dict[str, Any]:
    """What a marking changed (or would, with ``dry_run``); a refused one is a 422."""
    try:
        changed = mark()
    except (ValueError, IllegalTransition) as exc:
        raise invalid(str(exc), field="state", source="body") from None
    return _actions_result(changed, dry_run)


def _ti_or_404(ctx: Ctx, dag_id: str, run_id: str, task_id: str, map_index: int) -> TaskInstance:
    ref = TaskInstanceRef(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index)
    return or_404(ctx.store.get_task_instance(ref), "The task instance was not found")


class UiDataController(Controller):
    path = "/dags"
    include_in_schema = False

    @get("/status", guards=[can_read], sync_to_thread=True)
    def status(self, ctx: Ctx, dag_id: FromQuery[list[str] | None] = None) -> dict[str, Any]:
        """Recent runs of the DAGs the list shows (polled while a run is active)."""
        return views.dag_status(ctx.store, dag_id or [])

    @get("/{dag_id:str}/grid", guards=[can_read], sync_to_thread=True)
    def grid(
        self, ctx: Ctx, dag_id: FromPath[str], run_id: FromQuery[list[str] | None] = None
    ) -> dict[str, Any]:
        """Newest runs and the task states of ``run_id`` (the runs the page shows active)."""
        get_dag_or_404(ctx, dag_id)
        return views.grid_status(ctx.store, dag_id, run_id or [])

    @get(
        "/{dag_id:str}/runs/{run_id:str}/tasks/{task_id:str}/state",
        guards=[can_read],
        sync_to_thread=True,
    )
    def ti_state(
        self,
        ctx: Ctx,
        dag_id: FromPath[str],
        run_id: FromPath[str],
        task_id: FromPath[str],
        map_index: FromQuery[int] = -1,
    ) -> dict[str, Any]:
        ti = _ti_or_404(ctx, dag_id, run_id, task_id, map_index)
        return {**_ti_json(ti), "finished": ti.state.finished}

    @get(
        "/{dag_id:str}/runs/{run_id:str}/tasks/{task_id:str}/log",
        guards=[can_read],
        sync_to_thread=True,
    )
    def log(
        self,
        ctx: Ctx,
        dag_id: FromPath[str],
        run_id: FromPath[str],
        task_id: FromPath[str],
        try_number: FromQuery[int],
        map_index: FromQuery[int] = -1,
        offset: FromQuery[int] = 0,
    ) -> dict[str, Any]:
        """The log of one try from byte ``offset``; ``done`` once the try has ended and
        all of it was read, so the page stops polling."""
        if try_number < 1 or offset < 0:
            raise invalid("try_number must be >= 1 and offset >= 0", field="try_number")
        ti = _ti_or_404(ctx, dag_id, run_id, task_id, map_index)
        path = try_log_path(ctx.config["logging.base_log_folder"], ti.ref, try_number)
        text, next_offset = read_log_chunk(path, offset)
        live = try_number == ti.try_number and ti.state in LOG_MAY_GROW
        exists = path.exists()
        at_end = not exists or next_offset >= path.stat().st_size
        return {
            "text": text,
            "offset": next_offset,
            "done": not live and at_end,
            "state": ti.state.value,
            "exists": exists,
        }


class UiActionController(Controller):
    path = "/dags"
    include_in_schema = False
    guards = [can_edit]

    @post("/{dag_id:str}/paused", status_code=HTTP_200_OK, sync_to_thread=True)
    def set_paused(
        self, ctx: Ctx, dag_id: FromPath[str], data: JSONBody[PausedBody]
    ) -> dict[str, Any]:
        get_dag_or_404(ctx, dag_id)
        dag = ctx.store.set_dag_paused(dag_id, data.is_paused)
        return {"dag_id": dag.dag_id, "is_paused": dag.is_paused}

    @post("/{dag_id:str}/trigger", status_code=HTTP_200_OK, sync_to_thread=True)
    def trigger(
        self, ctx: Ctx, dag_id: FromPath[str], data: JSONBody[TriggerBody]
    ) -> dict[str, Any]:
        """Validate each param for inline messages, then trigger (which checks again)."""
        get_dag_or_404(ctx, dag_id)
        latest = views.latest_sdag(ctx.store, dag_id)
        if latest is not None:
            errors = views.param_errors(latest[1], data.conf)
            if errors:
                raise ValidationException(
                    detail="Some params are invalid",
                    extra=[
                        {"message": msg, "key": name, "source": "conf"}
                        for name, msg in errors.items()
                    ],
                )
        run_id = (data.run_id or "").strip() or None
        try:
            run = trigger_dag_run(
                ctx.store, dag_id, conf=data.conf, run_id=run_id, triggered_by="ui"
            )
        except TriggerError as exc:
            raise invalid(str(exc), field="conf", source="body") from None
        except AlreadyExistsError as exc:
            raise HTTPException(status_code=HTTP_409_CONFLICT, detail=str(exc)) from None
        return {"dag_id": dag_id, "run_id": run.run_id, "state": run.state.value}

    @post("/{dag_id:str}/runs/{run_id:str}/clear", status_code=HTTP_200_OK, sync_to_thread=True)
    def clear_run(
        self, ctx: Ctx, dag_id: FromPath[str], run_id: FromPath[str], data: JSONBody[ClearBody]
    ) -> dict[str, Any]:
        """Clear a whole run, or only ``task_ids`` (with their upstream/downstream)."""
        get_run_or_404(ctx, dag_id, run_id, dag_first=True)
        result = clear_task_instances(
            ctx.store,
            dag_id,
            run_ids=[run_id],
            task_ids=data.task_ids,
            include_downstream=data.include_downstream,
            include_upstream=data.include_upstream,
            only_failed=data.only_failed,
            dry_run=data.dry_run,
        )
        return _actions_result(result.cleared, data.dry_run)

    @post("/{dag_id:str}/runs/{run_id:str}/mark", status_code=HTTP_200_OK, sync_to_thread=True)
    def mark_run(
        self, ctx: Ctx, dag_id: FromPath[str], run_id: FromPath[str], data: JSONBody[MarkBody]
    ) -> dict[str, Any]:
        get_run_or_404(ctx, dag_id, run_id, dag_first=True)
        if data.state not in (DagRunState.SUCCESS, DagRunState.FAILED):
            raise invalid("a run can be marked success or failed", field="state", source="body")
        mark = partial(
            mark_dag_run,
            ctx.store,
            dag_id,
            run_id,
            DagRunState(data.state),
            plugins=ctx.plugins,
            dry_run=data.dry_run,
        )
        return _marked(mark, data.dry_run)

    @post(
        "/{dag_id:str}/runs/{run_id:str}/tasks/{task_id:str}/mark",
        status_code=HTTP_200_OK,
        sync_to_thread=True,
    )
    def mark_task(
        self,
        ctx: Ctx,
        dag_id: FromPath[str],
        run_id: FromPath[str],
        task_id: FromPath[str],
        data: JSONBody[MarkBody],
    ) -> dict[str, Any]:
        get_run_or_404(ctx, dag_id, run_id, dag_first=True)
        if data.state not in (TIS.SUCCESS, TIS.FAILED):
            raise invalid("a task can be marked success or failed", field="state", source="body")
        mark = partial(
            mark_task_instances,
            ctx.store,
            dag_id,
            run_id,
            task_id,
            TIS(data.state),
            map_index=data.map_index,
            downstream=data.include_downstream,
            upstream=data.include_upstream,
            dry_run=data.dry_run,
        )
        return _marked(mark, data.dry_run)


UI_API_HANDLERS: list[Any] = [UiDataController, UiActionController]
