"""Opening the configured metadata store from a CLI command, with a clear error if unready."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from slipstream.cli.state import get_state
from slipstream.metadata import open_store
from slipstream.metadata.base import MetadataStore


@contextmanager
def cli_store() -> Iterator[MetadataStore]:
    """The store ``core.metadata`` names, closed afterwards."""
    state = get_state()
    store = open_store(state.config, state.manager)
    try:
        yield store
    finally:
        store.close()
