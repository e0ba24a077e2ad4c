"""Errors as Airflow's API gives them: JSON with a ``detail``; invalid input is
422 with FastAPI's list of ``{loc, msg, type}``; nothing leaks a traceback."""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.status_codes import (
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_500_INTERNAL_SERVER_ERROR,
)
from litestar.types import ExceptionHandlersMap

from slipstream.errors import AlreadyExistsError, NotFoundError

log = logging.getLogger("slipstream.api")


def _json(status: int, detail: Any, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        content={"detail": detail},
        status_code=status,
        media_type=MediaType.JSON,
        headers=headers,
    )


def _validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            loc = [item.get("source") or "body"]
            if item.get("key"):
                loc.append(item["key"])
            errors.append({"loc": loc, "msg": str(item.get("message")), "type": "value_error"})
    if not errors:
        errors.append({"loc": ["body"], "msg": exc.detail, "type": "value_error"})
    return _json(HTTP_422_UNPROCESSABLE_ENTITY, errors)


def _http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    headers = dict(exc.headers or {})
    if isinstance(exc, NotAuthorizedException):
        headers.setdefault("WWW-Authenticate", "Bearer")
    detail: Any = exc.detail
    if isinstance(exc.extra, dict) and "reason" in exc.extra:
        # Airflow's execution API: {"reason": "not_running", "message": "..."}
        detail = {"reason": exc.extra["reason"], "message": exc.detail}
    return _json(exc.status_code, detail, headers)


def _not_found(_: Request[Any, Any, Any], exc: NotFoundError) -> Response[Any]:
    return _json(HTTP_404_NOT_FOUND, str(exc))


def _exists(_: Request[Any, Any, Any], exc: AlreadyExistsError) -> Response[Any]:
    return _json(HTTP_409_CONFLICT, str(exc))


def _internal(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
    return _json(HTTP_500_INTERNAL_SERVER_ERROR, "Internal Server Error")


def invalid(detail: str, *, field: str | None = None, source: str = "query") -> HTTPException:
    """A 422 for input that passed the types but not the rules (raise it)."""
    return ValidationException(
        detail=detail, extra=[{"message": detail, "key": field, "source": source}]
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ValidationException: _validation,
    HTTPException: _http,
    NotFoundError: _not_found,
    AlreadyExistsError: _exists,
    Exception: _internal,
}
