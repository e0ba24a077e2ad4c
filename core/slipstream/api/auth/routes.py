"""``POST /auth/token``: a user name and password for a bearer token, as Airflow's
simple auth manager answers it; failed attempts are rate limited."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
import attrs
from litestar import Request, Router, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.status_codes import HTTP_201_CREATED, HTTP_429_TOO_MANY_REQUESTS

from slipstream.api.auth.passwords import verify_password
from slipstream.api.auth.tokens import TokenKind
from slipstream.api.errors import invalid
from slipstream.api.public.common import Ctx
from slipstream.metadata.records import User


@attrs.frozen
class LoginBody:
    username: str
    password: str = attrs.field(repr=False)


@attrs.frozen
class LoginResponse:
    access_token: str = attrs.field(repr=False)


def authenticate(ctx: Ctx, username: str, password: str, client: str) -> User:
    """The user whose password this is, or NotAuthorized / 429: shared by the token
    route and the UI's login form."""
    wait = ctx.login_limiter.retry_after(username, client)
    if wait:
        raise HTTPException(
            status_code=HTTP_429_TOO_MANY_REQUESTS,
            detail=f"Too many failed logins; try again in {wait} seconds",
            headers={"Retry-After": str(wait)},
        )
    user = ctx.store.get_user(username)
    if not verify_password(user.password_hash if user else None, password) or user is None:
        ctx.login_limiter.failed(username, client)
        raise NotAuthorizedException("Invalid username or password")
    if not user.active:
        raise NotAuthorizedException("This user is inactive")
    ctx.login_limiter.succeeded(username, client)
    ctx.store.update_user(username, last_login=datetime.now(UTC))
    return user


def _client(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


async def _login_body(request: Request[Any, Any, Any]) -> LoginBody:
    """The credentials from a JSON or a form body (Airflow's clients send either)."""
    if request.content_type[0] == RequestEncodingType.URL_ENCODED:
        raw: Any = dict(await request.form())
    else:
        try:
            raw = await request.json()
        except Exception:
            raise invalid("the body is not valid JSON", source="body") from None
    if not isinstance(raw, dict):
        raise invalid("the body must be an object with username and password", source="body")
    for field in ("username", "password"):
        if not isinstance(raw.get(field), str) or not raw[field]:
            raise invalid(f"{field} is required and must be a string", field=field, source="body")
    return LoginBody(username=raw["username"], password=raw["password"])


@post("/token", exclude_from_auth=True, status_code=HTTP_201_CREATED, tags=["Auth"])
async def create_token(ctx: Ctx, request: Request[Any, Any, Any]) -> LoginResponse:
    """A bearer token for the user whose ``username`` and ``password`` the body
    (JSON or form) carries."""
    body = await _login_body(request)
    client = request.client.host if request.client else "unknown"
    user = await anyio.to_thread.run_sync(authenticate, ctx, body.username, body.password, client)
    token = ctx.signer.issue(
        user.username, TokenKind.ACCESS, lifetime=ctx.token_lifetime, role=user.role
    )
    return LoginResponse(access_token=token)


router = Router(path="/auth", route_handlers=[create_token])
