"""``/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances``: list (``~`` for every
DAG or run), get, mapped instances, tries, marking, and ``clearTaskInstances``.

Responses have Airflow's shapes. slipstream's ``none`` state is Airflow's ``null``;
task instance and DAG version ids are slipstream's integer ids spelled as UUIDs.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import attrs
from litestar import Controller, Request, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_400_BAD_REQUEST, HTTP_409_CONFLICT

from slipstream.api.auth.guards import can_edit, can_read
from slipstream.api.context import ApiContext
from slipstream.api.errors import invalid
from slipstream.api.public import dag_versions
from slipstream.api.public.common import (
    ANY,
    MAX_INT,
    MAX_NOTE_LEN,
    Ctx,
    Limit,
    MapIndexPath,
    MapIndexQuery,
    Offset,
    OrderBy,
    TryNumberPath,
    as_uuid,
    aware,
    call_store,
    get_dag_or_404,
    get_run_or_404,
    or_404,
    paging,
)
from slipstream.api.public.dag_versions import VersionCache
from slipstream.metadata.records import DagRun, TaskInstance, TaskInstanceRef
from slipstream.scheduler.clearing import clear_task_instances
from slipstream.scheduler.marking import MARKABLE_STATES, mark_task_instances, runs_around
from slipstream.state import TaskInstanceState as TIS

TI_ORDER = {
    "id": "id",
    "state": "state",
    "duration": "duration",
    "start_date": "start_date",
    "end_date": "end_date",
    "map_index": "map_index",
    "rendered_map_index": "map_index",
    "try_number": "try_number",
    "operator": "operator",
    "task_id": "task_id",
    "dag_id": "dag_id",
    "run_id": "run_id",
    "dag_run_id": "run_id",
    "pool": "pool",
    "queue": "queue",
    "priority_weight": "priority_weight",
    "queued_when": "queued_at",
    "updated_at": "updated_at",
}


class TaskInstanceState(StrEnum):
    """Airflow's task instance states that slipstream has (``none`` is ``null``)."""

    REMOVED = "removed"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    RESTARTING = "restarting"
    FAILED = "failed"
    UP_FOR_RETRY = "up_for_retry"
    UP_FOR_RESCHEDULE = "up_for_reschedule"
    UPSTREAM_FAILED = "upstream_failed"
    SKIPPED = "skipped"


def api_state(state: TIS) -> TaskInstanceState | None:
    return None if state == TIS.NONE else TaskInstanceState(state.value)


OptionalMapIndexQuery = Annotated[
    int | None,
    QueryParameter(ge=-1, le=MAX_INT, description="One map index (none: every one)."),
]


# -- responses and bodies ---------------------------------------------------------------


@attrs.frozen(kw_only=True)
class DagVersionResponse(dag_versions.DagVersionResponse):
    """The same record as :class:`dag_versions.DagVersionResponse`; a class of its own
    only so that the OpenAPI document keeps the schema names it has had since there
    were two (``task_instances_DagVersionResponse`` beside
    ``dag_versions_DagVersionResponse``). Merging them renames those schemas."""


@attrs.frozen(kw_only=True)
class TaskInstanceResponse:
    id: str
    task_id: str
    dag_id: str
    dag_run_id: str
    map_index: int
    logical_date: datetime | None
    run_after: datetime
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None
    state: TaskInstanceState | None
    try_number: int
    max_tries: int
    task_display_name: str
    dag_display_name: str
    hostname: str | None
    unixname: str | None
    pool: str
    pool_slots: int
    queue: str | None
    priority_weight: int | None
    operator: str | None
    operator_name: str | None
    queued_when: datetime | None
    scheduled_when: datetime | None
    pid: int | None
    executor: str | None
    executor_config: str
    note: str | None
    rendered_map_index: str | None
    rendered_fields: dict[str, Any]
    trigger: None
    triggerer_job: None
    dag_version: DagVersionResponse | None


@attrs.frozen(kw_only=True)
class TaskInstanceCollectionResponse:
    task_instances: list[TaskInstanceResponse]
    total_entries: int | None
    total_entries_limit: int | None = None
    next_cursor: str | None = None
    previous_cursor: str | None = None


@attrs.frozen(kw_only=True)
class TaskInstanceHistoryResponse:
    task_id: str
    dag_id: str
    dag_run_id: str
    map_index: int
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None
    state: TaskInstanceState | None
    try_number: int
    max_tries: int
    task_display_name: str
    dag_display_name: str
    hostname: str | None
    unixname: str | None
    pool: str
    pool_slots: int
    queue: str | None
    priority_weight: int | None
    operator: str | None
    operator_name: str | None
    queued_when: datetime | None
    scheduled_when: datetime | None
    pid: int | None
    executor: str | None
    executor_config: str
    dag_version: DagVersionResponse | None


@attrs.frozen(kw_only=True)
class TaskInstanceHistoryCollectionResponse:
    task_instances: list[TaskInstanceHistoryResponse]
    total_entries: int


@attrs.frozen(kw_only=True)
class TaskInstancesBatchBody:
    dag_ids: list[str] | None = None
    dag_run_ids: list[str] | None = None
    task_ids: list[str] | None = None
    state: list[TaskInstanceState | None] | None = None
    start_date_gte: datetime | None = None
    start_date_lte: datetime | None = None
    end_date_gte: datetime | None = None
    end_date_lte: datetime | None = None
    duration_gte: float | None = None
    duration_lte: float | None = None
    pool: list[str] | None = None
    queue: list[str] | None = None
    executor: list[str] | None = None
    page_offset: int = attrs.field(
        default=0, validator=[attrs.validators.ge(0), attrs.validators.le(MAX_INT)]
    )
    page_limit: int = attrs.field(default=100, validator=attrs.validators.ge(0))
    order_by: str | None = None


@attrs.frozen(kw_only=True)
class PatchTaskInstanceBody:
    new_state: TaskInstanceState | None = None
    note: str | None = None
    include_upstream: bool = False
    include_downstream: bool = False
    include_future: bool = False
    include_past: bool = False


@attrs.frozen(kw_only=True)
class ClearTaskInstancesBody:
    dry_run: bool = True
    start_date: datetime | None = None
    end_date: datetime | None = None
    only_failed: bool = True
    only_running: bool = False
    reset_dag_runs: bool = True
    task_ids: list[str | list[str | int]] | None = None
    dag_run_id: str | None = None
    include_upstream: bool = False
    include_downstream: bool = False
    include_future: bool = False
    include_past: bool = False
    run_on_latest_version: bool | None = None
    prevent_running_task: bool = False
    note: str | None = None


# -- building responses --------------------------------------------------------------------


class Lookups(VersionCache):
    """Runs, notes and DAG versions that the task instances of one response refer to,
    each read once."""

    def __init__(self, ctx: ApiContext) -> None:
        super().__init__(ctx, DagVersionResponse)
        self._runs: dict[tuple[str, str], DagRun | None] = {}
        self._notes: dict[int, str] = {}
        self._noted: set[int] = set()

    def read_notes(self, ti_ids: Collection[int]) -> None:
        """Fetch the notes of many task instances in one go."""
        wanted = set(ti_ids) - self._noted
        if wanted:
            self._notes.update(self._ctx.store.get_task_instance_notes(wanted))
            self._noted |= wanted

    def note(self, ti_id: int) -> str | None:
        self.read_notes([ti_id])
        return self._notes.get(ti_id)

    def run(self, dag_id: str, run_id: str) -> DagRun | None:
        key = (dag_id, run_id)
        if key not in self._runs:
            self._runs[key] = self._ctx.store.get_dag_run(dag_id, run_id)
        return self._runs[key]


def ti_fields(ti: TaskInstance, versions: VersionCache) -> dict[str, Any]:
    """The fields a task instance and a try of it share (also in a run clear's dry run)."""
    return {
        "task_id": ti.task_id,
        "dag_id": ti.dag_id,
        "dag_run_id": ti.run_id,
        "map_index": ti.map_index,
        "start_date": ti.start_date,
        "end_date": ti.end_date,
        "duration": ti.duration,
        "state": api_state(ti.state),
        "try_number": ti.try_number,
        "max_tries": ti.max_tries,
        "task_display_name": ti.task_id,
        "dag_display_name": ti.dag_id,
        "hostname": ti.hostname,
        "unixname": None,
        "pool": ti.pool,
        "pool_slots": ti.pool_slots,
        "queue": ti.queue,
        "priority_weight": ti.priority_weight,
        "operator": ti.operator,
        "operator_name": ti.operator,
        "queued_when": ti.queued_at,
        "scheduled_when": ti.scheduled_at,
        "pid": ti.pid,
        "executor": ti.executor,
        "executor_config": "{}",
        "dag_version": versions.response(ti.dag_version_id),
    }


def ti_response(ti: TaskInstance, lookups: Lookups) -> TaskInstanceResponse:
    run = lookups.run(ti.dag_id, ti.run_id)
    return TaskInstanceResponse(
        id=as_uuid(ti.id),
        logical_date=run.logical_date if run else None,
        run_after=run.run_after if run else ti.updated_at,
        note=lookups.note(ti.id),
        rendered_map_index=str(ti.map_index) if ti.map_index >= 0 else None,
        rendered_fields=dict(ti.rendered_fields or {}),
        trigger=None,
        triggerer_job=None,
        **ti_fields(ti, lookups),
    )


def ti_collection(
    ctx: ApiContext, tis: Sequence[TaskInstance], total: int | None = None
) -> TaskInstanceCollectionResponse:
    lookups = Lookups(ctx)
    lookups.read_notes([ti.id for ti in tis])
    return TaskInstanceCollectionResponse(
        task_instances=[ti_response(ti, lookups) for ti in tis],
        total_entries=len(tis) if total is None else total,
    )


def history_response(ti: TaskInstance, lookups: Lookups) -> TaskInstanceHistoryResponse:
    return TaskInstanceHistoryResponse(**ti_fields(ti, lookups))


# -- lookups that answer 404 ---------------------------------------------------------------


def _ti_not_found(dag_id: str, run_id: str, task_id: str, map_index: int | None) -> Exception:
    where = f"dag_id: `{dag_id}`, run_id: `{run_id}`"
    if map_index is None:
        return NotFoundException(
            f"The Task Instance with {where} and task_id: `{task_id}` was not found"
        )
    return NotFoundException(
        f"The Task Instance with {where}, task_id: `{task_id}` and map_index: `{map_index}` "
        "was not found"
    )


def get_ti_or_404(
    ctx: ApiContext, dag_id: str, run_id: str, task_id: str, map_index: int = -1
) -> TaskInstance:
    ref = TaskInstanceRef(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index)
    ti = ctx.store.get_task_instance(ref)
    placeholder = ti is not None and map_index < 0 and ti.state == TIS.REMOVED
    if ti is not None and not placeholder:
        return ti
    if map_index < 0 and _has_mapped(ctx, dag_id, run_id, task_id):
        raise NotFoundException("Task instance is mapped, add the map_index value to the URL")
    if ti is not None:
        return ti
    raise _ti_not_found(dag_id, run_id, task_id, None if map_index < 0 else map_index)


def _has_mapped(ctx: ApiContext, dag_id: str, run_id: str, task_id: str) -> bool:
    page = ctx.store.list_task_instances(
        dag_ids=[dag_id], run_ids=[run_id], task_ids=[task_id], mapped=True, limit=0
    )
    return page.total > 0


def parse_states(values: Collection[str | None] | None) -> list[TIS]:
    """Airflow's ``state`` filter: a state name, or ``none``/null for not yet scheduled."""
    states: list[TIS] = []
    for value in values or ():
        if value in (None, "none", "no_status", "null"):
            states.append(TIS.NONE)
            continue
        try:
            states.append(TIS(str(value)))
        except ValueError:
            allowed = ", ".join(["none", *(s.value for s in TaskInstanceState)])
            raise invalid(
                f"Invalid value for state: {value!r}. Valid values are {allowed}", field="state"
            ) from None
    return states


def _bounds(low: float | None, high: float | None, name: str) -> None:
    if low is not None and high is not None and low > high:
        raise invalid(f"{name}_gte is after {name}_lte: nothing can match", field=f"{name}_gte")


# ``state`` is a name Litestar reserves for the application state: the parameter is
# ``states``, the query key is Airflow's ``state``.
StateFilter = Annotated[
    list[str] | None,
    QueryParameter(name="state", description="Only these states (``none``: not scheduled)."),
]
MapIndexes = Annotated[
    list[int] | None, QueryParameter(description="Only these map indexes (-1: not mapped).")
]


@attrs.frozen(kw_only=True)
class TIFilter:
    """A listing's filters and page as the query string or a batch body gives them;
    :func:`_list` checks them."""

    states: Collection[str | None] = ()
    pools: Collection[str] = ()
    queues: Collection[str] = ()
    executors: Collection[str] = ()
    map_indexes: Collection[int] = ()
    start_date_gte: datetime | None = None
    start_date_lte: datetime | None = None
    end_date_gte: datetime | None = None
    end_date_lte: datetime | None = None
    duration_gte: float | None = None
    duration_lte: float | None = None
    limit: int
    offset: int
    order_by: list[str] | str | None = None


def query_filter(
    states: StateFilter = None,
    pool: FromQuery[list[str] | None] = None,
    queue: FromQuery[list[str] | None] = None,
    executor: FromQuery[list[str] | None] = None,
    map_index: MapIndexes = None,
    start_date_gte: FromQuery[datetime | None] = None,
    start_date_lte: FromQuery[datetime | None] = None,
    end_date_gte: FromQuery[datetime | None] = None,
    end_date_lte: FromQuery[datetime | None] = None,
    duration_gte: FromQuery[float | None] = None,
    duration_lte: FromQuery[float | None] = None,
    limit: Limit = 50,
    offset: Offset = 0,
    order_by: OrderBy = None,
) -> TIFilter:
    """The query parameters the listing routes share (the dependency ``filters``)."""
    return TIFilter(
        states=states or (),
        pools=pool or (),
        queues=queue or (),
        executors=executor or (),
        map_indexes=map_index or (),
        start_date_gte=start_date_gte,
        start_date_lte=start_date_lte,
        end_date_gte=end_date_gte,
        end_date_lte=end_date_lte,
        duration_gte=duration_gte,
        duration_lte=duration_lte,
        limit=limit,
        offset=offset,
        order_by=order_by,
    )


# Handlers take ``filters: FiltersFromQuery``: the controller provides it by query_filter.
FiltersFromQuery = NamedDependency[TIFilter]


def _list(
    ctx: ApiContext,
    where: TIFilter,
    *,
    dag_ids: Collection[str] = (),
    run_ids: Collection[str] = (),
    task_ids: Collection[str] = (),
    mapped: bool | None = None,
) -> TaskInstanceCollectionResponse:
    _bounds(where.duration_gte, where.duration_lte, "duration")
    states = parse_states(where.states)
    if any(not -1 <= index <= MAX_INT for index in where.map_indexes):
        raise invalid(f"map indexes are between -1 and {MAX_INT}", field="map_index")
    page = call_store(
        ctx.store.list_task_instances,
        dag_ids=dag_ids,
        run_ids=run_ids,
        task_ids=task_ids,
        states=states,
        pools=where.pools,
        queues=where.queues,
        executors=where.executors,
        map_indexes=where.map_indexes,
        mapped=mapped,
        placeholders=False,
        start_date_gte=aware(where.start_date_gte),
        start_date_lte=aware(where.start_date_lte),
        end_date_gte=aware(where.end_date_gte),
        end_date_lte=aware(where.end_date_lte),
        duration_gte=where.duration_gte,
        duration_lte=where.duration_lte,
        **paging(where.limit, where.offset, where.order_by, "map_index", TI_ORDER),
    )
    return ti_collection(ctx, page.items, page.total)


class TaskInstanceController(Controller):
    path = "/dags/{dag_id:str}/dagRuns/{dag_run_id:str}/taskInstances"
    tags = ["Task Instance"]
    dependencies = {"filters": Provide(query_filter, sync_to_thread=False)}

    @get("/", guards=[can_read], sync_to_thread=True)
    def get_task_instances(
        self,
        ctx: Ctx,
        dag_id: FromPath[str],
        dag_run_id: FromPath[str],
        task_id: FromQuery[str | None] = None,
        *,
        filters: FiltersFromQuery,
    ) -> TaskInstanceCollectionResponse:
        """Task instances of one run; ``~`` as ``dag_id`` and/or ``dag_run_id`` lists
        them across DAGs and runs. Filters combine; list filters match any value."""
        if dag_id != ANY:
            get_dag_or_404(ctx, dag_id)
            if dag_run_id != ANY:
                get_run_or_404(ctx, dag_id, dag_run_id)
        return _list(
            ctx,
            filters,
            dag_ids=[] if dag_id == ANY else [dag_id],
            run_ids=[] if dag_run_id == ANY else [dag_run_id],
            task_ids=[task_id] if task_id else [],
        )

    @post("/list", guards=[can_read], sync_to_thread=True, status_code=HTTP_200_OK)
    def get_task_instances_batch(
        self,
        ctx: Ctx,
        dag_id: FromPath[str],
        dag_run_id: FromPath[str],
        data: JSONBody[TaskInstancesBatchBody],
    ) -> TaskInstanceCollectionResponse:
        """Task instances across DAGs and runs, with the filters in the body (the path
        must be ``/dags/~/dagRuns/~/taskInstances/list``)."""
        if dag_id != ANY or dag_run_id != ANY:
            raise invalid(
                "the batch listing's path is /dags/~/dagRuns/~/taskInstances/list; "
                "filter by DAG and run with dag_ids and dag_run_ids in the body",
                field="dag_id" if dag_id != ANY else "dag_run_id",
                source="path",
            )
        where = TIFilter(
            states=data.state or (),
            pools=data.pool or (),
            queues=data.queue or (),
            executors=data.executor or (),
            start_date_gte=data.start_date_gte,
            start_date_lte=data.start_date_lte,
            end_date_gte=data.end_date_gte,
            end_date_lte=data.end_date_lte,
            duration_gte=data.duration_gte,
            duration_lte=data.duration_lte,
            limit=data.page_limit,
            offset=data.page_offset,
            order_by=data.order_by,
        )
        return _list(
            ctx,
            where,
            dag_ids=data.dag_ids or (),
            run_ids=data.dag_run_ids or (),
            task_ids=data.task_ids or (),
        )

    @get("/{task_id:str}", guards=[can_read], sync_to_thread=True)
    def get_task_instance(
        self, ctx: Ctx, dag_id: FromPath[str], dag_run_id: FromPath[str], task_id: FromPath[str]
    ) -> TaskInstanceResponse:
        ti = get_ti_or_404(ctx, dag_id, dag_run_id, task_id)
        return ti_response(ti, Lookups(ctx))

    @get("/{task_id:str}/{map_index:int}", guards=[can_read], sync_to_thread=True)
    def get_mapped_task_instance(
        self,
        ctx: Ctx,
        dag_id: FromPath[str],
        dag_run_id: FromPath[str],
        task_id: FromPath[str],
        map_index: MapIndexPath,
    ) -> TaskInstanceResponse:
        ti = get_ti_or_404(ctx, dag_id, dag_run_id, task_id, map_index)
        return ti_response(ti, Lookups(ctx))

    @get("/{task_id:str}/listMapped", guards=[can_read], sync_to_thread=True)
    def get_mapped_task_instances(
        self,
        ctx: Ctx,
        dag_id: FromPath[str],
        dag_run_id: FromPath[str],
        task_id: FromPath[str],
        filters: FiltersFromQuery,
    ) -> TaskInstanceCollectionResponse:
        """The expanded task instances (map index >= 0) of one mapped task."""
        get_run_or_404(ctx, dag_id, dag_run_id, dag_first=True)
        if not _has_mapped(ctx, dag_id, dag_run_id, task_id):
            raise NotFoundException(
                f"Task id {task_id} not found or has no mapped task instances in run "
                f"`{dag_run_id}` of Dag `{dag_id}`"
            )
        return _list(
            ctx, filters, dag_ids=[dag_id], run_ids=[dag_run_id], task_ids=[task_id], mapped=True
        )

    # -- tries ---------------------------------------------------------------------------

    @get("/{task_id:str}/tries", guards=[can_read], sync_to_thread=True)
    def get_task_instance_tries(
        self,
        ctx: Ctx,
        dag_id: FromPath[str],
        dag_run_id: FromPath[str],
        task_id: FromPath[str],
        map_index: MapIndexQuery = -1,
    ) -> TaskInstanceHistoryCollectionResponse:
        """Every try of a task instance, oldest first (the current one last)."""
        return _tries(ctx, dag_id, dag_run_id, task_id, map_index)

    @get("/{task_id:str}/{map_index:int}/tries", guards=[can_read], sync_to_thread=True)
    def get_mapped_task_instance_tries(
        self,
        ctx: Ctx,
        dag_id: FromPath[str],
        dag_run_id: FromPath[str],
        task_id: FromPath[str],
        map_index: MapIndexPath,
    ) -> TaskInstanceHistoryCollectionResponse:
        return _tries(ctx, dag_id, dag_run_id, task_id, map_index)

    @get("/{task_id:str}/tries/{task_try_number:int}", guards=[can_read], sync_to_thread=True)
    def get_task_instance_try_details(
        self,
        ctx: Ctx,
        dag_id: FromPath[str],
        dag_run_id: FromPath[str],
        task_id: FromPath[str],
        task_try_number: TryNumberPath,
        map_index: MapIndexQuery = -1,
    ) -> TaskInstanceHistoryResponse:
        return _try(ctx, dag_id, dag_run_id, task_id, map_index, task_try_number)

    @get(
        "/{task_id:str}/{map_index:int}/tries/{task_try_number:int}",
        guards=[can_read],
        sync_to_thread=True,
    )
    def get_mapped_task_instance_try_details(
        self,
        ctx: Ctx,
        dag_id: FromPath[str],
        dag_run_id: FromPath[str],
        task_id: FromPath[str],
        map_index: MapIndexPath,
        task_try_number: TryNumberPath,
    ) -> TaskInstanceHistoryResponse:
        return _try(ctx, dag_id, dag_run_id, task_id, map_index, task_try_number)

    # -- marking -------------------------------------------------------------------------

    @patch("/{task_id:str}", guards=[can_edit], sync_to_thread=True)
    def patch_task_instance(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        dag_run_id: FromPath[str],
        task_id: FromPath[str],
        data: JSONBody[PatchTaskInstanceBody],
        map_index: OptionalMapIndexQuery = None,
        update_mask: FromQuery[list[str] | None] = None,
    ) -> TaskInstanceCollectionResponse:
        """Mark the task instance (every map index of a mapped task unless ``map_index``
        is given) success, failed or skipped, with the relatives asked for."""
        return _patch(
            ctx, request, dag_id, dag_run_id, task_id, map_index, data, update_mask, dry=False
        )

    @patch("/{task_id:str}/{map_index:int}", guards=[can_edit], sync_to_thread=True)
    def patch_task_instance_by_map_index(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        dag_run_id: FromPath[str],
        task_id: FromPath[str],
        map_index: MapIndexPath,
        data: JSONBody[PatchTaskInstanceBody],
        update_mask: FromQuery[list[str] | None] = None,
    ) -> TaskInstanceCollectionResponse:
        return _patch(
            ctx, request, dag_id, dag_run_id, task_id, map_index, data, update_mask, dry=False
        )

    @patch("/{task_id:str}/dry_run", guards=[can_edit], sync_to_thread=True)
    def patch_task_instance_dry_run(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        dag_run_id: FromPath[str],
        task_id: FromPath[str],
        data: JSONBody[PatchTaskInstanceBody],
        map_index: OptionalMapIndexQuery = None,
        update_mask: FromQuery[list[str] | None] = None,
    ) -> TaskInstanceCollectionResponse:
        """The task instances that the same PATCH would change, unchanged."""
        return _patch(
            ctx, request, dag_id, dag_run_id, task_id, map_index, data, update_mask, dry=True
        )

    @patch("/{task_id:str}/{map_index:int}/dry_run", guards=[can_edit], sync_to_thread=True)
    def patch_task_instance_dry_run_by_map_index(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        dag_run_id: FromPath[str],
        task_id: FromPath[str],
        map_index: MapIndexPath,
        data: JSONBody[PatchTaskInstanceBody],
        update_mask: FromQuery[list[str] | None] = None,
    ) -> TaskInstanceCollectionResponse:
        return _patch(
            ctx, request, dag_id, dag_run_id, task_id, map_index, data, update_mask, dry=True
        )


def _tries(
    ctx: ApiContext, dag_id: str, run_id: str, task_id: str, map_index: int
) -> TaskInstanceHistoryCollectionResponse:
    ti = get_ti_or_404(ctx, dag_id, run_id, task_id, map_index)
    lookups = Lookups(ctx)
    tries = [t for t in ctx.store.list_task_instance_tries(ti.ref) if t.try_number > 0]
    return TaskInstanceHistoryCollectionResponse(
        task_instances=[history_response(t, lookups) for t in tries], total_entries=len(tries)
    )


def _try(
    ctx: ApiContext, dag_id: str, run_id: str, task_id: str, map_index: int, number: int
) -> TaskInstanceHistoryResponse:
    ti = get_ti_or_404(ctx, dag_id, run_id, task_id, map_index)
    for found in ctx.store.list_task_instance_tries(ti.ref):
        if found.try_number == number and number > 0:
            return history_response(found, Lookups(ctx))
    raise NotFoundException(
        f"The Task Instance History with dag_id: `{dag_id}`, run_id: `{run_id}`, "
        f"task_id: `{task_id}`, map_index: `{map_index}` and try_number: `{number}` "
        "was not found"
    )


PATCHABLE = ("new_state", "note")


def check_note(note: str | None) -> None:
    if note is not None and len(note) > MAX_NOTE_LEN:
        raise invalid(
            f"a note has at most {MAX_NOTE_LEN} characters, not {len(note)}",
            field="note",
            source="body",
        )


def caller(request: Request[Any, Any, Any]) -> str | None:
    name = getattr(request.user, "name", None)
    return str(name) if name else None


def _patch(
    ctx: ApiContext,
    request: Request[Any, Any, Any],
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: int | None,
    data: PatchTaskInstanceBody,
    update_mask: list[str] | None,
    *,
    dry: bool,
) -> TaskInstanceCollectionResponse:
    """Mark (``new_state``) and/or annotate (``note``) task instances. Without an
    update mask a null note is left alone; with one naming ``note``, null clears it."""
    if update_mask and set(update_mask) - set(PATCHABLE):
        raise HTTPException(
            status_code=HTTP_400_BAD_REQUEST,
            detail=f"Only {', '.join(f'`{f}`' for f in PATCHABLE)} can be updated; "
            f"update_mask has {', '.join(sorted(set(update_mask) - set(PATCHABLE)))}",
        )
    fields = set(update_mask or PATCHABLE)
    new_state = data.new_state if "new_state" in fields else None
    set_note = "note" in fields and (data.note is not None or bool(update_mask))
    check_note(data.note)
    state: TIS | None = None
    if new_state is not None:
        state = TIS(new_state.value)
        if state not in MARKABLE_STATES:
            allowed = ", ".join(sorted(s.value for s in MARKABLE_STATES))
            raise invalid(
                f"'new_state' should be one of {allowed}, not {state.value}",
                field="new_state",
                source="body",
            )
    elif not set_note:
        raise invalid(
            "give new_state (success, failed or skipped), a note, or both",
            field="new_state",
            source="body",
        )
    get_run_or_404(ctx, dag_id, run_id, dag_first=True)
    if map_index is None:
        named = _task_tis(ctx, dag_id, run_id, task_id)
    else:
        named = [get_ti_or_404(ctx, dag_id, run_id, task_id, map_index)]
    changed: tuple[TaskInstance, ...] = ()
    if state is not None:
        changed = call_store(
            mark_task_instances,
            ctx.store,
            dag_id,
            run_id,
            task_id,
            state,
            map_index=map_index,
            upstream=data.include_upstream,
            downstream=data.include_downstream,
            past=data.include_past,
            future=data.include_future,
            dry_run=dry,
        )
        if not changed and not dry:
            raise HTTPException(
                status_code=HTTP_409_CONFLICT,
                detail=f"Task id {task_id} is already in {state.value} state",
            )
    if not set_note:
        return ti_collection(ctx, changed)
    if dry:
        seen = {ti.id for ti in changed}
        return ti_collection(ctx, [*changed, *(ti for ti in named if ti.id not in seen)])
    ctx.store.set_task_instance_notes([ti.id for ti in named], data.note, author=caller(request))
    ids = {ti.id for ti in changed} | {ti.id for ti in named}
    return ti_collection(ctx, ctx.store.get_task_instances_by_id(ids))


def _task_tis(ctx: ApiContext, dag_id: str, run_id: str, task_id: str) -> list[TaskInstance]:
    """Every task instance of a task in a run (each map index), or a 404."""
    page = ctx.store.list_task_instances(
        dag_ids=[dag_id], run_ids=[run_id], task_ids=[task_id], placeholders=False
    )
    if page.total == 0:
        raise _ti_not_found(dag_id, run_id, task_id, None)
    return list(page.items)


# -- clearing ------------------------------------------------------------------------------


def _task_selection(
    items: list[str | list[str | int]] | None,
) -> tuple[list[str], dict[str, list[int]]]:
    """Airflow's ``task_ids``: task ids, or ``[task_id, map_index]`` pairs."""
    plain: set[str] = set()
    pairs: dict[str, list[int]] = {}
    for item in items or ():
        if isinstance(item, str):
            plain.add(item)
            continue
        if (
            len(item) != 2
            or not isinstance(item[0], str)
            or isinstance(item[1], bool)
            or not isinstance(item[1], int)
        ):
            raise invalid(
                f"each of task_ids is a task id or a [task_id, map_index] pair, not {item!r}",
                field="task_ids",
                source="body",
            )
        pairs.setdefault(item[0], []).append(item[1])
    for task_id in plain:
        pairs.pop(task_id, None)  # named whole: every map index
    return sorted(plain | set(pairs)), pairs


@post(
    "/dags/{dag_id:str}/clearTaskInstances",
    guards=[can_edit],
    sync_to_thread=True,
    status_code=HTTP_200_OK,
    tags=["Task Instance"],
)
def post_clear_task_instances(
    ctx: Ctx,
    request: Request[Any, Any, Any],
    dag_id: FromPath[str],
    data: JSONBody[ClearTaskInstancesBody],
) -> TaskInstanceCollectionResponse:
    """Clear task instances so the scheduler runs them again (``dry_run``, the
    default, only lists them). Finished runs they belong to are queued again; a
    ``note`` is left on every cleared task instance."""
    get_dag_or_404(ctx, dag_id)
    check_note(data.note)
    if data.only_failed and data.only_running:
        raise invalid(
            "only_failed and only_running exclude each other (only_failed is true unless "
            "set to false)",
            field="only_running",
            source="body",
        )
    start, end = aware(data.start_date), aware(data.end_date)
    if start is not None and end is not None and start > end:
        raise invalid(
            "start_date is after end_date: nothing can match", field="start_date", source="body"
        )
    run_ids: list[str] = []
    if data.dag_run_id is not None:
        run = or_404(
            ctx.store.get_dag_run(dag_id, data.dag_run_id),
            f"Dag Run id {data.dag_run_id} not found in dag {dag_id}",
        )
        around = runs_around(ctx.store, run, past=data.include_past, future=data.include_future)
        run_ids = [r.run_id for r in around]
    task_ids, map_indexes = _task_selection(data.task_ids)
    options: dict[str, Any] = {
        "run_ids": run_ids,
        "start": start,
        "end": end,
        "task_ids": task_ids,
        "map_indexes": map_indexes,
        "include_upstream": data.include_upstream,
        "include_downstream": data.include_downstream,
        "only_failed": data.only_failed,
        "only_running": data.only_running,
        "use_latest_version": bool(data.run_on_latest_version),
    }
    preview = call_store(clear_task_instances, ctx.store, dag_id, dry_run=True, **options)
    running = [ti for ti in preview.cleared if ti.state in (TIS.RUNNING, TIS.QUEUED)]
    if data.prevent_running_task and running:
        names = ", ".join(sorted({ti.task_id for ti in running}))
        raise HTTPException(
            status_code=HTTP_400_BAD_REQUEST,
            detail=f"Currently running task instances cannot be cleared "
            f"(prevent_running_task is true): {names}",
        )
    if data.dry_run:
        return ti_collection(ctx, preview.cleared)
    result = call_store(clear_task_instances, ctx.store, dag_id, **options)
    ids = [ti.id for ti in result.cleared]
    if data.note is not None and ids:
        ctx.store.set_task_instance_notes(ids, data.note, author=caller(request))
    return ti_collection(ctx, ctx.store.get_task_instances_by_id(ids))
