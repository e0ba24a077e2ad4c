"""``slipstream``: the root command. Its subcommands come from plugins, the
core's own included (see ``slipstream.plugins.builtins.cli``)."""

from __future__ import annotations

import sys
from typing import Any

import click

from slipstream.cli.state import CliState
from slipstream.errors import SlipstreamError
from slipstream.version import __version__


class SlipstreamGroup(click.Group):
    """Looks subcommands up in the plugin registry, so plugins can add their own."""

    def _registered(self, ctx: click.Context) -> dict[str, click.Command]:
        state = ctx.ensure_object(CliState)
        return {name: reg.record.command for name, reg in state.manager.cli_commands().items()}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._registered(ctx)))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or self._registered(ctx).get(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SlipstreamError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=SlipstreamGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__, "--version", prog_name="slipstream", message="%(prog)s %(version)s"
)
@click.option(
    "--api-url",
    metavar="URL",
    help="Work through the REST API of the slipstream at URL (default: cli.api_url, "
    "or where `slipstream login` logged in).",
)
@click.pass_context
def cli(ctx: click.Context, api_url: str | None) -> None:
    """slipstream: workflows as Python DAGs, scheduled, run and watched."""
    state = ctx.ensure_object(CliState)
    state.api_url_option = api_url


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="slipstream")
    except SlipstreamError as exc:  # raised while resolving a subcommand
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
