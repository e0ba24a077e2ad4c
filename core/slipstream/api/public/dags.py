"""``/api/v2/dags``: list, get, and pause or unpause DAGs."""

from __future__ import annotations

from datetime import datetime

import attrs
from litestar import Controller, get, patch
from litestar.exceptions import HTTPException
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_400_BAD_REQUEST

from slipstream.api.auth.guards import can_edit, can_read
from slipstream.api.context import ApiContext
from slipstream.api.public.common import (
    Ctx,
    Limit,
    Offset,
    OrderBy,
    call_store,
    get_dag_or_404,
    paging,
)
from slipstream.metadata.records import Dag

BUNDLE_NAME = "dags-folder"  # Airflow 3's name for the one bundle slipstream has
DAG_ORDER = {
    "dag_id": "dag_id",
    "dag_display_name": "dag_id",
    "next_dagrun": "next_dagrun",
    "last_parsed_time": "last_parsed_time",
    "fileloc": "fileloc",
    "is_paused": "is_paused",
}


@attrs.frozen(kw_only=True)
class DagTagResponse:
    name: str
    dag_id: str
    dag_display_name: str


@attrs.frozen(kw_only=True)
class DAGResponse:
    dag_id: str
    dag_display_name: str
    is_paused: bool
    is_stale: bool
    last_parsed_time: datetime | None
    last_parse_duration: float | None
    last_expired: datetime | None
    bundle_name: str | None
    bundle_version: str | None
    relative_fileloc: str | None
    fileloc: str
    description: str | None
    timetable_summary: str | None
    timetable_description: str | None
    timetable_partitioned: bool
    timetable_periodic: bool
    tags: list[DagTagResponse]
    max_active_tasks: int
    max_active_runs: int | None
    max_consecutive_failed_dag_runs: int
    has_task_concurrency_limits: bool
    has_import_errors: bool
    next_dagrun_logical_date: datetime | None
    next_dagrun_data_interval_start: datetime | None
    next_dagrun_data_interval_end: datetime | None
    next_dagrun_run_after: datetime | None
    allowed_run_types: list[str] | None
    owners: list[str]
    is_backfillable: bool
    file_token: str


@attrs.frozen(kw_only=True)
class DAGCollectionResponse:
    dags: list[DAGResponse]
    total_entries: int


@attrs.frozen(kw_only=True)
class DAGPatchBody:
    is_paused: bool


@attrs.define
class _FileFacts:
    """Per-file facts a DAG response needs, read once per request."""

    parse_durations: dict[str, float]
    import_error_files: set[str]

    @classmethod
    def read(cls, ctx: ApiContext) -> _FileFacts:
        return cls(
            parse_durations={p.path: p.parse_duration for p in ctx.store.list_file_parses()},
            import_error_files={e.filename for e in ctx.store.list_import_errors(limit=None).items},
        )


def dag_response(dag: Dag, facts: _FileFacts) -> DAGResponse:
    periodic = dag.schedule not in (None, "None", "@once")
    return DAGResponse(
        dag_id=dag.dag_id,
        dag_display_name=dag.dag_id,
        is_paused=dag.is_paused,
        is_stale=not dag.is_active,
        last_parsed_time=dag.last_parsed_time,
        last_parse_duration=facts.parse_durations.get(dag.fileloc),
        last_expired=None,
        bundle_name=BUNDLE_NAME,
        bundle_version=None,
        relative_fileloc=dag.relative_fileloc,
        fileloc=dag.fileloc,
        description=dag.description,
        timetable_summary=dag.schedule,
        timetable_description=dag.schedule,
        timetable_partitioned=False,
        timetable_periodic=periodic,
        tags=[
            DagTagResponse(name=tag, dag_id=dag.dag_id, dag_display_name=dag.dag_id)
            for tag in dag.tags
        ],
        max_active_tasks=dag.max_active_tasks,
        max_active_runs=dag.max_active_runs,
        max_consecutive_failed_dag_runs=0,
        has_task_concurrency_limits=False,
        has_import_errors=dag.fileloc in facts.import_error_files,
        next_dagrun_logical_date=dag.next_run.logical_date,
        next_dagrun_data_interval_start=dag.next_run.data_interval_start,
        next_dagrun_data_interval_end=dag.next_run.data_interval_end,
        next_dagrun_run_after=dag.next_run.create_after,
        allowed_run_types=None,
        owners=list(dag.owners),
        is_backfillable=periodic,
        file_token=dag.relative_fileloc or dag.fileloc,
    )


class DagController(Controller):
    path = "/dags"
    tags = ["DAG"]

    @get("/", guards=[can_read], sync_to_thread=True)
    def get_dags(
        self,
        ctx: Ctx,
        limit: Limit = 50,
        offset: Offset = 0,
        tags: FromQuery[list[str] | None] = None,
        dag_id_pattern: FromQuery[str | None] = None,
        paused: FromQuery[bool | None] = None,
        exclude_stale: FromQuery[bool] = True,
        order_by: OrderBy = None,
    ) -> DAGCollectionResponse:
        """DAGs matching every filter (``tags``: any of them; ``dag_id_pattern``:
        case-insensitive substring)."""
        page = call_store(
            ctx.store.list_dags,
            paused=paused,
            active=True if exclude_stale else None,
            tags=tags or (),
            dag_id_pattern=dag_id_pattern,
            **paging(limit, offset, order_by, "dag_id", DAG_ORDER),
        )
        facts = _FileFacts.read(ctx)
        return DAGCollectionResponse(
            dags=[dag_response(dag, facts) for dag in page.items], total_entries=page.total
        )

    @get("/{dag_id:str}", guards=[can_read], sync_to_thread=True)
    def get_dag(self, ctx: Ctx, dag_id: FromPath[str]) -> DAGResponse:
        return dag_response(get_dag_or_404(ctx, dag_id), _FileFacts.read(ctx))

    @patch("/{dag_id:str}", guards=[can_edit], sync_to_thread=True)
    def patch_dag(
        self,
        ctx: Ctx,
        dag_id: FromPath[str],
        data: JSONBody[DAGPatchBody],
        update_mask: FromQuery[list[str] | None] = None,
    ) -> DAGResponse:
        """Pause or unpause a DAG (``is_paused`` is the one field that can change)."""
        if update_mask and set(update_mask) - {"is_paused"}:
            raise HTTPException(
                status_code=HTTP_400_BAD_REQUEST,
                detail="Only `is_paused` field can be updated through the REST API",
            )
        get_dag_or_404(ctx, dag_id)
        dag = ctx.store.set_dag_paused(dag_id, data.is_paused)
        return dag_response(dag, _FileFacts.read(ctx))
