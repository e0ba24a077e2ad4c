"""``slipstream config``: effective settings and where each came from."""

from __future__ import annotations

import click

from slipstream.cli.output import emit, output_option
from slipstream.cli.state import get_state


@click.group("config")
def config() -> None:
    """Effective configuration."""


@config.command("list")
@click.option("--section", help="Only this section.")
@output_option
def list_config(section: str | None, output: str) -> None:
    """Every setting, its value (secrets masked) and its source."""
    cfg = get_state().config
    rows = [
        {"key": dotted, "value": cfg.display(dotted), "source": cfg.source(dotted)}
        for dotted in cfg
        if section is None or dotted.startswith(f"{section}.")
    ]
    emit(rows, ["key", "value", "source"], output)


@config.command("get")
@click.argument("key", metavar="SECTION.KEY")
@click.option("--value-only", is_flag=True, help="Print the value alone, for scripts.")
@output_option
def get_config(key: str, value_only: bool, output: str) -> None:
    """One setting's effective value (secrets masked) and its source."""
    cfg = get_state().config
    value, source = cfg.display(key), cfg.source(key)
    if value_only:
        click.echo(value)
    elif output == "json":
        emit([{"key": key, "value": value, "source": source}], [], output)
    else:
        emit([{"key": key, "value": value, "source": source}], ["key", "value", "source"], output)
