"""The OpenAPI document as served: error responses documented as slipstream sends them.

Litestar documents a validation failure as a 400 with its own body; slipstream answers
bad input with Airflow's (FastAPI's) 422 ``{"detail": [{"loc", "msg", "type"}]}`` and
every other error with ``{"detail": ...}`` (:mod:`slipstream.api.errors`). Clients
generated from the document, and schemathesis, rely on it saying so.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.openapi.plugins import JsonRenderPlugin

METHODS = ("get", "put", "post", "delete", "patch")
ERROR = {"$ref": "#/components/schemas/HTTPExceptionResponse"}
SCHEMAS: dict[str, Any] = {
    "HTTPExceptionResponse": {
        "type": "object",
        "title": "HTTPExceptionResponse",
        "description": "An error: what went wrong, in words.",
        "properties": {
            "detail": {
                "anyOf": [{"type": "string"}, {"type": "object", "additionalProperties": True}],
                "title": "Detail",
            }
        },
        "required": ["detail"],
    },
    "ValidationError": {
        "type": "object",
        "title": "ValidationError",
        "properties": {
            "loc": {
                "type": "array",
                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                "title": "Location",
            },
            "msg": {"type": "string", "title": "Message"},
            "type": {"type": "string", "title": "Error Type"},
        },
        "required": ["loc", "msg", "type"],
    },
    "HTTPValidationError": {
        "type": "object",
        "title": "HTTPValidationError",
        "properties": {
            "detail": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/ValidationError"},
                "title": "Detail",
            }
        },
    },
}
ERRORS = {
    "400": "Bad Request",
    "401": "Not authenticated",
    "403": "Forbidden: the user's role may not do this",
    "404": "Not Found",
    "409": "Conflict",
}


def _response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def document_errors(document: dict[str, Any]) -> dict[str, Any]:
    """Rewrite ``document`` in place (idempotent) so every operation documents the error
    bodies slipstream sends; returns it."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(SCHEMAS)
    for item in document.get("paths", {}).values():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for code, description in ERRORS.items():
                if code != "409" or method in ("post", "patch"):
                    responses[code] = _response(description, ERROR)
            responses["422"] = _response(
                "Validation Error", {"$ref": "#/components/schemas/HTTPValidationError"}
            )
            if operation.get("security") == []:  # open routes: no 401/403
                responses.pop("401", None)
                responses.pop("403", None)
    return document


class ApiJsonRenderPlugin(JsonRenderPlugin):
    """``/openapi.json`` with :func:`document_errors` applied."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, document_errors(openapi_schema))
