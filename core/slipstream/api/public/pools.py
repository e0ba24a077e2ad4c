"""``/api/v2/pools``: list, get, create, update, delete (viewers read, ops write).

slipstream pools have 0 or more slots: Airflow's ``-1`` (unlimited) is refused, as
are deferred slots (slipstream has no deferrable tasks). The default pool can be
resized but not deleted or renamed.
"""

from __future__ import annotations

import attrs
from litestar import Controller, delete, get, patch, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_409_CONFLICT

from slipstream import admin
from slipstream.api.auth.guards import can_operate, can_read
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
from slipstream.metadata.records import DEFAULT_POOL, Pool

POOL_ORDER = {"name": "name", "pool": "name", "id": "name", "slots": "slots"}
UPDATABLE = ("pool", "slots", "description", "include_deferred")


@attrs.frozen(kw_only=True)
class PoolResponse:
    name: str
    slots: int
    description: str | None
    include_deferred: bool
    occupied_slots: int
    running_slots: int
    queued_slots: int
    scheduled_slots: int
    open_slots: int
    deferred_slots: int
    team_name: str | None


@attrs.frozen(kw_only=True)
class PoolCollectionResponse:
    pools: list[PoolResponse]
    total_entries: int


@attrs.frozen(kw_only=True)
class PoolBody:
    name: str
    slots: int
    description: str | None = None
    include_deferred: bool = False
    team_name: str | None = None


@attrs.frozen(kw_only=True)
class PoolPatchBody:
    pool: str | None = None
    slots: int | None = None
    description: str | None = None
    include_deferred: bool | None = None
    team_name: str | None = None


def pool_response(pool: Pool) -> PoolResponse:
    return PoolResponse(
        name=pool.name,
        slots=pool.slots,
        description=pool.description,
        include_deferred=False,
        occupied_slots=pool.occupied_slots,
        running_slots=pool.running_slots,
        queued_slots=pool.queued_slots,
        scheduled_slots=pool.scheduled_slots,
        open_slots=pool.open_slots,
        deferred_slots=0,
        team_name=None,
    )


def pool_not_found(name: str) -> str:
    return f"The Pool with name: `{name}` was not found"


def _check_slots(slots: int) -> int:
    try:
        return admin.check_slots(slots)
    except ValueError as exc:
        raise invalid(
            f"{exc} (slipstream has no unlimited pools)", field="slots", source="body"
        ) from None


def _check_deferred(include_deferred: bool | None) -> None:
    if include_deferred:
        raise invalid(
            "slipstream has no deferrable tasks: include_deferred must be false",
            field="include_deferred",
            source="body",
        )


class PoolController(Controller):
    path = "/pools"
    tags = ["Pool"]

    @get("/", guards=[can_read], sync_to_thread=True)
    def get_pools(
        self,
        ctx: Ctx,
        limit: Limit = 50,
        offset: Offset = 0,
        order_by: OrderBy = None,
        pool_name_pattern: FromQuery[str | None] = None,
    ) -> PoolCollectionResponse:
        """Pools and how their slots are used; ``pool_name_pattern`` is a
        case-insensitive substring."""
        order = order_field(order_by, "name", POOL_ORDER)
        found = matching(ctx.store.list_pools(), pool_name_pattern, lambda p: p.name)
        page = sorted_page(found, order, lambda p, by: (getattr(p, by), p.name), limit, offset)
        return PoolCollectionResponse(
            pools=[pool_response(p) for p in page], total_entries=len(found)
        )

    @get("/{pool_name:str}", guards=[can_read], sync_to_thread=True)
    def get_pool(self, ctx: Ctx, pool_name: FromPath[str]) -> PoolResponse:
        return pool_response(or_404(ctx.store.get_pool(pool_name), pool_not_found(pool_name)))

    @post("/", guards=[can_operate], sync_to_thread=True)
    def post_pool(self, ctx: Ctx, data: JSONBody[PoolBody]) -> PoolResponse:
        try:
            admin.check_name("pool name", data.name, admin.MAX_POOL_NAME_LEN)
        except ValueError as exc:
            raise invalid(str(exc), field="name", source="body") from None
        slots = _check_slots(data.slots)
        _check_deferred(data.include_deferred)
        if ctx.store.get_pool(data.name) is not None:
            raise HTTPException(
                status_code=HTTP_409_CONFLICT,
                detail=f"The Pool with name: `{data.name}` already exists",
            )
        return pool_response(ctx.store.set_pool(data.name, slots, description=data.description))

    @patch("/{pool_name:str}", guards=[can_operate], sync_to_thread=True)
    def patch_pool(
        self,
        ctx: Ctx,
        pool_name: FromPath[str],
        data: JSONBody[PoolPatchBody],
        update_mask: FromQuery[list[str] | None] = None,
    ) -> PoolResponse:
        """Change a pool's slots or description (null or missing: kept); a pool cannot
        be renamed."""
        check_update_mask(update_mask, UPDATABLE)
        current = or_404(ctx.store.get_pool(pool_name), pool_not_found(pool_name))
        fields = set(update_mask or UPDATABLE)
        if "pool" in fields and data.pool is not None and data.pool != pool_name:
            raise HTTPException(
                status_code=HTTP_400_BAD_REQUEST,
                detail="slipstream pools cannot be renamed: create a new pool instead",
            )
        if "include_deferred" in fields:
            _check_deferred(data.include_deferred)
        slots = current.slots
        if "slots" in fields and data.slots is not None:
            slots = _check_slots(data.slots)
        description = current.description
        if "description" in fields and (data.description is not None or update_mask):
            description = data.description
        return pool_response(ctx.store.set_pool(pool_name, slots, description=description))

    @delete("/{pool_name:str}", guards=[can_operate], sync_to_thread=True)
    def delete_pool(self, ctx: Ctx, pool_name: FromPath[str]) -> None:
        if pool_name == DEFAULT_POOL:
            raise HTTPException(
                status_code=HTTP_400_BAD_REQUEST, detail="Default Pool can't be deleted"
            )
        or_404(ctx.store.get_pool(pool_name), pool_not_found(pool_name))
        ctx.store.delete_pool(pool_name)
