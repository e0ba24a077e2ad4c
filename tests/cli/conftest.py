"""Running the CLI tests in both modes: against the local metadata database, and
through the REST API of a real ``slipstream api-server`` on the same database.

A test module opts in by taking ``either_cli`` (parametrized local/remote) as its
``cli``; its assertions then hold for both modes, which is the promise: the same
commands print the same things either way.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from crud_support import home_store, migrated
from tests.services import free_ports

from slipstream.api.auth.passwords import hash_password

if TYPE_CHECKING:
    from conftest import CliRun

ADMIN_PASSWORD = "remote-admin-password"


class ApiServer:
    """``slipstream api-server`` on a free port, for one test's home."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        (self.port,) = free_ports(1)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home / "api-server.log"
        self._log_handle = self.log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "slipstream", "api-server", "--port", str(self.port)],
            env=env,
            cwd=home,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/api/v2/monitor/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"api-server did not start:\n{self.log.read_text()}")
            time.sleep(0.05)

    def token(self, username: str, password: str) -> str:
        answer = httpx.post(
            f"{self.url}/auth/token", json={"username": username, "password": password}
        )
        assert answer.status_code == 201, answer.text
        token: str = answer.json()["access_token"]
        return token

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._log_handle.close()


@pytest.fixture
def api_server(home: Path, clean_environ: dict[str, str]) -> Iterator[ApiServer]:
    """An API server on ``home``'s database, which has an ``admin`` user."""
    if not (home / "slipstream.db").exists():
        migrated(home)
    with home_store(home) as store:
        if store.get_user("admin") is None:
            store.create_user("admin", role="admin", password_hash=hash_password(ADMIN_PASSWORD))
    server = ApiServer(home, clean_environ)
    yield server
    server.stop()


@pytest.fixture(params=["local", "remote"])
def either_cli(request: pytest.FixtureRequest, slipstream: CliRun, home: Path) -> CliRun:
    """The ``slipstream`` command, run locally or through a live API server."""
    migrated(home)
    if request.param == "local":
        return slipstream
    server: ApiServer = request.getfixturevalue("api_server")
    remote_env = {
        "SLIPSTREAM__CLI__API_URL": server.url,
        "SLIPSTREAM__CLI__API_TOKEN": server.token("admin", ADMIN_PASSWORD),
    }

    def run(*args: str, env: dict[str, str] | None = None, **kwargs: Any) -> Any:
        return slipstream(*args, env={**remote_env, **(env or {})}, **kwargs)

    return run
