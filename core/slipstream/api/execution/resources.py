"""``/execution/variables``, ``/connections``, ``/xcoms``, ``/dag-runs``, ``/dags``: the
shared state a running try reads and writes (what ``Variable``, ``Connection``,
``xcom_pull``/``xcom_push``, TriggerDagRunOperator and ExternalTaskSensor use).

Connections come back with their password and extras: the worker needs them to
connect. This is the one API that returns secrets, and only to a running try.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import attrs
from litestar import Controller, Request, delete, get, post, put
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT, HTTP_400_BAD_REQUEST

from slipstream.api.errors import invalid
from slipstream.api.execution.common import authorize, conflict, no_run_at
from slipstream.api.public.common import Ctx, aware, or_404, run_not_found
from slipstream.exceptions import DagNotFound, DagRunAlreadyExists
from slipstream.execution.store_client import StoreTaskClient
from slipstream.metadata.records import TaskInstanceRef
from slipstream.scheduler.triggering import TriggerError

# -- variables ------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class VariableResponse:
    key: str
    value: str | None = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class VariablePostBody:
    value: str = attrs.field(repr=False)
    description: str | None = None


class VariableController(Controller):
    path = "/variables"
    tags = ["Variables"]

    @get("/{variable_key:str}", sync_to_thread=True)
    def get_variable(
        self, ctx: Ctx, request: Request[Any, Any, Any], variable_key: FromPath[str]
    ) -> VariableResponse:
        authorize(ctx, request)
        found = or_404(
            ctx.store.get_variable(variable_key), f"Variable with key '{variable_key}' not found"
        )
        return VariableResponse(key=found.key, value=found.value)

    @put("/{variable_key:str}", sync_to_thread=True, status_code=HTTP_201_CREATED)
    def put_variable(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        variable_key: FromPath[str],
        data: JSONBody[VariablePostBody],
    ) -> VariableResponse:
        authorize(ctx, request)
        ctx.store.set_variable(variable_key, data.value, description=data.description)
        return VariableResponse(key=variable_key, value=data.value)

    @delete("/{variable_key:str}", sync_to_thread=True, status_code=HTTP_204_NO_CONTENT)
    def delete_variable(
        self, ctx: Ctx, request: Request[Any, Any, Any], variable_key: FromPath[str]
    ) -> None:
        authorize(ctx, request)
        ctx.store.delete_variable(variable_key)


# -- connections ----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ConnectionResponse:
    """Airflow's execution-API shape: ``extra`` is the JSON text of the extras."""

    conn_id: str
    conn_type: str
    host: str | None
    schema: str | None
    login: str | None
    password: str | None = attrs.field(repr=False)
    port: int | None
    extra: str | None = attrs.field(repr=False)


class ConnectionController(Controller):
    path = "/connections"
    tags = ["Connections"]

    @get("/{connection_id:str}", sync_to_thread=True)
    def get_connection(
        self, ctx: Ctx, request: Request[Any, Any, Any], connection_id: FromPath[str]
    ) -> ConnectionResponse:
        authorize(ctx, request)
        found = or_404(
            ctx.store.get_connection(connection_id),
            f"Connection with ID `{connection_id}` not found",
        )
        return ConnectionResponse(
            conn_id=found.conn_id,
            conn_type=found.conn_type,
            host=found.host,
            schema=found.schema,
            login=found.login,
            password=found.password,
            port=found.port,
            extra=json.dumps(found.extra) if found.extra else None,
        )


# -- XComs ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class XComResponse:
    key: str
    value: Any


class XComController(Controller):
    """Reads: any task of the token's own run (what ``xcom_pull`` needs). Writes: the
    token's own task instance only."""

    path = "/xcoms"
    tags = ["XComs"]

    @staticmethod
    def _readable(ctx: Ctx, request: Request[Any, Any, Any], dag_id: str, run_id: str) -> None:
        scope, _ = authorize(ctx, request)
        if (dag_id, run_id) != (scope.dag_id, scope.run_id):
            raise PermissionDeniedException(
                f"This token reads XComs of run {scope.run_id} of {scope.dag_id} only"
            )

    @get("/{dag_id:str}/{run_id:str}/{task_id:str}/{key:str}", sync_to_thread=True)
    def get_xcom(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        run_id: FromPath[str],
        task_id: FromPath[str],
        key: FromPath[str],
        map_index: FromQuery[int] = -1,
    ) -> XComResponse:
        """One task instance's value (``map_index`` -1: an unmapped task)."""
        self._readable(ctx, request, dag_id, run_id)
        ref = TaskInstanceRef(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index)
        found = or_404(
            ctx.store.get_xcom(ref, key),
            f"XCom with key='{key}' map_index={map_index} not found for task '{task_id}' "
            f"in DAG run '{run_id}' of '{dag_id}'",
        )
        return XComResponse(key=key, value=found.value)

    @get("/{dag_id:str}/{run_id:str}/{task_id:str}/{key:str}/slice", sync_to_thread=True)
    def get_mapped_xcoms(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        run_id: FromPath[str],
        task_id: FromPath[str],
        key: FromPath[str],
    ) -> list[Any]:
        """The values of every mapped instance of a task, in map-index order."""
        self._readable(ctx, request, dag_id, run_id)
        values = [
            x
            for x in ctx.store.list_xcoms(dag_id, run_id, task_id=task_id, key=key)
            if x.map_index >= 0
        ]
        return [x.value for x in sorted(values, key=lambda x: x.map_index)]

    @post(
        "/{dag_id:str}/{run_id:str}/{task_id:str}/{key:str}",
        sync_to_thread=True,
        status_code=HTTP_201_CREATED,
    )
    def set_xcom(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        run_id: FromPath[str],
        task_id: FromPath[str],
        key: FromPath[str],
        data: JSONBody[Any],
        map_index: FromQuery[int] = -1,
    ) -> None:
        """Push a value (the body: any JSON) for the token's own task instance."""
        scope, _ = authorize(ctx, request)
        if (dag_id, run_id, task_id, map_index) != (
            scope.dag_id,
            scope.run_id,
            scope.task_id,
            scope.map_index,
        ):
            raise PermissionDeniedException(
                "This token writes XComs of its own task instance only: "
                f"{scope.dag_id}/{scope.run_id}/{scope.task_id} map_index={scope.map_index}"
            )
        if not key:
            raise invalid("the XCom key must not be empty", field="key", source="path")
        ref = TaskInstanceRef(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index)
        ctx.store.set_xcom(ref, key, data)


# -- other runs and DAGs (TriggerDagRunOperator, ExternalTaskSensor) --------------------


@attrs.frozen(kw_only=True)
class TriggerDAGRunPayload:
    logical_date: datetime | None = None
    conf: dict[str, Any] | None = None
    reset_dag_run: bool = False


@attrs.frozen(kw_only=True)
class TriggeredDagRun:
    dag_id: str
    run_id: str


@attrs.frozen(kw_only=True)
class DagRunStateResponse:
    state: str


@attrs.frozen(kw_only=True)
class DagTaskIdsResponse:
    task_ids: list[str]


class DagRunController(Controller):
    path = "/dag-runs"
    tags = ["Dag Runs"]

    @post("/{dag_id:str}/{run_id:str}", sync_to_thread=True, status_code=HTTP_201_CREATED)
    def trigger_dag_run(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        run_id: FromPath[str],
        data: JSONBody[TriggerDAGRunPayload],
    ) -> TriggeredDagRun:
        """Create a manual run (``reset_dag_run``: clear an existing one to run again);
        404 for an unknown DAG, 409 when the run exists, 400 for a conf the DAG refuses."""
        authorize(ctx, request)
        try:
            created = StoreTaskClient(ctx.store).trigger_dag_run(
                dag_id=dag_id,
                run_id=run_id,
                conf=data.conf,
                logical_date=aware(data.logical_date),
                reset_dag_run=data.reset_dag_run,
            )
        except DagNotFound as exc:
            raise NotFoundException(str(exc)) from None
        except DagRunAlreadyExists as exc:
            raise conflict("already_exists", str(exc)) from None
        except TriggerError as exc:
            raise HTTPException(status_code=HTTP_400_BAD_REQUEST, detail=str(exc)) from None
        return TriggeredDagRun(dag_id=dag_id, run_id=created)

    @get("/{dag_id:str}/{run_id:str}/state", sync_to_thread=True)
    def get_dag_run_state(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        run_id: FromPath[str],
    ) -> DagRunStateResponse:
        authorize(ctx, request)
        state = StoreTaskClient(ctx.store).get_dag_run_state(dag_id=dag_id, run_id=run_id)
        return DagRunStateResponse(state=or_404(state, run_not_found(dag_id, run_id)))

    @get("/state", sync_to_thread=True)
    def get_dag_run_state_at(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        dag_id: FromQuery[str],
        logical_date: FromQuery[datetime],
    ) -> DagRunStateResponse:
        """The state of ``dag_id``'s run at ``logical_date``."""
        authorize(ctx, request)
        state = StoreTaskClient(ctx.store).get_dag_run_state(
            dag_id=dag_id, logical_date=aware(logical_date)
        )
        if state is None:
            raise no_run_at(dag_id, logical_date)
        return DagRunStateResponse(state=state)


class DagController(Controller):
    path = "/dags"
    tags = ["DAGs"]

    @get("/{dag_id:str}/task-ids", sync_to_thread=True)
    def get_dag_task_ids(
        self, ctx: Ctx, request: Request[Any, Any, Any], dag_id: FromPath[str]
    ) -> DagTaskIdsResponse:
        """The task ids of the DAG's latest version (ExternalTaskSensor checks them)."""
        authorize(ctx, request)
        task_ids = StoreTaskClient(ctx.store).get_dag_task_ids(dag_id=dag_id)
        return DagTaskIdsResponse(
            task_ids=list(or_404(task_ids, f"The Dag with ID: `{dag_id}` was not found"))
        )
