"""Fixtures every part of the suite uses."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

CliRun = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(autouse=True, scope="session")
def private_config_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep `slipstream login` credentials of the person running the tests (in
    ~/.config/slipstream) out of the suite, and the suite's out of theirs."""
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("xdg-config"))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty slipstream home for one test."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def clean_environ(home: Path) -> dict[str, str]:
    """The test process's environment without slipstream settings, with its own home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPSTREAM")}
    env["SLIPSTREAM_HOME"] = str(home)
    env["XDG_CONFIG_HOME"] = str(home / ".config")
    return env


@pytest.fixture
def slipstream(clean_environ: dict[str, str], home: Path) -> CliRun:
    """Run the real ``slipstream`` command in a subprocess, as a user would."""

    def run(
        *args: str,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        input: str | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "slipstream", *args],
            env={**clean_environ, **(env or {})},
            cwd=cwd or home,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


"""Suite-wide fixtures: the real servers come from tests/services.py."""

pytest_plugins = ["tests.services"]
