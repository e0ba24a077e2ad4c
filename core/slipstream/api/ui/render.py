"""Rendering the UI's pages: one Jinja environment (autoescaping on), the values every
page needs (who is logged in, what they may do, the CSRF secret), and the HTML error
pages that UI routes answer with instead of JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.response import Redirect
from litestar.status_codes import (
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_500_INTERNAL_SERVER_ERROR,
)
from litestar.types import ExceptionHandlersMap
from markupsafe import Markup

from slipstream.api.auth.middleware import SESSION_COOKIE, Principal
from slipstream.api.auth.roles import Role
from slipstream.api.errors import log
from slipstream.api.ui import views
from slipstream.api.ui.markdown import render_markdown
from slipstream.errors import NotFoundError
from slipstream.version import __version__

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
STATIC_PATH = "/static"


def _seg(value: object) -> str:
    """A value as one URL path segment (run ids hold ``:`` and ``+``)."""
    return quote(str(value), safe="")


def _tojson_attr(value: Any) -> str:
    return json.dumps(value, default=str)


def _make_env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["seg"] = _seg
    env.filters["when"] = views.fmt_time
    env.filters["duration"] = views.fmt_duration
    env.filters["markdown"] = render_markdown
    env.filters["jsonattr"] = _tojson_attr
    env.globals["static"] = lambda name: f"{STATIC_PATH}/{name}?v={__version__}"
    env.globals["slipstream_version"] = __version__
    return env


ENV = _make_env()


def principal(request: Request[Any, Any, Any]) -> Principal | None:
    user = request.scope.get("user")
    return user if isinstance(user, Principal) else None


def role_flags(who: Principal | None) -> dict[str, bool]:
    """What the page may offer: the server checks each action again anyway."""
    return {
        "can_edit": bool(who and who.has_role(Role.USER)),
        "can_operate": bool(who and who.has_role(Role.OP)),
        "is_admin": bool(who and who.has_role(Role.ADMIN)),
    }


def render_html(template: str, status_code: int = 200, **context: Any) -> Response[str]:
    html = ENV.get_template(template).render(**context)
    return Response(
        content=html,
        status_code=status_code,
        media_type=MediaType.HTML,
        headers={"Cache-Control": "no-store"},
    )


def page(
    request: Request[Any, Any, Any],
    template: str,
    *,
    title: str,
    nav: str = "",
    status_code: int = 200,
    **context: Any,
) -> Response[str]:
    who = principal(request)
    ctx = request.app.state["ctx"]
    try:
        import_errors = ctx.store.list_import_errors(limit=0).total
    except Exception:  # the page itself says what is wrong with the store
        import_errors = 0
    return render_html(
        template,
        status_code=status_code,
        title=title,
        nav=nav,
        user=who,
        csrf=(who.claims.csrf if who is not None else None) or "",
        import_error_count=import_errors,
        **role_flags(who),
        **context,
    )


def _error_page(request: Request[Any, Any, Any], status: int, message: str) -> Response[str]:
    try:
        return page(
            request,
            "error.html",
            title=f"Error {status}",
            status_code=status,
            status=status,
            message=message,
        )
    except Exception:
        return Response(content=message, status_code=status, media_type=MediaType.TEXT)


def _login_redirect(request: Request[Any, Any, Any], _: NotAuthorizedException) -> Response[Any]:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response: Response[Any] = Redirect(f"/login?next={quote(target, safe='')}", status_code=303)
    if request.cookies.get(SESSION_COOKIE):
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _forbidden(request: Request[Any, Any, Any], exc: PermissionDeniedException) -> Response[Any]:
    return _error_page(request, HTTP_403_FORBIDDEN, str(exc.detail))


def _not_found(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    detail = exc.detail if isinstance(exc, HTTPException) else str(exc)
    return _error_page(request, HTTP_404_NOT_FOUND, str(detail))


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    return _error_page(request, exc.status_code, str(exc.detail))


def _internal(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
    return _error_page(request, HTTP_500_INTERNAL_SERVER_ERROR, "Internal Server Error")


PAGE_EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    NotAuthorizedException: _login_redirect,
    PermissionDeniedException: _forbidden,
    NotFoundException: _not_found,
    NotFoundError: _not_found,
    HTTPException: _http,
    Exception: _internal,
}

__all__ = ["PAGE_EXCEPTION_HANDLERS", "Markup", "page", "principal", "render_html"]
