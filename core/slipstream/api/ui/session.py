"""Logging in and out of the UI.

The login form is protected by a double-submit token (a cookie and a hidden field
that must match), since there is no session yet to carry a CSRF secret. A successful
login sets the session cookie (HttpOnly, SameSite=Lax, Secure with
``api.cookie_secure``): a SESSION token whose ``csrf`` claim every state-changing
request must echo in ``X-CSRF-Token`` (checked by the auth middleware).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

import anyio.to_thread
from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.params import FromQuery
from litestar.response import Redirect
from litestar.status_codes import HTTP_403_FORBIDDEN

from slipstream.api.auth.middleware import SESSION_COOKIE
from slipstream.api.auth.routes import authenticate
from slipstream.api.auth.tokens import InvalidToken, TokenKind
from slipstream.api.public.common import Ctx
from slipstream.api.ui.render import render_html

LOGIN_CSRF_COOKIE = "slipstream_login_csrf"
LOGIN_CSRF_FIELD = "csrf_token"
HOME = "/dags"


def safe_next(target: str | None) -> str:
    """Only a path on this site (no ``//host`` or scheme): never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return HOME
    if target.startswith(("/login", "/logout")):
        return HOME
    return target


def _has_session(ctx: Ctx, request: Request[Any, Any, Any]) -> bool:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return False
    try:
        ctx.signer.verify(token, kinds=(TokenKind.SESSION,))
    except InvalidToken:
        return False
    return True


def _login_form(
    ctx: Ctx,
    *,
    next_path: str,
    error: str | None = None,
    status_code: int = 200,
    username: str = "",
) -> Response[str]:
    token = secrets.token_urlsafe(24)
    response = render_html(
        "login.html",
        status_code=status_code,
        title="Log in",
        next_path=next_path,
        error=error,
        username=username,
        csrf_field=LOGIN_CSRF_FIELD,
        csrf_token=token,
        user=None,
        csrf="",
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=bool(ctx.config["api.cookie_secure"]),
        max_age=3600,
    )
    return response


@get("/login", exclude_from_auth=True, include_in_schema=False, sync_to_thread=False)
def login_page(
    ctx: Ctx, request: Request[Any, Any, Any], next: FromQuery[str | None] = None
) -> Response[Any]:
    if _has_session(ctx, request):
        return Redirect(safe_next(next), status_code=303)
    return _login_form(ctx, next_path=safe_next(next))


@post("/login", exclude_from_auth=True, include_in_schema=False, status_code=303)
async def login_submit(ctx: Ctx, request: Request[Any, Any, Any]) -> Response[Any]:
    form = await request.form()
    username = str(form.get("username") or "")
    password = str(form.get("password") or "")
    next_path = safe_next(str(form.get("next") or ""))
    sent = str(form.get(LOGIN_CSRF_FIELD) or "")
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        return _login_form(
            ctx,
            next_path=next_path,
            error="The login form expired or was not sent from this site; please try again.",
            status_code=HTTP_403_FORBIDDEN,
            username=username,
        )
    if not username or not password:
        return _login_form(
            ctx,
            next_path=next_path,
            error="Enter a user name and a password.",
            status_code=400,
            username=username,
        )
    client = request.client.host if request.client else "unknown"
    try:
        user = await anyio.to_thread.run_sync(authenticate, ctx, username, password, client)
    except NotAuthorizedException as exc:
        return _login_form(
            ctx, next_path=next_path, error=str(exc.detail), status_code=401, username=username
        )
    except HTTPException as exc:  # 429: too many failed logins
        refused = _login_form(
            ctx,
            next_path=next_path,
            error=str(exc.detail),
            status_code=exc.status_code,
            username=username,
        )
        refused.headers.update(exc.headers or {})
        return refused
    token = ctx.signer.issue(
        user.username,
        TokenKind.SESSION,
        lifetime=ctx.token_lifetime,
        role=user.role,
        csrf=secrets.token_urlsafe(24),
    )
    response: Response[Any] = Redirect(
        next_path,
        status_code=303,
        cookies=[
            Cookie(
                key=SESSION_COOKIE,
                value=token,
                path="/",
                httponly=True,
                samesite="lax",
                secure=bool(ctx.config["api.cookie_secure"]),
                max_age=ctx.token_lifetime,
            )
        ],
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@post("/logout", include_in_schema=False, status_code=200, sync_to_thread=False)
def logout() -> Response[Any]:
    """Forget the session cookie (a POST with the CSRF header, like every action)."""
    response: Response[Any] = Response(content={"redirect": "/login"})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


SESSION_HANDLERS: list[Any] = [login_page, login_submit, logout]
