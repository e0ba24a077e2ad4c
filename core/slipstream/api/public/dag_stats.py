"""``/api/v2/dagStats`` (how many runs of each DAG are in each state), ``/api/v2/dagTags``
and ``/api/v2/jobs`` (slipstream's long-running processes and their heartbeats)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import attrs
from litestar import Controller, get
from litestar.params import FromQuery

from slipstream.api.auth.guards import can_read
from slipstream.api.public.common import Ctx, Limit, Offset, OrderBy, aware, order_field, page_limit
from slipstream.metadata.records import Job
from slipstream.state import DagRunState


@attrs.frozen(kw_only=True)
class DagStatsStateResponse:
    state: str
    count: int


@attrs.frozen(kw_only=True)
class DagStatsResponse:
    dag_id: str
    dag_display_name: str
    stats: list[DagStatsStateResponse]


@attrs.frozen(kw_only=True)
class DagStatsCollectionResponse:
    dags: list[DagStatsResponse]
    total_entries: int


@attrs.frozen(kw_only=True)
class DAGTagCollectionResponse:
    tags: list[str]
    total_entries: int


@attrs.frozen(kw_only=True)
class JobResponse:
    id: int
    dag_id: str | None
    state: str | None
    job_type: str | None
    start_date: datetime | None
    end_date: datetime | None
    latest_heartbeat: datetime | None
    executor_class: str | None
    hostname: str | None
    unixname: str | None
    dag_display_name: str | None = None


@attrs.frozen(kw_only=True)
class JobCollectionResponse:
    jobs: list[JobResponse]
    total_entries: int


class DagStatsController(Controller):
    path = "/dagStats"
    tags = ["DagStats"]

    @get("/", guards=[can_read], sync_to_thread=True)
    def get_dag_stats(
        self, ctx: Ctx, dag_ids: FromQuery[list[str] | None] = None
    ) -> DagStatsCollectionResponse:
        """Every DAG that has runs (of ``dag_ids``, if given), with a count for each
        run state, zeros included."""
        counts = ctx.store.count_dag_runs_by_state(dag_ids or ())
        dags = [
            DagStatsResponse(
                dag_id=dag_id,
                dag_display_name=dag_id,
                stats=[
                    DagStatsStateResponse(state=state.value, count=by_state.get(state, 0))
                    for state in DagRunState
                ],
            )
            for dag_id, by_state in sorted(counts.items())
        ]
        return DagStatsCollectionResponse(dags=dags, total_entries=len(dags))


class DagTagController(Controller):
    path = "/dagTags"
    tags = ["DAG"]

    @get("/", guards=[can_read], sync_to_thread=True)
    def get_dag_tags(
        self,
        ctx: Ctx,
        limit: Limit = 50,
        offset: Offset = 0,
        order_by: OrderBy = None,
        tag_name_pattern: FromQuery[str | None] = None,
    ) -> DAGTagCollectionResponse:
        """The distinct tags of all DAGs, by name."""
        order = order_field(order_by, "name", {"name": "name"})
        page = ctx.store.list_dag_tags(
            name_pattern=tag_name_pattern,
            limit=page_limit(limit),
            offset=offset,
            descending=order.startswith("-"),
        )
        return DAGTagCollectionResponse(tags=list(page.items), total_entries=page.total)


# slipstream's job kinds under the job types Airflow reports for the same roles.
JOB_TYPES = {"scheduler": "SchedulerJob", "dag_processor": "DagProcessorJob"}
JOB_ORDER: dict[str, Callable[[JobResponse], Any]] = {
    "id": lambda job: job.id,
    "state": lambda job: job.state or "",
    "job_type": lambda job: job.job_type or "",
    "hostname": lambda job: job.hostname or "",
    # Jobs always have a start and a heartbeat; running ones have no end yet.
    "start_date": lambda job: job.start_date,
    "end_date": lambda job: (job.end_date is None, job.end_date or job.start_date),
    "latest_heartbeat": lambda job: job.latest_heartbeat,
}


def job_response(job: Job) -> JobResponse:
    return JobResponse(
        id=job.id,
        dag_id=None,
        state=job.state.value,
        job_type=JOB_TYPES.get(job.kind, job.kind),
        start_date=job.started_at,
        end_date=job.ended_at,
        latest_heartbeat=job.last_heartbeat_at,
        executor_class=None,
        hostname=job.hostname,
        unixname=None,
    )


def _within(value: datetime | None, low: datetime | None, high: datetime | None) -> bool:
    low, high = aware(low), aware(high)
    if low is None and high is None:
        return True
    if value is None:
        return False
    return (low is None or value >= low) and (high is None or value <= high)


class JobController(Controller):
    path = "/jobs"
    tags = ["Job"]

    @get("/", guards=[can_read], sync_to_thread=True)
    def get_jobs(
        self,
        ctx: Ctx,
        limit: Limit = 50,
        offset: Offset = 0,
        order_by: OrderBy = None,
        is_alive: FromQuery[bool | None] = None,
        job_state: FromQuery[str | None] = None,
        job_type: FromQuery[str | None] = None,
        hostname: FromQuery[str | None] = None,
        start_date_gte: FromQuery[datetime | None] = None,
        start_date_lte: FromQuery[datetime | None] = None,
        end_date_gte: FromQuery[datetime | None] = None,
        end_date_lte: FromQuery[datetime | None] = None,
    ) -> JobCollectionResponse:
        """slipstream's schedulers and dag processors; ``is_alive``: running and heard
        from within ``scheduler.scheduler_heartbeat_timeout``."""
        sort = order_field(order_by, "id", {name: name for name in JOB_ORDER})
        timeout = timedelta(seconds=float(ctx.config["scheduler.scheduler_heartbeat_timeout"]))
        alive = {job.id for job in ctx.store.list_jobs(alive_within=timeout)}
        jobs = [
            job_response(job)
            for job in ctx.store.list_jobs()
            if (is_alive is None or (job.id in alive) == is_alive)
            and (job_state is None or job.state.value == job_state)
            and (job_type is None or job_type in (job.kind, JOB_TYPES.get(job.kind)))
            and (hostname is None or job.hostname == hostname)
            and _within(job.started_at, start_date_gte, start_date_lte)
            and _within(job.ended_at, end_date_gte, end_date_lte)
        ]
        jobs.sort(key=lambda job: job.id)  # ties keep the id order
        jobs.sort(key=JOB_ORDER[sort.lstrip("-")], reverse=sort.startswith("-"))
        page = jobs[offset : offset + page_limit(limit)]
        return JobCollectionResponse(jobs=page, total_entries=len(jobs))
