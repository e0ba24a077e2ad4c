"""Shared by the CLI tests of store-backed commands (variables, connections, pools, runs).

``migrated(home)`` gives a home the schema that ``slipstream db migrate`` creates:
the command runs once per test session and each test gets a copy of its database,
which saves a subprocess per test. ``home_store(home)`` opens, in the test process,
the very store the CLI subprocess uses, to set up DAGs and runs and to read back.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from slipstream.config import load
from slipstream.metadata import open_store
from slipstream.metadata.base import MetadataStore


@cache
def _migrated_template() -> Path:
    where = Path(tempfile.mkdtemp(prefix="slip-cli-template-"))
    atexit.register(shutil.rmtree, where, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPSTREAM")}
    env["SLIPSTREAM_HOME"] = str(where)
    done = subprocess.run(
        [sys.executable, "-m", "slipstream", "db", "migrate"],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "schema is up to date" in done.stdout
    return where


def migrated(home: Path) -> None:
    """Put a freshly migrated (empty) database into ``home``."""
    for db_file in _migrated_template().glob("slipstream.db*"):
        shutil.copy(db_file, home / db_file.name)


@contextmanager
def home_store(home: Path) -> Iterator[MetadataStore]:
    """The store the CLI opens for ``home`` (same SQLite file, same Fernet key)."""
    config, manager = load(
        cwd=home,
        environ={"SLIPSTREAM_HOME": str(home)},
        overrides={"core.executor": "sequential"},
        load_entrypoints=False,
    )
    store = open_store(config, manager)
    try:
        yield store
    finally:
        store.close()


def in_process(home: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """The same CLI, run inside the test process: for long lists of bad-input cases,
    where a subprocess each would cost half a second and prove nothing more. The
    subprocess runs of every test file still cover exit statuses end to end."""
    from click.testing import CliRunner

    from slipstream.cli.main import cli

    def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("SLIPSTREAM")}
        env["SLIPSTREAM_HOME"] = str(home)
        with contextlib.chdir(home):
            result = CliRunner().invoke(
                cli, list(args), env=env, input=input, catch_exceptions=False
            )
        return subprocess.CompletedProcess(
            list(args), result.exit_code, result.stdout, result.stderr
        )

    return run
