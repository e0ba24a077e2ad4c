"""``slipstream plugins``: what is installed and what each plugin registered."""

from __future__ import annotations

import attrs
import click

from slipstream.cli.output import emit, output_option
from slipstream.cli.state import get_state


@click.group("plugins")
def plugins() -> None:
    """Installed plugins."""


@plugins.command("list")
@output_option
def list_plugins(output: str) -> None:
    """Every plugin: distribution, version, status, and what it registered."""
    rows = [attrs.asdict(info) for info in get_state().manager.describe()]
    for row in rows:
        if output == "table":
            off = row["unavailable"]
            row["provides"] = "\n".join(
                f"{family}: "
                + ", ".join(
                    f"{name} (unavailable)" if name in off.get(family, {}) else name
                    for name in names
                )
                for family, names in row["provides"].items()
            )
            if row["error"]:
                row["status"] = f"{row['status']}: {row['error']}"
    emit(rows, ["name", "distribution", "version", "status", "provides"], output)
