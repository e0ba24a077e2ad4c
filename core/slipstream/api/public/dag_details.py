"""``/api/v2/dags/{dag_id}/details``: a DAG with what its latest serialized version says
(docs, params, start date, catchup, timeout, ...), in Airflow 3's ``DAGDetailsResponse``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
from litestar import Controller, get
from litestar.params import FromPath

from slipstream.api.auth.guards import can_read
from slipstream.api.public.common import Ctx, get_dag_or_404
from slipstream.api.public.dag_versions import DagVersionResponse, version_response
from slipstream.api.public.dags import DAGResponse, _FileFacts, dag_response
from slipstream.api.public.serialized import iso_duration, params_response, seconds
from slipstream.state import DagRunState


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@attrs.frozen(kw_only=True)
class DAGDetailsResponse(DAGResponse):
    catchup: bool
    dag_run_timeout: str | None
    asset_expression: dict[str, Any] | None
    doc_md: str | None
    start_date: datetime | None
    end_date: datetime | None
    is_paused_upon_creation: bool | None
    params: dict[str, Any] | None
    render_template_as_native_obj: bool
    template_search_path: list[str] | None
    timezone: str | None
    last_parsed: datetime | None
    default_args: dict[str, Any] | None
    rerun_with_latest_version: bool | None
    owner_links: dict[str, str] | None
    is_favorite: bool
    active_runs_count: int
    concurrency: int
    latest_dag_version: DagVersionResponse | None


class DagDetailsController(Controller):
    path = "/dags/{dag_id:str}/details"
    tags = ["DAG"]

    @get("/", guards=[can_read], sync_to_thread=True)
    def get_dag_details(self, ctx: Ctx, dag_id: FromPath[str]) -> DAGDetailsResponse:
        dag = get_dag_or_404(ctx, dag_id)
        version = ctx.store.get_dag_version(dag_id)
        doc: dict[str, Any] = dict(version.serialized) if version is not None else {}
        base = attrs.asdict(dag_response(dag, _FileFacts.read(ctx)), recurse=False)
        base["dag_display_name"] = doc.get("dag_display_name") or dag_id
        active = ctx.store.list_dag_runs(
            dag_ids=[dag_id], states=[DagRunState.RUNNING], limit=0
        ).total
        return DAGDetailsResponse(
            **base,
            catchup=bool(doc.get("catchup", False)),
            dag_run_timeout=iso_duration(seconds(doc.get("dagrun_timeout"))),
            asset_expression=None,
            doc_md=doc.get("doc_md"),
            start_date=_dt(doc.get("start_date")),
            end_date=_dt(doc.get("end_date")),
            is_paused_upon_creation=doc.get("is_paused_upon_creation"),
            params=params_response(doc.get("params")),
            render_template_as_native_obj=bool(doc.get("render_template_as_native_obj")),
            template_search_path=None,  # not part of the serialized DAG
            timezone=doc.get("timezone"),
            last_parsed=dag.last_parsed_time,
            default_args=None,  # applied to the tasks at parse time, not kept
            rerun_with_latest_version=None,
            owner_links=doc.get("owner_links") or None,
            is_favorite=False,
            active_runs_count=active,
            concurrency=dag.max_active_tasks,
            latest_dag_version=version_response(version) if version is not None else None,
        )
