"""Configuration and the plugin manager, loaded together.

Which plugins load depends on ``[plugins]`` settings, and which settings exist
depends on the plugins; :func:`load` resolves that in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from slipstream.config.loader import (
    CONFIG_FILE,
    ENV_PREFIX,
    HOME_ENV,
    Config,
    ConfigSources,
    Value,
    build_config,
    find_sources,
    mask_url_password,
)
from slipstream.plugins.manager import PluginManager

__all__ = [
    "CONFIG_FILE",
    "ENV_PREFIX",
    "HOME_ENV",
    "Config",
    "ConfigSources",
    "Value",
    "build_config",
    "find_sources",
    "load",
    "manager_for",
    "mask_url_password",
]


def _as_names(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return [part.strip() for part in raw.split(",") if part.strip()]
    if isinstance(raw, list):
        return [str(item) for item in raw]
    return []


def _as_bool(raw: Any) -> bool:
    if isinstance(raw, str):
        return raw.strip().lower() not in {"0", "false", "no", "off"}
    return bool(raw)


def manager_for(
    sources: ConfigSources,
    *,
    plugins: Iterable[object] = (),
    load_entrypoints: bool | None = None,
) -> PluginManager:
    """The plugin manager that ``[plugins] autoload`` and ``disabled`` ask for.

    ``load_entrypoints`` overrides ``autoload`` (embedding and tests usually pass
    ``False`` and hand their plugins in directly).
    """
    autoload = (
        _as_bool(sources.raw("plugins", "autoload", True))
        if load_entrypoints is None
        else load_entrypoints
    )
    return PluginManager(
        load_entrypoints=autoload,
        blocked=_as_names(sources.raw("plugins", "disabled", [])),
        plugins=plugins,
    )


def load(
    *,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
    plugins: Iterable[object] = (),
    load_entrypoints: bool | None = None,
) -> tuple[Config, PluginManager]:
    """Find the configuration, load the plugins it allows, and validate it."""
    sources = find_sources(cwd=cwd, environ=environ, overrides=overrides, config_file=config_file)
    manager = manager_for(sources, plugins=plugins, load_entrypoints=load_entrypoints)
    return build_config(sources, manager), manager
