"""What CLI commands share: configuration and plugins, loaded once and only when needed."""

from __future__ import annotations

from functools import cached_property

import click

from slipstream.config import Config, ConfigSources, build_config, find_sources, manager_for
from slipstream.errors import ConfigError
from slipstream.plugins.manager import PluginManager


class CliState:
    """Plugins load when the command list is needed; configuration is validated
    only when a command reads it, so ``--help`` works with a broken config."""

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


def get_state() -> CliState:
    ctx = click.get_current_context()
    state = ctx.find_object(CliState)
    if state is None:
        state = ctx.ensure_object(CliState)
    return state
