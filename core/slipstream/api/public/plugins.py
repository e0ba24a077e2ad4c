"""``/api/v2/plugins``: slipstream's registered plugins in Airflow 3's ``PluginResponse``.

Airflow's plugin kinds (Flask blueprints, FastAPI apps, React apps, macros, ...) have
no counterpart here, so those lists are empty; ``listeners`` are the Airflow listener
events a plugin implements. What a slipstream plugin really registers is in the extra
fields: ``distribution``, ``version``, ``builtin``, ``status`` and ``provides``
(family -> names, as ``slipstream plugins list`` shows). Plugins that failed to load
are under ``/plugins/importErrors``.
"""

from __future__ import annotations

import attrs
from litestar import Controller, get

from slipstream.api.auth.guards import can_read
from slipstream.api.public.common import Ctx, Limit, Offset, page_limit
from slipstream.plugins.records import PluginInfo


@attrs.frozen(kw_only=True)
class PluginResponse:
    name: str
    macros: list[str]
    flask_blueprints: list[str]
    fastapi_apps: list[dict[str, str]]
    fastapi_root_middlewares: list[dict[str, str]]
    external_views: list[dict[str, str]]
    react_apps: list[dict[str, str]]
    appbuilder_views: list[dict[str, str]]
    appbuilder_menu_items: list[dict[str, str]]
    global_operator_extra_links: list[str]
    operator_extra_links: list[str]
    source: str
    listeners: list[str]
    timetables: list[str]
    # slipstream's own
    distribution: str | None
    version: str | None
    builtin: bool
    status: str
    provides: dict[str, list[str]]


@attrs.frozen(kw_only=True)
class PluginCollectionResponse:
    plugins: list[PluginResponse]
    total_entries: int


@attrs.frozen(kw_only=True)
class PluginImportErrorResponse:
    source: str
    error: str


@attrs.frozen(kw_only=True)
class PluginImportErrorCollectionResponse:
    import_errors: list[PluginImportErrorResponse]
    total_entries: int


def plugin_source(info: PluginInfo) -> str:
    """Where the plugin comes from: ``dist==version``, or the plugin registered in code."""
    if info.distribution:
        return f"{info.distribution}=={info.version}" if info.version else info.distribution
    return f"registered in code: {info.name}"


def plugin_response(info: PluginInfo) -> PluginResponse:
    provides = {family: list(names) for family, names in info.provides.items()}
    return PluginResponse(
        name=info.name,
        macros=[],
        flask_blueprints=[],
        fastapi_apps=[],
        fastapi_root_middlewares=[],
        external_views=[],
        react_apps=[],
        appbuilder_views=[],
        appbuilder_menu_items=[],
        global_operator_extra_links=[],
        operator_extra_links=[],
        source=plugin_source(info),
        listeners=list(provides.get("listeners", [])),
        timetables=[],
        distribution=info.distribution,
        version=info.version,
        builtin=info.builtin,
        status=info.status,
        provides=provides,
    )


class PluginController(Controller):
    path = "/plugins"
    tags = ["Plugin"]

    @get("/", guards=[can_read], sync_to_thread=True)
    def get_plugins(
        self, ctx: Ctx, limit: Limit = 50, offset: Offset = 0
    ) -> PluginCollectionResponse:
        """Every plugin that loaded (built-ins included), by name."""
        loaded = sorted(
            (info for info in ctx.plugins.describe() if info.status != "failed"),
            key=lambda info: info.name,
        )
        page = loaded[offset : offset + page_limit(limit)]
        return PluginCollectionResponse(
            plugins=[plugin_response(info) for info in page], total_entries=len(loaded)
        )

    @get("/importErrors", guards=[can_read], sync_to_thread=True)
    def import_errors(self, ctx: Ctx) -> PluginImportErrorCollectionResponse:
        """Plugins that failed to load, with the error."""
        failed = [
            PluginImportErrorResponse(source=plugin_source(info), error=info.error or "failed")
            for info in ctx.plugins.failed()
        ]
        return PluginImportErrorCollectionResponse(import_errors=failed, total_entries=len(failed))
