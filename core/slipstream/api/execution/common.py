"""What every task-execution route checks: a task token, its scope, and that its try runs.

- 401: no token, or one that is forged, expired or malformed (the middleware).
- 403: not a task token (a user's), or a route outside the token's scope: another
  task instance's try, another run's XComs, another task's XCom writes.
- 409: the token's try is not running (any more): finished, cleared and requeued,
  superseded by a newer try, or its task instance deleted. The store decides, not
  the token's expiry.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.handlers.base import BaseRouteHandler
from litestar.status_codes import HTTP_409_CONFLICT

from slipstream.api.auth.middleware import Principal
from slipstream.api.auth.task_tokens import TaskTokenScope
from slipstream.api.auth.tokens import InvalidToken, TokenKind
from slipstream.api.context import ApiContext
from slipstream.metadata.records import TaskInstance
from slipstream.state import TaskInstanceState as TIS

#: A try may use the API while it runs; ``restarting`` is a running try that was
#: cleared meanwhile: it still reports its end (which then lets it run again).
LIVE_STATES = frozenset({TIS.RUNNING, TIS.RESTARTING})


def task_token_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: the task-execution API serves workers, never users."""
    principal = connection.scope.get("user")
    if not isinstance(principal, Principal) or principal.kind is not TokenKind.TASK:
        raise PermissionDeniedException(
            "The task-execution API accepts only task tokens (the token in a workload), "
            "not user credentials"
        )


def token_scope(request: Request[Any, Any, Any]) -> TaskTokenScope:
    principal = request.scope.get("user")
    if not isinstance(principal, Principal):
        raise NotAuthorizedException("Not authenticated")
    try:
        return TaskTokenScope.from_claims(principal.claims)
    except InvalidToken as exc:
        raise NotAuthorizedException(str(exc).capitalize()) from None


def conflict(reason: str, message: str) -> HTTPException:
    """A 409 whose detail is ``{"reason", "message"}`` (Airflow's execution-API shape), so a
    worker tells "my try is over" from "that run already exists"."""
    return HTTPException(status_code=HTTP_409_CONFLICT, detail=message, extra={"reason": reason})


def no_run_at(dag_id: str, logical_date: datetime) -> NotFoundException:
    """The 404 for a DAG that has no run at ``logical_date``."""
    return NotFoundException(
        f"The DagRun with dag_id: `{dag_id}` and logical_date: `{logical_date.isoformat()}` "
        "was not found"
    )


def describe(scope: TaskTokenScope) -> str:
    index = f"[{scope.map_index}]" if scope.map_index >= 0 else ""
    return f"try {scope.try_number} of {scope.dag_id}.{scope.task_id}{index} (run {scope.run_id})"


def check_path(scope: TaskTokenScope, task_instance_id: int) -> None:
    if task_instance_id != scope.ti_id:
        raise PermissionDeniedException(
            f"This token is for task instance {scope.ti_id}, not {task_instance_id}"
        )


def current_try(ctx: ApiContext, scope: TaskTokenScope) -> TaskInstance:
    """The token's task instance, if it is still at the token's try (else 409)."""
    found = ctx.store.get_task_instances_by_id([scope.ti_id])
    ti = found[0] if found else None
    if ti is None or (ti.dag_id, ti.run_id, ti.task_id, ti.map_index) != (
        scope.dag_id,
        scope.run_id,
        scope.task_id,
        scope.map_index,
    ):
        raise conflict("not_found", f"The task instance of {describe(scope)} no longer exists")
    if ti.try_number != scope.try_number:
        raise conflict(
            "superseded",
            f"{describe(scope).capitalize()} has ended: the task instance is at try "
            f"{ti.try_number} now",
        )
    return ti


def live_try(
    ctx: ApiContext, scope: TaskTokenScope, states: Collection[TIS] = LIVE_STATES
) -> TaskInstance:
    """The token's try, if the store says it is running (else 409)."""
    ti = current_try(ctx, scope)
    if ti.state not in states:
        raise conflict(
            "not_running",
            f"{describe(scope).capitalize()} is not running (state: {ti.state.value})",
        )
    return ti


def authorize(
    ctx: ApiContext, request: Request[Any, Any, Any], task_instance_id: int | None = None
) -> tuple[TaskTokenScope, TaskInstance]:
    """The scope of the request's token and its running try, or 401/403/409."""
    scope = token_scope(request)
    if task_instance_id is not None:
        check_path(scope, task_instance_id)
    return scope, live_try(ctx, scope)
