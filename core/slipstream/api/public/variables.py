"""``/api/v2/variables``: list, get, create, update, delete, and bulk changes.

Values are encrypted at rest and shown to the ``op`` role (who may also change them),
as Airflow shows them to users who may read variables. A JSON value that is not a
string is stored as its canonical JSON text, as ``slipstream variables set --json`` does.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import attrs
import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_409_CONFLICT

from slipstream import admin
from slipstream.api.auth.guards import can_operate
from slipstream.api.context import ApiContext
from slipstream.api.errors import invalid
from slipstream.api.public.common import (
    Ctx,
    Limit,
    Offset,
    OrderBy,
    check_update_mask,
    matching,
    or_404,
    order_field,
    sorted_page,
)
from slipstream.metadata.records import Variable

VARIABLE_ORDER = {"key": "key", "id": "key", "description": "description"}
UPDATABLE = ("value", "description")


@attrs.frozen(kw_only=True)
class VariableResponse:
    key: str
    value: str | None
    description: str | None
    is_encrypted: bool
    team_name: str | None


@attrs.frozen(kw_only=True)
class VariableCollectionResponse:
    variables: list[VariableResponse]
    total_entries: int


@attrs.frozen(kw_only=True)
class VariableBody:
    key: str
    value: Any
    description: str | None = None
    team_name: str | None = None


class BulkActionOnExistence(StrEnum):
    FAIL = "fail"
    SKIP = "skip"
    OVERWRITE = "overwrite"


class BulkActionNotOnExistence(StrEnum):
    FAIL = "fail"
    SKIP = "skip"


# The bulk actions are tagged by ``action``: msgspec structs, since a union of attrs
# classes cannot be decoded.
class BulkCreateActionVariableBody(msgspec.Struct, kw_only=True, tag_field="action", tag="create"):
    entities: list[VariableBody]
    action_on_existence: BulkActionOnExistence = BulkActionOnExistence.FAIL


class BulkUpdateActionVariableBody(msgspec.Struct, kw_only=True, tag_field="action", tag="update"):
    entities: list[VariableBody]
    update_mask: list[str] | None = None
    action_on_non_existence: BulkActionNotOnExistence = BulkActionNotOnExistence.FAIL


class BulkDeleteActionVariableBody(msgspec.Struct, kw_only=True, tag_field="action", tag="delete"):
    entities: list[str | VariableBody]
    action_on_non_existence: BulkActionNotOnExistence = BulkActionNotOnExistence.FAIL


class BulkBodyVariableBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    actions: list[
        BulkCreateActionVariableBody | BulkUpdateActionVariableBody | BulkDeleteActionVariableBody
    ]


@attrs.frozen(kw_only=True)
class BulkActionResponse:
    success: list[str] = attrs.field(factory=list)
    errors: list[dict[str, Any]] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class BulkResponse:
    create: BulkActionResponse | None = None
    update: BulkActionResponse | None = None
    delete: BulkActionResponse | None = None


def variable_response(var: Variable) -> VariableResponse:
    return VariableResponse(
        key=var.key,
        value=var.value,
        description=var.description,
        is_encrypted=True,
        team_name=None,
    )


def _not_found(key: str) -> str:
    return f"The Variable with key: `{key}` was not found"


def _checked(body: VariableBody, where: str = "body") -> tuple[str, str]:
    """The key and the text to store, or a 422 naming what is wrong."""
    try:
        admin.check_name("variable key", body.key)
    except ValueError as exc:
        raise invalid(str(exc), field="key", source=where) from None
    try:
        return body.key, admin.variable_text(body.value)
    except ValueError as exc:
        raise invalid(str(exc), field="value", source=where) from None


def _update(
    ctx: ApiContext, current: Variable, body: VariableBody, fields: set[str], masked: bool
) -> Variable:
    """Without an update mask a null description keeps the stored one; a mask that
    names ``description`` sets it, null included."""
    value = admin.variable_text(body.value) if "value" in fields else current.value
    description = current.description
    if "description" in fields and (body.description is not None or masked):
        description = body.description
    ctx.store.set_variable(current.key, value, description=description)
    return Variable(key=current.key, value=value, description=description)


class VariableController(Controller):
    path = "/variables"
    tags = ["Variable"]
    guards = [can_operate]

    @get("/", sync_to_thread=True)
    def get_variables(
        self,
        ctx: Ctx,
        limit: Limit = 50,
        offset: Offset = 0,
        order_by: OrderBy = None,
        variable_key_pattern: FromQuery[str | None] = None,
    ) -> VariableCollectionResponse:
        """Variables, by key unless ``order_by`` says otherwise; ``variable_key_pattern``
        is a case-insensitive substring."""
        order = order_field(order_by, "key", VARIABLE_ORDER)
        found = matching(
            ctx.store.list_variables(limit=None).items, variable_key_pattern, lambda v: v.key
        )
        page = sorted_page(found, order, lambda v, by: (getattr(v, by) or "", v.key), limit, offset)
        return VariableCollectionResponse(
            variables=[variable_response(v) for v in page], total_entries=len(found)
        )

    @get("/{variable_key:str}", sync_to_thread=True)
    def get_variable(self, ctx: Ctx, variable_key: FromPath[str]) -> VariableResponse:
        return variable_response(
            or_404(ctx.store.get_variable(variable_key), _not_found(variable_key))
        )

    @post("/", sync_to_thread=True)
    def post_variable(self, ctx: Ctx, data: JSONBody[VariableBody]) -> VariableResponse:
        key, value = _checked(data)
        if ctx.store.get_variable(key) is not None:
            raise HTTPException(
                status_code=HTTP_409_CONFLICT,
                detail=f"The Variable with key: `{key}` already exists",
            )
        _, var = admin.set_variable(ctx.store, key, value, data.description)
        return variable_response(var)

    @patch("/{variable_key:str}", sync_to_thread=True)
    def patch_variable(
        self,
        ctx: Ctx,
        variable_key: FromPath[str],
        data: JSONBody[VariableBody],
        update_mask: FromQuery[list[str] | None] = None,
    ) -> VariableResponse:
        """Change the value and description (only those in ``update_mask``, if given;
        without a mask, a null description keeps the stored one)."""
        if data.key != variable_key:
            raise HTTPException(
                status_code=HTTP_400_BAD_REQUEST,
                detail="Invalid body, key from request body doesn't match uri parameter",
            )
        check_update_mask(update_mask, UPDATABLE)
        current = or_404(ctx.store.get_variable(variable_key), _not_found(variable_key))
        fields = set(update_mask or UPDATABLE)
        if "value" in fields:
            _checked(data)
        return variable_response(_update(ctx, current, data, fields, bool(update_mask)))

    @delete("/{variable_key:str}", sync_to_thread=True)
    def delete_variable(self, ctx: Ctx, variable_key: FromPath[str]) -> None:
        or_404(ctx.store.get_variable(variable_key), _not_found(variable_key))
        ctx.store.delete_variable(variable_key)

    @patch("/", sync_to_thread=True)
    def bulk_variables(self, ctx: Ctx, data: JSONBody[BulkBodyVariableBody]) -> BulkResponse:
        """Create, update and delete variables in one request; each entity succeeds or
        fails on its own, and the answer says which did what."""
        results: dict[str, BulkActionResponse] = {}
        for action in data.actions:
            if isinstance(action, BulkCreateActionVariableBody):
                _bulk_create(ctx, action, results.setdefault("create", BulkActionResponse()))
            elif isinstance(action, BulkUpdateActionVariableBody):
                _bulk_update(ctx, action, results.setdefault("update", BulkActionResponse()))
            else:
                _bulk_delete(ctx, action, results.setdefault("delete", BulkActionResponse()))
        return BulkResponse(**results)


def _error(outcome: BulkActionResponse, message: str, status: int) -> None:
    outcome.errors.append({"error": message, "status_code": status})


def _bulk_create(
    ctx: ApiContext, action: BulkCreateActionVariableBody, outcome: BulkActionResponse
) -> None:
    for body in action.entities:
        try:
            key, value = _checked(body)
        except HTTPException as exc:
            _error(outcome, str(exc.detail), 422)
            continue
        exists = ctx.store.get_variable(key) is not None
        if exists and action.action_on_existence == BulkActionOnExistence.FAIL:
            _error(outcome, f"The Variable with key: `{key}` already exists", 409)
            continue
        if exists and action.action_on_existence == BulkActionOnExistence.SKIP:
            continue
        admin.set_variable(ctx.store, key, value, body.description)
        outcome.success.append(key)


def _bulk_update(
    ctx: ApiContext, action: BulkUpdateActionVariableBody, outcome: BulkActionResponse
) -> None:
    fields = set(action.update_mask or UPDATABLE) & set(UPDATABLE)
    for body in action.entities:
        current = ctx.store.get_variable(body.key)
        if current is None:
            if action.action_on_non_existence == BulkActionNotOnExistence.FAIL:
                _error(outcome, _not_found(body.key), 404)
            continue
        try:
            if "value" in fields:
                _checked(body)
        except HTTPException as exc:
            _error(outcome, str(exc.detail), 422)
            continue
        _update(ctx, current, body, fields, bool(action.update_mask))
        outcome.success.append(body.key)


def _bulk_delete(
    ctx: ApiContext, action: BulkDeleteActionVariableBody, outcome: BulkActionResponse
) -> None:
    for entity in action.entities:
        key = entity if isinstance(entity, str) else entity.key
        if ctx.store.get_variable(key) is None:
            if action.action_on_non_existence == BulkActionNotOnExistence.FAIL:
                _error(outcome, _not_found(key), 404)
            continue
        ctx.store.delete_variable(key)
        outcome.success.append(key)
