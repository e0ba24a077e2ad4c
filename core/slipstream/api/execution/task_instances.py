"""``/execution/task-instances``: one try's start, heartbeats, log lines and end.

The worker's side of :class:`~slipstream.execution.recording.TryRecorder`, over
HTTP: the same compare-and-set writes a local worker makes on the store.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
from litestar import Controller, Request, Response, get, patch, post, put
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT, HTTP_503_SERVICE_UNAVAILABLE

from slipstream.api.auth.task_tokens import issue_task_token
from slipstream.api.errors import invalid
from slipstream.api.execution.common import (
    authorize,
    check_path,
    conflict,
    current_try,
    describe,
    no_run_at,
    token_scope,
)
from slipstream.api.public.common import Ctx, aware
from slipstream.execution.logs import log_path
from slipstream.execution.recording import TryRecorder
from slipstream.execution.runner import TaskOutcome
from slipstream.execution.store_client import StoreTaskClient
from slipstream.executors.base import TaskInstanceKey
from slipstream.metadata.records import DagRun
from slipstream.state import TaskInstanceState as TIS

#: Airflow's header for a renewed task token (sent with heartbeat responses).
REFRESHED_TOKEN_HEADER = "Refreshed-API-Token"
END_STATES = (TIS.SUCCESS, TIS.FAILED, TIS.UP_FOR_RETRY, TIS.SKIPPED, TIS.UP_FOR_RESCHEDULE)
MAX_LOG_LINES = 10_000
MAX_LOG_BYTES = 4 * 1024 * 1024
_log_lock = threading.Lock()


@attrs.frozen(kw_only=True)
class TIEnterRunningPayload:
    hostname: str
    pid: int


@attrs.frozen(kw_only=True)
class DagRunInfo:
    dag_id: str
    run_id: str
    logical_date: datetime | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    run_after: datetime
    start_date: datetime | None
    run_type: str
    state: str
    conf: dict[str, Any]


@attrs.frozen(kw_only=True)
class TIRunContext:
    """What a worker needs to run the try it just started."""

    dag_run: DagRunInfo
    max_tries: int
    should_retry: bool
    dag_version_id: int | None
    #: the first poke's start, for a rescheduled sensor (its timeout counts from there)
    first_attempt_started_at: datetime | None


@attrs.frozen(kw_only=True)
class TIDagSource:
    """The code of the DAG version a try belongs to, as the store kept it: what a worker
    runs when its DAG file no longer defines that version."""

    dag_version_id: int
    version_number: int
    source_code: str


@attrs.frozen(kw_only=True)
class TIHeartbeatInfo:
    hostname: str
    pid: int


@attrs.frozen(kw_only=True)
class TIStatePayload:
    """How the try ended: ``TaskOutcome`` as the worker's runner reported it."""

    state: str
    end_date: datetime
    start_date: datetime | None = None
    error: str | None = None
    skip_downstream: list[str] = attrs.field(factory=list)
    skip_recursive: bool = False
    reschedule_at: datetime | None = None
    rendered_fields: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class TIStateResponse:
    #: the state recorded (``failed`` for an ``up_for_retry`` with no tries left;
    #: ``none`` when the try was cleared while it ran and will run again)
    state: str


@attrs.frozen(kw_only=True)
class LogLinesPayload:
    lines: list[str]


@attrs.frozen(kw_only=True)
class TaskStatesResponse:
    task_states: dict[str, list[str]]


def _run_info(run: DagRun) -> DagRunInfo:
    return DagRunInfo(
        dag_id=run.dag_id,
        run_id=run.run_id,
        logical_date=run.logical_date,
        data_interval_start=run.data_interval_start,
        data_interval_end=run.data_interval_end,
        run_after=run.run_after,
        start_date=run.start_date,
        run_type=str(run.run_type),
        state=str(run.state),
        conf=dict(run.conf),
    )


def _outcome(data: TIStatePayload, started: datetime | None) -> TaskOutcome:
    try:
        state = TIS(data.state)
    except ValueError:
        state = TIS.NONE
    if state not in END_STATES:
        raise invalid(
            f"state must be one of {', '.join(s.value for s in END_STATES)}; got {data.state!r}",
            field="state",
            source="body",
        )
    if state == TIS.UP_FOR_RESCHEDULE and data.reschedule_at is None:
        raise invalid("up_for_reschedule needs reschedule_at", field="reschedule_at", source="body")
    ended = aware(data.end_date)
    return TaskOutcome(
        state=state,
        error=data.error,
        skip_downstream=tuple(data.skip_downstream),
        skip_recursive=data.skip_recursive,
        reschedule_at=aware(data.reschedule_at),
        rendered_fields=dict(data.rendered_fields),
        started_at=aware(data.start_date) or started or ended,
        ended_at=ended,
    )


class TaskInstanceController(Controller):
    path = "/task-instances"
    tags = ["Task Instances"]

    @patch("/{task_instance_id:int}/run", sync_to_thread=True)
    def ti_run(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        task_instance_id: FromPath[int],
        data: JSONBody[TIEnterRunningPayload],
    ) -> TIRunContext:
        """Start the try (``queued`` -> ``running``) and get what running it needs.

        Repeating it from the same host and pid returns the context again (a retried
        request whose first answer was lost); anything else once it runs is a 409.
        """
        scope = token_scope(request)
        check_path(scope, task_instance_id)
        if data.pid < 0 or not data.hostname:
            raise invalid("hostname and a pid >= 0 are required", field="pid", source="body")
        ti = current_try(ctx, scope)
        run = ctx.store.get_dag_run(scope.dag_id, scope.run_id)
        if run is None:
            raise conflict("not_found", f"The dag run of {describe(scope)} no longer exists")
        again = ti.state == TIS.RUNNING and ti.hostname == data.hostname and ti.pid == data.pid
        if not again:
            if ti.state != TIS.QUEUED:
                raise conflict(
                    "invalid_state",
                    f"{describe(scope).capitalize()} is not queued (state: {ti.state.value}): "
                    "it cannot start",
                )
            started = TryRecorder(ctx.store, ctx.plugins).start(
                scope.key, hostname=data.hostname, pid=data.pid
            )
            if started is None:
                raise conflict(
                    "invalid_state", f"{describe(scope).capitalize()} is no longer queued"
                )
            ti = started
        return TIRunContext(
            dag_run=_run_info(run),
            max_tries=ti.max_tries,
            should_retry=ti.try_number <= ti.max_tries,
            dag_version_id=ti.dag_version_id,
            first_attempt_started_at=ti.start_date if ti.reschedule_at is not None else None,
        )

    @get("/{task_instance_id:int}/dag-source", sync_to_thread=True)
    def ti_dag_source(
        self, ctx: Ctx, request: Request[Any, Any, Any], task_instance_id: FromPath[int]
    ) -> TIDagSource:
        """The code of the running try's own DAG version (404 when the store kept none)."""
        _, ti = authorize(ctx, request, task_instance_id)
        version = (
            ctx.store.get_dag_version_by_id(ti.dag_version_id)
            if ti.dag_version_id is not None
            else None
        )
        if version is None or not version.source_code:
            raise NotFoundException(
                f"No code is kept for the DAG version of task instance {task_instance_id}"
            )
        return TIDagSource(
            dag_version_id=version.id,
            version_number=version.version_number,
            source_code=version.source_code,
        )

    @put(
        "/{task_instance_id:int}/heartbeat",
        sync_to_thread=True,
        status_code=HTTP_204_NO_CONTENT,
    )
    def ti_heartbeat(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        task_instance_id: FromPath[int],
        data: JSONBody[TIHeartbeatInfo],
    ) -> Response[None]:
        """Say the try is alive. 409 tells the worker it no longer runs here (cleared,
        marked, reaped, or taken by another host); near its expiry the token is
        renewed in the ``Refreshed-API-Token`` header."""
        scope, ti = authorize(ctx, request, task_instance_id)
        if (ti.hostname, ti.pid) != (data.hostname, data.pid):
            raise conflict(
                "running_elsewhere",
                f"{describe(scope).capitalize()} runs on {ti.hostname} (pid {ti.pid}), "
                f"not {data.hostname} (pid {data.pid})",
            )
        if ti.state != TIS.RUNNING or not TryRecorder(ctx.store).heartbeat(ti):
            raise conflict("not_running", f"{describe(scope).capitalize()} is no longer running")
        headers: dict[str, str] = {}
        principal = request.scope["user"]
        issued, expires = principal.claims.issued_at, principal.claims.expires_at
        if expires - time.time() < (expires - issued) / 2:
            headers[REFRESHED_TOKEN_HEADER] = issue_task_token(
                ctx.signer, scope, lifetime=expires - issued
            )
        return Response(content=None, status_code=HTTP_204_NO_CONTENT, headers=headers)

    @patch("/{task_instance_id:int}/state", sync_to_thread=True)
    def ti_update_state(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        task_instance_id: FromPath[int],
        data: JSONBody[TIStatePayload],
    ) -> TIStateResponse:
        """Record how the try ended; the token is of no more use afterwards."""
        scope, ti = authorize(ctx, request, task_instance_id)
        outcome = _outcome(data, ti.start_date)
        if outcome.state == TIS.UP_FOR_RETRY and ti.try_number > ti.max_tries:
            outcome = attrs.evolve(outcome, state=TIS.FAILED)
        written = TryRecorder(ctx.store, ctx.plugins).finish(ti, outcome)
        if written is None:
            raise conflict("not_running", f"{describe(scope).capitalize()} is no longer running")
        return TIStateResponse(state=written.value)

    @post(
        "/{task_instance_id:int}/logs",
        sync_to_thread=True,
        status_code=HTTP_204_NO_CONTENT,
    )
    def ti_logs(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        task_instance_id: FromPath[int],
        data: JSONBody[LogLinesPayload],
    ) -> None:
        """Append a batch of formatted log lines to the try's log file: the file the
        public logs route and the UI read (``attempt=<try>.log``)."""
        scope, _ = authorize(ctx, request, task_instance_id)
        _append_log(Path(ctx.config["logging.base_log_folder"]), scope.key, data.lines)

    @get("/states", sync_to_thread=True)
    def get_task_states(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        dag_id: FromQuery[str],
        logical_date: FromQuery[datetime],
        task_ids: FromQuery[list[str] | None] = None,
    ) -> TaskStatesResponse:
        """States of the task instances of ``dag_id``'s run at ``logical_date`` (task id
        -> one state per map index), for ExternalTaskSensor; 404 when there is no run."""
        authorize(ctx, request)
        moment = aware(logical_date)
        states = StoreTaskClient(ctx.store).get_task_states(
            dag_id=dag_id, logical_date=moment, task_ids=task_ids
        )
        if states is None:
            raise no_run_at(dag_id, moment)
        return TaskStatesResponse(task_states={k: list(v) for k, v in states.items()})


def _append_log(base: Path, key: TaskInstanceKey, lines: Sequence[str]) -> None:
    if len(lines) > MAX_LOG_LINES:
        raise invalid(f"send at most {MAX_LOG_LINES} lines per batch", field="lines", source="body")
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    data = text.encode("utf-8", errors="replace")
    if len(data) > MAX_LOG_BYTES:
        raise invalid(
            f"send at most {MAX_LOG_BYTES} bytes of log lines per batch",
            field="lines",
            source="body",
        )
    path = log_path(base, key)
    try:
        with _log_lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as handle:
                handle.write(data)
    except OSError as exc:
        raise HTTPException(
            status_code=HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"cannot write the task log {path}: {exc.strerror or exc}",
        ) from None
