"""``/api/v2/users``: the people who may log in (admin only). A slipstream addition:
Airflow's API has no such resource (its auth managers keep users elsewhere).

Passwords are hashed (argon2id) before the store sees them and never returned; an
admin cannot delete or demote themselves, so the last admin cannot lock everyone out
by mistake.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
from litestar import Controller, Request, delete, get, patch, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_409_CONFLICT

from slipstream.api.auth.guards import can_admin
from slipstream.api.auth.passwords import hash_password
from slipstream.api.errors import invalid
from slipstream.api.public.common import (
    Ctx,
    Limit,
    Offset,
    OrderBy,
    or_404,
    order_field,
    sorted_page,
)
from slipstream.metadata.records import USER_ROLES, User

MAX_USERNAME_LEN = 250
USER_ORDER = {
    "username": "username",
    "role": "role",
    "email": "email",
    "created_at": "created_at",
    "last_login": "last_login",
}


@attrs.frozen(kw_only=True)
class UserResponse:
    username: str
    role: str
    email: str | None
    active: bool
    created_at: datetime
    last_login: datetime | None


@attrs.frozen(kw_only=True)
class UserCollectionResponse:
    users: list[UserResponse]
    total_entries: int


@attrs.frozen(kw_only=True)
class UserBody:
    username: str
    password: str = attrs.field(repr=False)
    role: str
    email: str | None = None
    active: bool = True


@attrs.frozen(kw_only=True)
class UserPatchBody:
    """Only the fields given (not null) change."""

    role: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    email: str | None = None
    active: bool | None = None


def user_response(user: User) -> UserResponse:
    return UserResponse(
        username=user.username,
        role=user.role,
        email=user.email,
        active=user.active,
        created_at=user.created_at,
        last_login=user.last_login,
    )


def user_not_found(username: str) -> str:
    return f"The User with username: `{username}` was not found"


def _check_role(role: str) -> None:
    if role not in USER_ROLES:
        raise invalid(
            f"role must be one of {', '.join(USER_ROLES)}; got {role!r}",
            field="role",
            source="body",
        )


def _hash(password: str) -> str:
    try:
        return hash_password(password)
    except ValueError as exc:
        raise invalid(str(exc), field="password", source="body") from None


def _caller(request: Request[Any, Any, Any]) -> str:
    return str(getattr(request.user, "name", ""))


class UserController(Controller):
    path = "/users"
    tags = ["User"]
    guards = [can_admin]

    @get("/", sync_to_thread=True)
    def get_users(
        self, ctx: Ctx, limit: Limit = 50, offset: Offset = 0, order_by: OrderBy = None
    ) -> UserCollectionResponse:
        order = order_field(order_by, "username", USER_ORDER)
        found = list(ctx.store.list_users(limit=None).items)
        page = sorted_page(
            found,
            order,
            lambda u, by: (getattr(u, by) is None, str(getattr(u, by) or ""), u.username),
            limit,
            offset,
        )
        return UserCollectionResponse(
            users=[user_response(u) for u in page], total_entries=len(found)
        )

    @get("/{username:str}", sync_to_thread=True)
    def get_user(self, ctx: Ctx, username: FromPath[str]) -> UserResponse:
        return user_response(or_404(ctx.store.get_user(username), user_not_found(username)))

    @post("/", sync_to_thread=True)
    def post_user(self, ctx: Ctx, data: JSONBody[UserBody]) -> UserResponse:
        """Create a user with a password of at least 8 characters."""
        if not data.username.strip() or len(data.username) > MAX_USERNAME_LEN:
            raise invalid(
                f"a user name must be 1 to {MAX_USERNAME_LEN} characters, not only spaces",
                field="username",
                source="body",
            )
        _check_role(data.role)
        password_hash = _hash(data.password)
        if ctx.store.get_user(data.username) is not None:
            raise HTTPException(
                status_code=HTTP_409_CONFLICT,
                detail=f"The User with username: `{data.username}` already exists",
            )
        user = ctx.store.create_user(
            data.username,
            role=data.role,
            password_hash=password_hash,
            email=data.email,
            active=data.active,
        )
        return user_response(user)

    @patch("/{username:str}", sync_to_thread=True)
    def patch_user(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        username: FromPath[str],
        data: JSONBody[UserPatchBody],
    ) -> UserResponse:
        """Change a user's role, password, email or active flag (null: unchanged)."""
        or_404(ctx.store.get_user(username), user_not_found(username))
        if data.role is not None:
            _check_role(data.role)
        if username == _caller(request) and (
            (data.role is not None and data.role != "admin") or data.active is False
        ):
            raise HTTPException(
                status_code=HTTP_400_BAD_REQUEST,
                detail="You cannot take the admin role from, or deactivate, yourself: "
                "ask another admin",
            )
        password_hash = None if data.password is None else _hash(data.password)
        user = ctx.store.update_user(
            username,
            role=data.role,
            password_hash=password_hash,
            email=data.email,
            active=data.active,
        )
        return user_response(user)

    @delete("/{username:str}", sync_to_thread=True)
    def delete_user(
        self, ctx: Ctx, request: Request[Any, Any, Any], username: FromPath[str]
    ) -> None:
        """Delete a user; their tokens and sessions stop working at once."""
        if username == _caller(request):
            raise HTTPException(
                status_code=HTTP_400_BAD_REQUEST,
                detail="You cannot delete yourself: ask another admin",
            )
        or_404(ctx.store.get_user(username), user_not_found(username))
        ctx.store.delete_user(username)
