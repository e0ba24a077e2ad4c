"""How list commands print: an aligned table for people, JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def output_option(func: F) -> F:
    """``-o table|json`` on every command that lists things."""
    return click.option(
        "-o",
        "--output",
        type=click.Choice(["table", "json"]),
        default="table",
        show_default=True,
        help="Output format.",
    )(func)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_cell(v)}" for k, v in value.items())
    return str(value)


def render_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Columns padded to their widest line; a cell may span several lines."""
    cells = [[_cell(row.get(col)).splitlines() or [""] for col in columns] for row in rows]
    widths = [
        max([len(col)] + [len(line) for row in cells for line in row[i]])
        for i, col in enumerate(columns)
    ]

    def line(parts: Sequence[str]) -> str:
        return "  ".join(p.ljust(w) for p, w in zip(parts, widths, strict=True)).rstrip()

    out = [line(columns), line(["-" * w for w in widths])]
    for row in cells:
        for i in range(max(len(cell) for cell in row)):
            out.append(line([cell[i] if i < len(cell) else "" for cell in row]))
    return "\n".join(out)


def emit(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], output: str) -> None:
    """Print rows: all their fields as JSON, or ``columns`` as a table."""
    if output == "json":
        click.echo(json.dumps(list(rows), indent=2, default=str))
    elif not rows:
        click.echo("(none)")
    else:
        click.echo(render_table(rows, columns))


def emit_one(record: Mapping[str, Any], output: str) -> None:
    """Print one record: JSON, or ``key: value`` lines."""
    if output == "json":
        click.echo(json.dumps(record, indent=2, default=str))
        return
    width = max(len(k) for k in record)
    for key, value in record.items():
        click.echo(f"{key.ljust(width)}  {_cell(value)}")
