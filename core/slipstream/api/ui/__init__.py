"""The web UI, served by the API application: server-rendered pages (Jinja2) with small
vanilla JavaScript modules, and the assets shipped in the package (no CDN, no build).

- pages (``/``, ``/login``, ``/dags``, ``/dags/{dag_id}``, ``/admin/...``): an
  unauthenticated request is sent to the login page, a refused one gets an HTML 403;
- ``/ui/...``: the JSON the pages poll and the actions their buttons take;
- ``/static/...``: CSS and JavaScript, readable without logging in.

See docs/ui.md for what each page does and who may use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from litestar import Router
from litestar.static_files import create_static_files_router

from slipstream.api.auth.guards import can_read


def ui_routers() -> Sequence[Any]:
    """The routers ``create_app`` mounts for the UI."""
    from slipstream.api.ui import admin, endpoints, pages, session
    from slipstream.api.ui.render import PAGE_EXCEPTION_HANDLERS, STATIC, STATIC_PATH

    page_router = Router(
        path="/",
        route_handlers=[*pages.PAGE_HANDLERS, admin.AdminPages],
        guards=[can_read],
        exception_handlers=PAGE_EXCEPTION_HANDLERS,
        include_in_schema=False,
    )
    login_router = Router(
        path="/",
        route_handlers=session.SESSION_HANDLERS,
        exception_handlers=PAGE_EXCEPTION_HANDLERS,
        include_in_schema=False,
    )
    data_router = Router(
        path="/ui",
        route_handlers=[*endpoints.UI_API_HANDLERS, admin.AdminActions],
        include_in_schema=False,
    )
    static_router = create_static_files_router(
        path=STATIC_PATH,
        directories=[STATIC],
        include_in_schema=False,
        opt={"exclude_from_auth": True},
    )
    return [page_router, login_router, data_router, static_router]
