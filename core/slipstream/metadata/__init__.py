"""Metadata stores: the interface, its records, and how to open the configured one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slipstream.errors import UnavailableError
from slipstream.metadata.base import MetadataStore, SchemaStatus, StoreContext

if TYPE_CHECKING:
    from slipstream.config import Config
    from slipstream.plugins.manager import PluginManager

__all__ = ["MetadataStore", "SchemaStatus", "StoreContext", "open_store"]


def open_store(config: Config, manager: PluginManager) -> MetadataStore:
    """The store ``core.metadata`` selects, built by the plugin registered for its scheme.

    Raises UnavailableError (naming the extra to install) when that plugin cannot
    work here, for example when the database driver is missing.
    """
    url = config["core.metadata"]
    registered = manager.metadata_backend_for(url)
    record = registered.record
    if record.unavailable:
        raise UnavailableError(
            f"core.metadata = {config.display('core.metadata')!r}: {record.unavailable}"
        )
    return record.factory(StoreContext(url=url, config=config))
