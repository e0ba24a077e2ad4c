"""``/api/v2/connections``: list, get, create, update, delete.

Secrets never leave the server: ``password`` is ``***`` in answers when there is one
(``null`` when there is none), and ``extra`` shows its keys with every value as ``***``
(Airflow masks only the values of keys that look sensitive). So that a client can send
back what it read, an update keeps every field sent as null unless ``update_mask``
names it, keeps the password when it is sent back as ``***``, and keeps the stored
value of every extra key sent as ``***``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import attrs
from litestar import Controller, delete, get, patch, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_409_CONFLICT

from slipstream import admin
from slipstream.api.auth.guards import can_operate
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
from slipstream.metadata.records import Connection

MASK = "***"
CONNECTION_ID = re.compile(r"^[\w.-]+$")
MAX_CONNECTION_ID_LEN = 200  # Airflow's ConnectionBody limit
CONNECTION_ORDER = {
    "connection_id": "conn_id",
    "conn_id": "conn_id",
    "id": "conn_id",
    "conn_type": "conn_type",
    "description": "description",
    "host": "host",
    "port": "port",
}
UPDATABLE = ("conn_type", "description", "host", "login", "schema", "port", "password", "extra")


@attrs.frozen(kw_only=True)
class ConnectionResponse:
    connection_id: str
    conn_type: str
    description: str | None
    host: str | None
    login: str | None
    schema: str | None
    port: int | None
    password: str | None
    extra: str | None
    team_name: str | None


@attrs.frozen(kw_only=True)
class ConnectionCollectionResponse:
    connections: list[ConnectionResponse]
    total_entries: int


@attrs.frozen(kw_only=True)
class ConnectionBody:
    connection_id: str
    conn_type: str
    description: str | None = None
    host: str | None = None
    login: str | None = None
    schema: str | None = None
    port: int | None = None
    password: str | None = None
    extra: str | None = None
    team_name: str | None = None


def connection_response(conn: Connection) -> ConnectionResponse:
    return ConnectionResponse(
        connection_id=conn.conn_id,
        conn_type=conn.conn_type,
        description=conn.description,
        host=conn.host,
        login=conn.login,
        schema=conn.schema,
        port=conn.port,
        password=MASK if conn.password else None,
        extra=json.dumps({key: MASK for key in sorted(conn.extra)}) if conn.extra else None,
        team_name=None,
    )


def _not_found(conn_id: str) -> str:
    return f"The Connection with connection_id: `{conn_id}` was not found"


def _check(body: ConnectionBody) -> dict[str, Any]:
    """The body's extra as a dict, after checking every field (422 on the first bad one)."""
    conn_id = body.connection_id
    if not CONNECTION_ID.match(conn_id) or len(conn_id) > MAX_CONNECTION_ID_LEN:
        raise invalid(
            f"connection_id {conn_id!r} must be 1 to {MAX_CONNECTION_ID_LEN} letters, digits, "
            "'_', '.' or '-'",
            field="connection_id",
            source="body",
        )
    if not body.conn_type.strip():
        raise invalid("conn_type must not be empty", field="conn_type", source="body")
    try:
        admin.check_port(body.port)
        return admin.parse_extra(body.extra)
    except ValueError as exc:
        field = "port" if "port" in str(exc) else "extra"
        raise invalid(str(exc), field=field, source="body") from None


def _merge_extra(given: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """Keys sent back masked keep their stored values."""
    return {
        key: stored[key] if value == MASK and key in stored else value
        for key, value in given.items()
    }


class ConnectionController(Controller):
    path = "/connections"
    tags = ["Connection"]
    guards = [can_operate]

    @get("/", sync_to_thread=True)
    def get_connections(
        self,
        ctx: Ctx,
        limit: Limit = 50,
        offset: Offset = 0,
        order_by: OrderBy = None,
        connection_id_pattern: FromQuery[str | None] = None,
    ) -> ConnectionCollectionResponse:
        """Connections, by id unless ``order_by`` says otherwise;
        ``connection_id_pattern`` is a case-insensitive substring."""
        order = order_field(order_by, "conn_id", CONNECTION_ORDER)
        found = matching(
            ctx.store.list_connections(limit=None).items, connection_id_pattern, lambda c: c.conn_id
        )
        page = sorted_page(
            found,
            order,
            lambda c, by: (getattr(c, by) is None, str(getattr(c, by) or ""), c.conn_id),
            limit,
            offset,
        )
        return ConnectionCollectionResponse(
            connections=[connection_response(c) for c in page], total_entries=len(found)
        )

    @get("/{connection_id:str}", sync_to_thread=True)
    def get_connection(self, ctx: Ctx, connection_id: FromPath[str]) -> ConnectionResponse:
        conn = or_404(ctx.store.get_connection(connection_id), _not_found(connection_id))
        return connection_response(conn)

    @post("/", sync_to_thread=True)
    def post_connection(self, ctx: Ctx, data: JSONBody[ConnectionBody]) -> ConnectionResponse:
        extra = _check(data)
        if ctx.store.get_connection(data.connection_id) is not None:
            raise HTTPException(
                status_code=HTTP_409_CONFLICT,
                detail=f"The connection with connection_id: `{data.connection_id}` already exists",
            )
        conn = Connection(
            conn_id=data.connection_id,
            conn_type=data.conn_type,
            description=data.description,
            host=data.host,
            login=data.login,
            schema=data.schema,
            port=data.port,
            password=data.password,
            extra=extra,
        )
        ctx.store.set_connection(conn)
        return connection_response(conn)

    @patch("/{connection_id:str}", sync_to_thread=True)
    def patch_connection(
        self,
        ctx: Ctx,
        connection_id: FromPath[str],
        data: JSONBody[ConnectionBody],
        update_mask: FromQuery[list[str] | None] = None,
    ) -> ConnectionResponse:
        """Change a connection: the fields named in ``update_mask`` (null clears them),
        or else every field the body gives (null or missing: kept). Extra values sent
        back as ``***`` keep what is stored."""
        if data.connection_id != connection_id:
            raise HTTPException(
                status_code=HTTP_400_BAD_REQUEST,
                detail="The connection_id in the request body does not match the URL",
            )
        check_update_mask(update_mask, UPDATABLE)
        current = or_404(ctx.store.get_connection(connection_id), _not_found(connection_id))
        extra = _check(data)
        fields = set(update_mask or UPDATABLE)
        # Without a mask, null (or missing) keeps the stored value; a field the mask
        # names is set as sent, null included.
        changes: dict[str, Any] = {
            name: getattr(data, name)
            for name in fields
            if getattr(data, name) is not None or update_mask
        }
        if changes.get("password") == MASK:
            del changes["password"]  # sent back as it was read
        if "extra" in changes:
            changes["extra"] = _merge_extra(extra, current.extra)
        updated = attrs.evolve(current, **changes)
        ctx.store.set_connection(updated)
        return connection_response(updated)

    @delete("/{connection_id:str}", sync_to_thread=True)
    def delete_connection(self, ctx: Ctx, connection_id: FromPath[str]) -> None:
        or_404(ctx.store.get_connection(connection_id), _not_found(connection_id))
        ctx.store.delete_connection(connection_id)
