"""What the variables, connections, pools and runs commands share: input checks
that fail with exit status 1 and a message naming the bad argument (as Airflow's
CLI does), JSON files in and out, and dates as ISO strings.

Commands first gather records (plain dicts, the same ones a REST client will
get) and only then print them, so the API mode can reuse the printing.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import click

from slipstream.admin import MAX_KEY_LEN
from slipstream.admin import check_name as _check_name


def fail(message: str) -> NoReturn:
    """Stop the command: ``Error: message`` on stderr, exit status 1."""
    raise click.ClickException(message)


def check_name(what: str, value: str, max_len: int = MAX_KEY_LEN) -> str:
    """A key, id or name: non-empty, no surrounding spaces, short enough for its column."""
    try:
        return _check_name(what, value, max_len)
    except ValueError as exc:
        fail(str(exc))


def iso(moment: datetime | None) -> str | None:
    """ISO 8601, the same in tables and JSON (and in the REST API)."""
    return None if moment is None else moment.isoformat()


def read_json_file(path: str) -> Any:
    """The parsed content of ``path`` (``-``: standard input), or a clear error."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")
    except UnicodeDecodeError:
        fail(f"{path} is not UTF-8 text")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{path} is not valid JSON: {exc}")


def write_json_file(path: str, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` (``-``: standard output).

    A file is replaced in one step, so a failed export never leaves half a file;
    it is created readable by its owner only, since exports may hold secrets.
    """
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if path == "-":
        click.echo(text, nl=False)
        return
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")


def done(message: str, path: str) -> None:
    """A status line; on stderr when the data itself went to standard output."""
    click.echo(message, err=path == "-")
