"""``slipstream db migrate|check|reset`` against each database, configured by environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from slipstream.cli.main import cli


@pytest.fixture
def run_cli(store_url: str, home: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(home)
    env = {"SLIPSTREAM_HOME": str(home), "SLIPSTREAM__CORE__METADATA": store_url}

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
        return result.exit_code, result.output

    return run


def test_db_commands(run_cli, store_url: str) -> None:  # type: ignore[no-untyped-def]
    code, out = run_cli("db", "check")
    assert code == 1 and "no slipstream schema" in out and "slipstream db migrate" in out
    code, out = run_cli("db", "migrate")
    assert code == 0 and "up to date" in out, out
    code, out = run_cli("db", "check")
    assert code == 0 and "up to date" in out
    code, out = run_cli("db", "reset")
    assert code == 2 and "pass --yes" in out
    code, out = run_cli("db", "reset", "--yes")
    assert code == 0 and "reset" in out
    if "@" in store_url and ":" in store_url.split("@")[0].split("//")[1]:
        password = store_url.split("@")[0].rsplit(":", 1)[1]
        assert password not in out


def test_db_migrate_in_a_subprocess(tmp_path: Path) -> None:
    env = {"SLIPSTREAM_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "slipstream", "db", "migrate"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "slipstream.db").exists()
