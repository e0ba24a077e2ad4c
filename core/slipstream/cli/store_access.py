"""Opening the configured metadata store from a CLI command, with a clear error if unready."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from slipstream.cli.state import get_state
from slipstream.metadata import open_store
from slipstream.metadata.base import MetadataStore

if TYPE_CHECKING:
    from slipstream.cli.remote import ApiClient


@contextmanager
def cli_store() -> Iterator[MetadataStore]:
    """The store ``core.metadata`` names, or the REST API when one is configured;
    closed afterwards."""
    state = get_state()
    store: MetadataStore
    if state.remote is not None:
        from slipstream.cli.api_store import ApiStore

        store = ApiStore(remote_client())
    else:
        store = open_store(state.config, state.manager)
    try:
        yield store
    except NotImplementedError:
        if state.remote is None:
            raise
        raise click.ClickException(
            f"this command is not available through the REST API ({state.remote.api_url}): "
            "run it where the metadata database is"
        ) from None
    finally:
        store.close()


def remote_client() -> ApiClient:
    """A client for the configured API; an error when there is no token for it."""
    from slipstream.cli.remote import ApiClient

    remote = get_state().remote
    assert remote is not None
    if not remote.token:
        raise click.ClickException(
            f"not logged in to {remote.api_url}: run `slipstream login {remote.api_url}` "
            "or set SLIPSTREAM__CLI__API_TOKEN"
        )
    return ApiClient(remote.api_url, remote.token)


def is_remote() -> bool:
    return get_state().remote is not None


def require_local(command: str) -> None:
    """For commands that only make sense next to the metadata database."""
    remote = get_state().remote
    if remote is not None:
        raise click.ClickException(
            f"`slipstream {command}` works on the metadata database directly, not through "
            f"the REST API at {remote.api_url}: run it on the machine that has the database "
            "(unset --api-url / SLIPSTREAM__CLI__API_URL, or `slipstream logout`)"
        )
