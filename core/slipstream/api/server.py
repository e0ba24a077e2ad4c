"""Serving the application with uvicorn (``slipstream api-server``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slipstream.config import Config
    from slipstream.plugins.manager import PluginManager

log = logging.getLogger("slipstream.api")


def serve(config: Config, plugins: PluginManager, *, host: str, port: int) -> None:
    """Run until SIGINT/SIGTERM (uvicorn handles both and drains open requests)."""
    import uvicorn

    from slipstream.api.app import create_app

    app = create_app(config, plugins)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,  # keep slipstream's logging
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
    )
    log.info("API server listening on http://%s:%d", host, port)
    server.run()
