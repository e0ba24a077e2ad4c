"""The one ASGI application: ``/api/v2`` (public REST API), ``/auth`` (tokens),
``/execution`` (the task-execution API for remote workers), and the web UI (``/``,
``/dags``, ``/ui``, ``/static``: see ``slipstream.api.ui``).

``create_app`` takes the configuration and plugins the CLI (or an embedding
application) already loaded; the store is opened here unless one is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from litestar import Litestar, Router
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.attrs import AttrsSchemaPlugin

from slipstream.api.auth import routes as auth_routes
from slipstream.api.auth.limiter import LoginLimiter
from slipstream.api.auth.middleware import AuthMiddleware
from slipstream.api.auth.tokens import TokenSigner
from slipstream.api.context import ApiContext
from slipstream.api.errors import EXCEPTION_HANDLERS
from slipstream.api.execution import execution_router
from slipstream.api.openapi import ApiJsonRenderPlugin
from slipstream.api.public import (
    connections,
    dag_details,
    dag_runs,
    dag_serialized,
    dag_stats,
    dag_versions,
    dags,
    import_errors,
    logs,
    monitor,
    pools,
    task_instances,
    tasks,
    users,
    variables,
    xcoms,
)
from slipstream.api.public import plugins as plugins_api
from slipstream.api.public.common import provide_ctx
from slipstream.api.ui import ui_routers
from slipstream.version import __version__

if TYPE_CHECKING:
    from slipstream.config import Config
    from slipstream.metadata.base import MetadataStore
    from slipstream.plugins.manager import PluginManager

API_PREFIX = "/api/v2"


def public_api_handlers() -> Sequence[Any]:
    """The route handlers mounted under ``/api/v2``."""
    return [
        monitor.router,
        dags.DagController,
        dag_details.DagDetailsController,
        dag_serialized.get_serialized_dag,
        dag_versions.DagVersionController,
        dag_versions.DagSourceController,
        dag_runs.DagRunController,
        tasks.TaskController,
        import_errors.ImportErrorController,
        plugins_api.PluginController,
        dag_stats.DagStatsController,
        dag_stats.DagTagController,
        dag_stats.JobController,
        task_instances.TaskInstanceController,
        task_instances.post_clear_task_instances,
        logs.get_log,
        xcoms.XComController,
        variables.VariableController,
        connections.ConnectionController,
        pools.PoolController,
        users.UserController,
    ]


def create_app(
    config: Config,
    plugins: PluginManager,
    *,
    store: MetadataStore | None = None,
    debug: bool = False,
) -> Litestar:
    from slipstream.metadata import open_store

    owns_store = store is None
    ctx = ApiContext(
        config=config,
        plugins=plugins,
        store=store if store is not None else open_store(config, plugins),
        signer=TokenSigner.for_home(config["api.secret_key"], config.home),
        login_limiter=LoginLimiter(config["api.login_attempts_per_minute"]),
    )

    def close_store() -> None:
        if owns_store:
            ctx.store.close()

    public = Router(path=API_PREFIX, route_handlers=list(public_api_handlers()))
    return Litestar(
        route_handlers=[public, auth_routes.router, execution_router(), *ui_routers()],
        state=_state(ctx),
        dependencies={"ctx": Provide(provide_ctx, sync_to_thread=False)},
        middleware=[DefineMiddleware(AuthMiddleware, exclude_from_auth_key="exclude_from_auth")],
        exception_handlers=EXCEPTION_HANDLERS,
        plugins=[AttrsSchemaPlugin()],
        openapi_config=OpenAPIConfig(
            title="slipstream REST API",
            version=__version__,
            description="Airflow 3's public REST API v2, as slipstream serves it.",
            path=API_PREFIX,
            render_plugins=[ApiJsonRenderPlugin(path="/openapi.json")],
            components=Components(
                security_schemes={
                    "HTTPBearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
                }
            ),
            security=[{"HTTPBearer": []}],
        ),
        on_shutdown=[close_store],
        logging_config=None,  # slipstream's processes configure logging themselves
        debug=debug,
    )


def _state(ctx: ApiContext) -> Any:
    from litestar.datastructures import State

    return State({"ctx": ctx})
