"""Admin pages: variables, connections and pools (op and admin), users (admin only).

Each page lists its records and offers a form to add or replace one and a button to
delete one; the forms post JSON to ``/ui/...`` with the CSRF header. Connection
passwords and extras are never sent to the browser.
"""

from __future__ import annotations

from typing import Any

import attrs
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK

from slipstream.api.auth.guards import can_admin, can_operate
from slipstream.api.auth.passwords import check_password_strength, hash_password
from slipstream.api.errors import invalid
from slipstream.api.public.common import Ctx, or_404
from slipstream.api.public.pools import pool_not_found
from slipstream.api.public.users import user_not_found
from slipstream.api.ui.render import page, principal
from slipstream.errors import AlreadyExistsError, StoreError
from slipstream.metadata.records import DEFAULT_POOL, USER_ROLES, Connection

MAX_NAME = 250


def _name(value: str, what: str, field: str) -> str:
    if not value or value.strip() != value or len(value) > MAX_NAME:
        raise invalid(
            f"{what} must be 1 to {MAX_NAME} characters, without leading or trailing spaces",
            field=field,
            source="body",
        )
    return value


# -- pages ------------------------------------------------------------------------------


class AdminPages(Controller):
    path = "/admin"
    include_in_schema = False

    @get("/variables", guards=[can_operate], sync_to_thread=True)
    def variables(self, ctx: Ctx, request: Request[Any, Any, Any]) -> Response[str]:
        items = ctx.store.list_variables().items
        return page(
            request, "admin_variables.html", title="Variables", nav="variables", variables=items
        )

    @get("/connections", guards=[can_operate], sync_to_thread=True)
    def connections(self, ctx: Ctx, request: Request[Any, Any, Any]) -> Response[str]:
        items = ctx.store.list_connections().items
        return page(
            request,
            "admin_connections.html",
            title="Connections",
            nav="connections",
            connections=items,
        )

    @get("/pools", guards=[can_operate], sync_to_thread=True)
    def pools(self, ctx: Ctx, request: Request[Any, Any, Any]) -> Response[str]:
        return page(
            request,
            "admin_pools.html",
            title="Pools",
            nav="pools",
            pools=ctx.store.list_pools(),
            default_pool=DEFAULT_POOL,
        )

    @get("/users", guards=[can_admin], sync_to_thread=True)
    def users(self, ctx: Ctx, request: Request[Any, Any, Any]) -> Response[str]:
        return page(
            request,
            "admin_users.html",
            title="Users",
            nav="users",
            users=ctx.store.list_users().items,
            roles=USER_ROLES,
        )


# -- actions ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class VariableBody:
    key: str
    value: str
    description: str | None = None


@attrs.frozen(kw_only=True)
class ConnectionBody:
    conn_id: str
    conn_type: str
    host: str | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = None  # empty or missing keeps the stored one
    port: int | None = None
    description: str | None = None


@attrs.frozen(kw_only=True)
class PoolBody:
    name: str
    slots: int
    description: str | None = None


@attrs.frozen(kw_only=True)
class NewUserBody:
    username: str
    role: str
    password: str
    email: str | None = None


@attrs.frozen(kw_only=True)
class UserPatchBody:
    role: str | None = None
    active: bool | None = None
    password: str | None = None


def _blank(value: str | None) -> str | None:
    return value if value not in (None, "") else None


def _check_role(role: str) -> None:
    if role not in USER_ROLES:
        raise invalid(f"role must be one of {', '.join(USER_ROLES)}", field="role", source="body")


class AdminActions(Controller):
    path = "/"
    include_in_schema = False

    @post("/variables", guards=[can_operate], status_code=HTTP_200_OK, sync_to_thread=True)
    def set_variable(self, ctx: Ctx, data: JSONBody[VariableBody]) -> dict[str, Any]:
        ctx.store.set_variable(
            _name(data.key, "key", "key"), data.value, description=_blank(data.description)
        )
        return {"key": data.key}

    @delete(
        "/variables/{key:str}", guards=[can_operate], status_code=HTTP_200_OK, sync_to_thread=True
    )
    def delete_variable(self, ctx: Ctx, key: FromPath[str]) -> dict[str, Any]:
        ctx.store.delete_variable(key)
        return {"deleted": key}

    @post("/connections", guards=[can_operate], status_code=HTTP_200_OK, sync_to_thread=True)
    def set_connection(self, ctx: Ctx, data: JSONBody[ConnectionBody]) -> dict[str, Any]:
        conn_id = _name(data.conn_id, "conn_id", "conn_id")
        if not data.conn_type.strip():
            raise invalid("conn_type is required", field="conn_type", source="body")
        if data.port is not None and not 1 <= data.port <= 65535:
            raise invalid("port must be 1 to 65535", field="port", source="body")
        existing = ctx.store.get_connection(conn_id)
        password = _blank(data.password)
        if password is None and existing is not None:
            password = existing.password
        ctx.store.set_connection(
            Connection(
                conn_id=conn_id,
                conn_type=data.conn_type.strip(),
                host=_blank(data.host),
                schema=_blank(data.schema),
                login=_blank(data.login),
                password=password,
                port=data.port,
                extra=dict(existing.extra) if existing is not None else {},
                description=_blank(data.description),
            )
        )
        return {"conn_id": conn_id}

    @delete(
        "/connections/{conn_id:str}",
        guards=[can_operate],
        status_code=HTTP_200_OK,
        sync_to_thread=True,
    )
    def delete_connection(self, ctx: Ctx, conn_id: FromPath[str]) -> dict[str, Any]:
        ctx.store.delete_connection(conn_id)
        return {"deleted": conn_id}

    @post("/pools", guards=[can_operate], status_code=HTTP_200_OK, sync_to_thread=True)
    def set_pool(self, ctx: Ctx, data: JSONBody[PoolBody]) -> dict[str, Any]:
        if data.slots < 0:
            raise invalid("slots must be 0 or more", field="slots", source="body")
        pool = ctx.store.set_pool(
            _name(data.name, "name", "name"), data.slots, description=_blank(data.description)
        )
        return {"name": pool.name, "slots": pool.slots}

    @delete("/pools/{name:str}", guards=[can_operate], status_code=HTTP_200_OK, sync_to_thread=True)
    def delete_pool(self, ctx: Ctx, name: FromPath[str]) -> dict[str, Any]:
        or_404(ctx.store.get_pool(name), pool_not_found(name))
        try:
            ctx.store.delete_pool(name)
        except StoreError as exc:
            raise invalid(str(exc), field="name", source="path") from None
        return {"deleted": name}

    @post("/users", guards=[can_admin], status_code=HTTP_200_OK, sync_to_thread=True)
    def create_user(self, ctx: Ctx, data: JSONBody[NewUserBody]) -> dict[str, Any]:
        username = _name(data.username, "username", "username")
        _check_role(data.role)
        try:
            check_password_strength(data.password)
        except ValueError as exc:
            raise invalid(str(exc), field="password", source="body") from None
        if ctx.store.get_user(username) is not None:
            raise AlreadyExistsError(f"user {username!r} already exists")
        ctx.store.create_user(
            username,
            role=data.role,
            password_hash=hash_password(data.password),
            email=_blank(data.email),
        )
        return {"username": username, "role": data.role}

    @patch("/users/{username:str}", guards=[can_admin], sync_to_thread=True)
    def update_user(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        username: FromPath[str],
        data: JSONBody[UserPatchBody],
    ) -> dict[str, Any]:
        or_404(ctx.store.get_user(username), user_not_found(username))
        if data.role is not None:
            _check_role(data.role)
        who = principal(request)
        if (
            who is not None
            and who.name == username
            and ((data.role not in (None, "admin")) or data.active is False)
        ):
            raise invalid("you cannot demote or deactivate yourself", field="role", source="body")
        password_hash = None
        if data.password:
            try:
                password_hash = hash_password(data.password)
            except ValueError as exc:
                raise invalid(str(exc), field="password", source="body") from None
        user = ctx.store.update_user(
            username, role=data.role, active=data.active, password_hash=password_hash
        )
        return {"username": user.username, "role": user.role, "active": user.active}

    @delete(
        "/users/{username:str}", guards=[can_admin], status_code=HTTP_200_OK, sync_to_thread=True
    )
    def delete_user(
        self, ctx: Ctx, request: Request[Any, Any, Any], username: FromPath[str]
    ) -> dict[str, Any]:
        who = principal(request)
        if who is not None and who.name == username:
            raise invalid("you cannot delete yourself", field="username", source="path")
        or_404(ctx.store.get_user(username), user_not_found(username))
        ctx.store.delete_user(username)
        return {"deleted": username}
