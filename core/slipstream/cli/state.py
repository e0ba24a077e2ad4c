"""What CLI commands share: configuration and plugins, loaded once and only when needed."""

from __future__ import annotations

from functools import cached_property

import attrs
import click

from slipstream.config import Config, ConfigSources, build_config, find_sources, manager_for
from slipstream.errors import ConfigError
from slipstream.plugins.manager import PluginManager


@attrs.frozen
class Remote:
    """The API server this CLI talks to instead of the metadata database."""

    api_url: str
    token: str | None = attrs.field(repr=False)


class CliState:
    """Plugins load when the command list is needed; configuration is validated
    only when a command reads it, so ``--help`` works with a broken config."""

    api_url_option: str | None = None  # the root command's --api-url

    @cached_property
    def sources(self) -> ConfigSources:
        return find_sources()

    @cached_property
    def manager(self) -> PluginManager:
        try:
            sources = self.sources
        except ConfigError:  # unreadable file: plugins load by default; `config` reports it
            return PluginManager()
        return manager_for(sources)

    @cached_property
    def config(self) -> Config:
        return build_config(self.sources, self.manager)

    @cached_property
    def remote(self) -> Remote | None:
        """Set when commands go through a REST API (``--api-url``, ``cli.api_url``,
        or what ``slipstream login`` saved); None for the local database."""
        from slipstream.cli.remote import load_credentials, normalize_url

        saved = load_credentials()
        url = self.api_url_option or self.config["cli.api_url"] or (saved and saved.api_url)
        if not url:
            return None
        url = normalize_url(url)
        token = self.config["cli.api_token"] or (
            saved.token if saved and normalize_url(saved.api_url) == url else None
        )
        return Remote(api_url=url, token=token)


def get_state() -> CliState:
    ctx = click.get_current_context()
    state = ctx.find_object(CliState)
    if state is None:
        state = ctx.ensure_object(CliState)
    return state
