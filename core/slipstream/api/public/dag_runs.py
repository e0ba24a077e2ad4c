"""``/api/v2/dags/{dag_id}/dagRuns``: list (``~`` = every DAG), batch list, get,
trigger, mark (PATCH), delete and clear runs, in Airflow 3's shapes.

The rules live in shared code, as for the CLI: triggering (conf checked against the
DAG's params) in :mod:`slipstream.scheduler.triggering`, marking a run success or
failed in :mod:`slipstream.scheduler.marking`, clearing in
:mod:`slipstream.scheduler.clearing`. Handlers translate bodies and errors.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import attrs
import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_400_BAD_REQUEST

from slipstream.api.auth.guards import can_edit, can_read
from slipstream.api.auth.middleware import Principal
from slipstream.api.context import ApiContext
from slipstream.api.errors import invalid
from slipstream.api.public.common import (
    ANY,
    MAX_NOTE_LEN,
    Ctx,
    Limit,
    Offset,
    OrderBy,
    as_uuid,
    aware,
    call_store,
    get_run_or_404,
    or_404,
    order_field,
    page_limit,
)
from slipstream.api.public.dag_versions import DagVersionResponse, VersionCache
from slipstream.api.public.task_instances import ti_fields
from slipstream.errors import NotFoundError
from slipstream.metadata.records import DagRun, Page, TaskInstance
from slipstream.scheduler.clearing import clear_task_instances
from slipstream.scheduler.marking import mark_dag_run
from slipstream.scheduler.triggering import TriggerError, trigger_dag_run
from slipstream.state import DagRunState, DagRunType

RUN_ORDER = {
    "id": "id",
    "state": "state",
    "dag_id": "dag_id",
    "run_id": "run_id",
    "dag_run_id": "run_id",
    "logical_date": "logical_date",
    "run_after": "run_after",
    "start_date": "start_date",
    "end_date": "end_date",
}
AIRFLOW_RUN_TYPES = frozenset(
    {
        "backfill",
        "scheduled",
        "manual",
        "operator_triggered",
        "asset_triggered",
        "asset_materialization",
    }
)
# How slipstream records who created a run -> Airflow's DagRunTriggeredByType.
TRIGGERED_BY = {
    "cli": "cli",
    "dags test": "test",
    "operator": "operator",
    "rest_api": "rest_api",
    "ui": "ui",
    "scheduler": "timetable",
    "backfill": "backfill",
    "asset": "asset",
}
# Airflow 3.3's listing filters slipstream cannot apply yet: refused, never ignored.
UNSUPPORTED_RUN_FILTERS = (
    "cursor",
    "partition_date_gte",
    "partition_date_lte",
    "duration_gte",
    "duration_gt",
    "duration_lte",
    "duration_lt",
    "updated_at_gte",
    "updated_at_gt",
    "updated_at_lte",
    "updated_at_lt",
    "conf_contains",
    "dag_version",
    "bundle_version",
    "run_id_pattern",
    "run_id_prefix_pattern",
    "triggering_user_name_pattern",
    "triggering_user_name_prefix_pattern",
    "dag_id_prefix_pattern",
    "partition_key_pattern",
    "partition_key_prefix_pattern",
    "consuming_asset_pattern",
)
_US = timedelta(microseconds=1)


# -- records ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class DAGRunResponse:
    dag_run_id: str
    dag_id: str
    logical_date: datetime | None
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    run_after: datetime
    last_scheduling_decision: datetime | None
    run_type: str
    state: str
    triggered_by: str | None
    triggering_user_name: str | None
    conf: dict[str, Any] | None
    note: str | None
    dag_versions: list[DagVersionResponse]
    bundle_version: str | None
    dag_display_name: str
    partition_key: str | None
    partition_date: datetime | None


@attrs.frozen(kw_only=True)
class DAGRunCollectionResponse:
    dag_runs: list[DAGRunResponse]
    total_entries: int | None
    total_entries_limit: int | None = None
    next_cursor: str | None = None
    previous_cursor: str | None = None


@attrs.frozen(kw_only=True)
class TriggerDAGRunPostBody:
    logical_date: datetime | None  # required, as in Airflow 3: null means "no logical date"
    dag_run_id: str | None = None
    data_interval_start: datetime | None = None
    data_interval_end: datetime | None = None
    run_after: datetime | None = None
    conf: dict[str, Any] | None = None
    note: str | None = None
    partition_key: str | None = None


class DAGRunPatchStates(StrEnum):
    QUEUED = "queued"
    SUCCESS = "success"
    FAILED = "failed"


@attrs.frozen(kw_only=True)
class DAGRunPatchBody:
    """Only the fields sent are changed (``UNSET`` = not in the body)."""

    state: DAGRunPatchStates | msgspec.UnsetType | None = msgspec.UNSET
    note: str | msgspec.UnsetType | None = msgspec.UNSET


@attrs.frozen(kw_only=True)
class DAGRunClearBody:
    dry_run: bool = True
    only_failed: bool = False
    only_new: bool = False
    run_on_latest_version: bool | None = None
    note: str | None = None


@attrs.frozen(kw_only=True)
class DAGRunsBatchBody:
    order_by: str | None = None
    page_offset: int = 0
    page_limit: int = 100
    dag_ids: list[str] | None = None
    states: list[DagRunState | None] | None = None
    run_after_gte: datetime | None = None
    run_after_gt: datetime | None = None
    run_after_lte: datetime | None = None
    run_after_lt: datetime | None = None
    logical_date_gte: datetime | None = None
    logical_date_gt: datetime | None = None
    logical_date_lte: datetime | None = None
    logical_date_lt: datetime | None = None
    start_date_gte: datetime | None = None
    start_date_gt: datetime | None = None
    start_date_lte: datetime | None = None
    start_date_lt: datetime | None = None
    end_date_gte: datetime | None = None
    end_date_gt: datetime | None = None
    end_date_lte: datetime | None = None
    end_date_lt: datetime | None = None
    # Accepted so that using them is a clear 422 rather than silently ignored.
    duration_gte: float | None = None
    duration_gt: float | None = None
    duration_lte: float | None = None
    duration_lt: float | None = None
    conf_contains: str | None = None


@attrs.frozen(kw_only=True)
class TaskInstanceResponse:
    """A task instance in Airflow 3's shape, as a clear's dry run lists them."""

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
    state: str | None
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
    trigger: dict[str, Any] | None
    triggerer_job: dict[str, Any] | None
    dag_version: DagVersionResponse | None


@attrs.frozen(kw_only=True)
class ClearTaskInstanceCollectionResponse:
    task_instances: list[TaskInstanceResponse]
    total_entries: int


# -- conversions -------------------------------------------------------------------------


def run_response(run: DagRun, versions: VersionCache) -> DAGRunResponse:
    version = versions.response(run.dag_version_id)
    duration = (
        (run.end_date - run.start_date).total_seconds()
        if run.start_date is not None and run.end_date is not None
        else None
    )
    return DAGRunResponse(
        dag_run_id=run.run_id,
        dag_id=run.dag_id,
        logical_date=run.logical_date,
        queued_at=run.queued_at,
        start_date=run.start_date,
        end_date=run.end_date,
        duration=duration,
        data_interval_start=run.data_interval_start,
        data_interval_end=run.data_interval_end,
        run_after=run.run_after,
        last_scheduling_decision=None,
        run_type=run.run_type.value,
        state=run.state.value,
        triggered_by=TRIGGERED_BY.get(run.triggered_by or ""),
        triggering_user_name=run.triggering_user_name,
        conf=dict(run.conf),
        note=run.note,
        dag_versions=[version] if version is not None else [],
        bundle_version=None,
        dag_display_name=run.dag_id,
        partition_key=None,
        partition_date=None,
    )


def ti_response(ti: TaskInstance, run: DagRun, versions: VersionCache) -> TaskInstanceResponse:
    """A task instance as a clear's dry run lists it (no note, no rendered map index)."""
    return TaskInstanceResponse(
        id=as_uuid(ti.id),
        logical_date=run.logical_date,
        run_after=run.run_after,
        note=None,
        rendered_map_index=None,
        rendered_fields=dict(ti.rendered_fields or {}),
        trigger=None,
        triggerer_job=None,
        **ti_fields(ti, versions),
    )


def _shifted(value: datetime | None, delta: timedelta) -> datetime | None:
    moment = aware(value)
    return moment + delta if moment is not None else None


def _bounds(
    gte: datetime | None, gt: datetime | None, lte: datetime | None, lt: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """Airflow's four bounds as the store's two inclusive ones (datetimes are stored to
    the microsecond, so ``> t`` is ``>= t + 1µs``)."""
    lows = [d for d in (aware(gte), _shifted(gt, _US)) if d is not None]
    highs = [d for d in (aware(lte), _shifted(lt, -_US)) if d is not None]
    return (max(lows) if lows else None), (min(highs) if highs else None)


def _run_types(run_type: Collection[str]) -> list[str] | None:
    """The store's run types for Airflow's; None when they cannot match any run."""
    unknown = sorted(set(run_type) - AIRFLOW_RUN_TYPES)
    if unknown:
        raise invalid(
            f"Invalid value for run type: {', '.join(unknown)}; valid values are "
            f"{', '.join(sorted(AIRFLOW_RUN_TYPES))}",
            field="run_type",
        )
    ours = {t.value for t in DagRunType}
    known = [t for t in run_type if t in ours]
    return None if run_type and not known else known


def _states(state: Collection[str | None]) -> list[DagRunState]:
    valid = {s.value for s in DagRunState}
    wrong = sorted(s for s in state if s is not None and s not in valid)
    if wrong:
        raise invalid(
            f"Invalid value for state: {', '.join(wrong)}; valid values are "
            f"{', '.join(s.value for s in DagRunState)}",
            field="state",
        )
    return [DagRunState(s) for s in state if s is not None]


@attrs.frozen(kw_only=True)
class _RunQuery:
    """One listing of runs, from either the query string or the batch body."""

    dag_ids: list[str]
    states: list[DagRunState]
    run_types: list[str] | None  # None: nothing can match
    logical_date: tuple[datetime | None, datetime | None]
    run_after: tuple[datetime | None, datetime | None]
    start_date: tuple[datetime | None, datetime | None]
    end_date: tuple[datetime | None, datetime | None]
    limit: int
    offset: int
    order_by: str

    def run(self, ctx: ApiContext) -> DAGRunCollectionResponse:
        if self.run_types is None:
            return DAGRunCollectionResponse(dag_runs=[], total_entries=0)
        page: Page[DagRun] = call_store(
            ctx.store.list_dag_runs,
            dag_ids=self.dag_ids,
            states=self.states,
            run_types=self.run_types,
            logical_date_gte=self.logical_date[0],
            logical_date_lte=self.logical_date[1],
            run_after_gte=self.run_after[0],
            run_after_lte=self.run_after[1],
            start_date_gte=self.start_date[0],
            start_date_lte=self.start_date[1],
            end_date_gte=self.end_date[0],
            end_date_lte=self.end_date[1],
            limit=page_limit(self.limit),
            offset=self.offset,
            order_by=self.order_by,
        )
        versions = VersionCache(ctx)
        return DAGRunCollectionResponse(
            dag_runs=[run_response(run, versions) for run in page.items],
            total_entries=page.total,
        )


def _check_note(note: str | None) -> None:
    if note is not None and len(note) > MAX_NOTE_LEN:
        raise invalid(
            f"String should have at most {MAX_NOTE_LEN} characters", field="note", source="body"
        )


def _check_aware(values: Mapping[str, datetime | None]) -> None:
    for name, value in values.items():
        if value is not None and value.tzinfo is None:
            raise invalid("Input should have timezone info", field=name, source="body")


# -- the routes --------------------------------------------------------------------------


class DagRunController(Controller):
    path = "/dags/{dag_id:str}/dagRuns"
    tags = ["DagRun"]

    @get("/", guards=[can_read], sync_to_thread=True)
    def get_dag_runs(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        limit: Limit = 50,
        offset: Offset = 0,
        run_after_gte: FromQuery[datetime | None] = None,
        run_after_gt: FromQuery[datetime | None] = None,
        run_after_lte: FromQuery[datetime | None] = None,
        run_after_lt: FromQuery[datetime | None] = None,
        logical_date_gte: FromQuery[datetime | None] = None,
        logical_date_gt: FromQuery[datetime | None] = None,
        logical_date_lte: FromQuery[datetime | None] = None,
        logical_date_lt: FromQuery[datetime | None] = None,
        start_date_gte: FromQuery[datetime | None] = None,
        start_date_gt: FromQuery[datetime | None] = None,
        start_date_lte: FromQuery[datetime | None] = None,
        start_date_lt: FromQuery[datetime | None] = None,
        end_date_gte: FromQuery[datetime | None] = None,
        end_date_gt: FromQuery[datetime | None] = None,
        end_date_lte: FromQuery[datetime | None] = None,
        end_date_lt: FromQuery[datetime | None] = None,
        run_type: FromQuery[list[str] | None] = None,
        run_state: Annotated[list[str] | None, QueryParameter(name="state")] = None,
        dag_id_pattern: FromQuery[str | None] = None,
        order_by: OrderBy = None,
    ) -> DAGRunCollectionResponse:
        """Runs of one DAG, or of every DAG with ``~`` as the DAG id (then
        ``dag_id_pattern`` narrows the DAGs); date bounds are inclusive (``_gte``,
        ``_lte``) or strict (``_gt``, ``_lt``); naive dates are UTC."""
        unsupported = [name for name in UNSUPPORTED_RUN_FILTERS if name in request.query_params]
        if unsupported:
            raise invalid(
                f"slipstream does not support the filter {unsupported[0]!r} yet",
                field=unsupported[0],
            )
        if dag_id == ANY:
            dag_ids: list[str] = []
            if dag_id_pattern:
                matching = ctx.store.list_dags(
                    active=None, dag_id_pattern=dag_id_pattern, limit=None
                ).items
                dag_ids = [dag.dag_id for dag in matching]
                if not dag_ids:
                    return DAGRunCollectionResponse(dag_runs=[], total_entries=0)
        else:
            or_404(ctx.store.get_dag(dag_id), f"The DAG with dag_id: `{dag_id}` was not found")
            dag_ids = [dag_id]
        query = _RunQuery(
            dag_ids=dag_ids,
            states=_states(run_state or []),
            run_types=_run_types(run_type or []),
            logical_date=_bounds(
                logical_date_gte, logical_date_gt, logical_date_lte, logical_date_lt
            ),
            run_after=_bounds(run_after_gte, run_after_gt, run_after_lte, run_after_lt),
            start_date=_bounds(start_date_gte, start_date_gt, start_date_lte, start_date_lt),
            end_date=_bounds(end_date_gte, end_date_gt, end_date_lte, end_date_lt),
            limit=limit,
            offset=offset,
            order_by=order_field(order_by, "id", RUN_ORDER),
        )
        return query.run(ctx)

    @post("/list", guards=[can_read], sync_to_thread=True, status_code=HTTP_200_OK)
    def get_list_dag_runs_batch(
        self, ctx: Ctx, dag_id: FromPath[str], data: JSONBody[DAGRunsBatchBody]
    ) -> DAGRunCollectionResponse:
        """Runs of the DAGs in ``dag_ids`` (all when empty); the path's DAG id must be ``~``."""
        if dag_id != ANY:
            raise invalid(
                "Input should be '~': list the runs of some DAGs with `dag_ids` in the body",
                field="dag_id",
                source="path",
            )
        if data.page_offset < 0 or data.page_limit < 0:
            field = "page_offset" if data.page_offset < 0 else "page_limit"
            raise invalid("Input should be greater than or equal to 0", field=field, source="body")
        used = [
            name
            for name in ("duration_gte", "duration_gt", "duration_lte", "duration_lt")
            if getattr(data, name) is not None
        ] + (["conf_contains"] if data.conf_contains is not None else [])
        if used:
            raise invalid(
                f"slipstream does not support the filter {used[0]!r} yet",
                field=used[0],
                source="body",
            )
        query = _RunQuery(
            dag_ids=list(data.dag_ids or []),
            states=_states([s.value if s is not None else None for s in data.states or []]),
            run_types=[],
            logical_date=_bounds(
                data.logical_date_gte,
                data.logical_date_gt,
                data.logical_date_lte,
                data.logical_date_lt,
            ),
            run_after=_bounds(
                data.run_after_gte, data.run_after_gt, data.run_after_lte, data.run_after_lt
            ),
            start_date=_bounds(
                data.start_date_gte, data.start_date_gt, data.start_date_lte, data.start_date_lt
            ),
            end_date=_bounds(
                data.end_date_gte, data.end_date_gt, data.end_date_lte, data.end_date_lt
            ),
            limit=data.page_limit,
            offset=data.page_offset,
            order_by=order_field(data.order_by, "id", RUN_ORDER),
        )
        return query.run(ctx)

    @get("/{dag_run_id:str}", guards=[can_read], sync_to_thread=True)
    def get_dag_run(
        self, ctx: Ctx, dag_id: FromPath[str], dag_run_id: FromPath[str]
    ) -> DAGRunResponse:
        return run_response(get_run_or_404(ctx, dag_id, dag_run_id), VersionCache(ctx))

    @post("/", guards=[can_edit], sync_to_thread=True, status_code=HTTP_200_OK)
    def trigger_dag_run(
        self,
        ctx: Ctx,
        request: Request[Principal, Any, Any],
        dag_id: FromPath[str],
        data: JSONBody[TriggerDAGRunPostBody],
    ) -> DAGRunResponse:
        """Queue a run of the DAG's latest version (a paused DAG too, as in Airflow);
        ``conf`` is checked against the DAG's params first."""
        dag = ctx.store.get_dag(dag_id)
        if dag is None or not dag.is_active:
            raise NotFoundException(f"DAG with dag_id: '{dag_id}' not found")
        _check_aware(
            {
                "logical_date": data.logical_date,
                "data_interval_start": data.data_interval_start,
                "data_interval_end": data.data_interval_end,
                "run_after": data.run_after,
            }
        )
        if (data.data_interval_start is None) != (data.data_interval_end is None):
            raise invalid(
                "Either both data_interval_start and data_interval_end must be provided "
                "or both must be None",
                field="data_interval_start",
                source="body",
            )
        if data.partition_key is not None:
            raise invalid(
                "slipstream does not support partitioned runs (partition_key) yet",
                field="partition_key",
                source="body",
            )
        errors = ctx.store.list_import_errors(limit=None).items
        if any(error.filename == dag.fileloc for error in errors):
            raise HTTPException(
                status_code=HTTP_400_BAD_REQUEST,
                detail=f"DAG with dag_id: '{dag_id}' has import errors and cannot be triggered",
            )
        interval = (
            (data.data_interval_start, data.data_interval_end)
            if data.logical_date is not None
            and data.data_interval_start is not None
            and data.data_interval_end is not None
            else None
        )
        try:
            run = trigger_dag_run(
                ctx.store,
                dag_id,
                conf=data.conf,
                logical_date=data.logical_date,
                run_id=data.dag_run_id or None,
                triggered_by="rest_api",
                data_interval=interval,
                run_after=data.run_after,
                without_logical_date=data.logical_date is None,
                note=data.note,
                triggering_user_name=request.user.name,
            )
        except NotFoundError:
            raise NotFoundException(f"DAG with dag_id: '{dag_id}' not found") from None
        except TriggerError as exc:
            raise HTTPException(status_code=HTTP_400_BAD_REQUEST, detail=str(exc)) from None
        return run_response(run, VersionCache(ctx))

    @patch("/{dag_run_id:str}", guards=[can_edit], sync_to_thread=True)
    def patch_dag_run(
        self,
        ctx: Ctx,
        dag_id: FromPath[str],
        dag_run_id: FromPath[str],
        data: JSONBody[DAGRunPatchBody],
        update_mask: FromQuery[list[str] | None] = None,
    ) -> DAGRunResponse:
        """Mark a run success, failed or queued (with its task instances, as Airflow
        does) and/or set its note; ``update_mask`` limits which sent fields apply."""
        get_run_or_404(ctx, dag_id, dag_run_id)
        fields = {name for name in ("state", "note") if getattr(data, name) is not msgspec.UNSET}
        if update_mask:
            fields &= set(update_mask)
        if "note" in fields and isinstance(data.note, str):
            _check_note(data.note)
        if "state" in fields and isinstance(data.state, DAGRunPatchStates):
            mark_dag_run(
                ctx.store, dag_id, dag_run_id, DagRunState(data.state.value), plugins=ctx.plugins
            )
        if "note" in fields and not isinstance(data.note, msgspec.UnsetType):
            ctx.store.set_dag_run_note(dag_id, dag_run_id, data.note)
        return run_response(get_run_or_404(ctx, dag_id, dag_run_id), VersionCache(ctx))

    @delete("/{dag_run_id:str}", guards=[can_edit], sync_to_thread=True)
    def delete_dag_run(self, ctx: Ctx, dag_id: FromPath[str], dag_run_id: FromPath[str]) -> None:
        """Delete a run with its task instances, their tries and XComs."""
        get_run_or_404(ctx, dag_id, dag_run_id)
        ctx.store.delete_dag_run(dag_id, dag_run_id)

    @post(
        "/{dag_run_id:str}/clear", guards=[can_edit], sync_to_thread=True, status_code=HTTP_200_OK
    )
    def clear_dag_run(
        self,
        ctx: Ctx,
        dag_id: FromPath[str],
        dag_run_id: FromPath[str],
        data: JSONBody[DAGRunClearBody],
    ) -> ClearTaskInstanceCollectionResponse | DAGRunResponse:
        """Clear a run's task instances so they run again. ``dry_run`` (the default!)
        only lists what would be cleared."""
        run = get_run_or_404(ctx, dag_id, dag_run_id)
        _check_note(data.note)
        if data.only_new:
            raise invalid("only_new is not supported yet", field="only_new", source="body")
        result = clear_task_instances(
            ctx.store,
            dag_id,
            run_ids=[dag_run_id],
            only_failed=data.only_failed,
            dry_run=data.dry_run,
            use_latest_version=bool(data.run_on_latest_version),
        )
        versions = VersionCache(ctx)
        if data.dry_run:
            tis = [ti_response(ti, run, versions) for ti in result.cleared]
            return ClearTaskInstanceCollectionResponse(task_instances=tis, total_entries=len(tis))
        if data.note is not None:
            ctx.store.set_dag_run_note(dag_id, dag_run_id, data.note)
        return run_response(get_run_or_404(ctx, dag_id, dag_run_id), versions)
