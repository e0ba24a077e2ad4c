"""An embedded slipstream with the API application on top, and a user of each role.

``api.runtime`` registers DAGs and runs them (sequential executor, in-process);
``api.client`` talks to the same store through the real ASGI application.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from litestar.testing import TestClient

from slipstream.api.app import create_app
from slipstream.api.auth.passwords import hash_password
from slipstream.runtime import Slipstream

ROLES = ("admin", "op", "user", "viewer")
PASSWORD = "correct horse battery"


@attrs.define
class Api:
    runtime: Slipstream
    client: TestClient[Any]
    home: Path
    _tokens: dict[str, str] = attrs.field(factory=dict)

    def token(self, role: str) -> str:
        """A bearer token of the user named after ``role`` (``admin``, ``op``, ...)."""
        if role not in self._tokens:
            response = self.client.post(
                "/auth/token", json={"username": role, "password": PASSWORD}
            )
            assert response.status_code == 201, response.text
            self._tokens[role] = response.json()["access_token"]
        return self._tokens[role]

    def headers(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}

    def get(self, path: str, role: str = "admin", **kwargs: Any) -> Any:
        return self.client.get(path, headers=self.headers(role), **kwargs)

    def post(self, path: str, role: str = "admin", **kwargs: Any) -> Any:
        return self.client.post(path, headers=self.headers(role), **kwargs)

    def patch(self, path: str, role: str = "admin", **kwargs: Any) -> Any:
        return self.client.patch(path, headers=self.headers(role), **kwargs)

    def put(self, path: str, role: str = "admin", **kwargs: Any) -> Any:
        return self.client.put(path, headers=self.headers(role), **kwargs)

    def delete(self, path: str, role: str = "admin", **kwargs: Any) -> Any:
        return self.client.delete(path, headers=self.headers(role), **kwargs)


def make_runtime(home: Path, **config: Any) -> Slipstream:
    settings = {
        "core.metadata": f"sqlite:///{home / 'slipstream.db'}",
        "core.executor": "sequential",
        "core.load_examples": False,
        "core.dags_folder": str(home / "dags"),
        "logging.base_log_folder": str(home / "logs"),
        "scheduler.poll_interval": 0.05,
        **config,
    }
    return Slipstream(settings, environ={"SLIPSTREAM_HOME": str(home)})


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    home = tmp_path / "home"
    (home / "dags").mkdir(parents=True)
    runtime = make_runtime(home)
    password_hash = hash_password(PASSWORD)
    for role in ROLES:
        runtime.store.create_user(role, role=role, password_hash=password_hash)
    app = create_app(runtime.config, runtime.plugins, store=runtime.store)
    with TestClient(app) as client:
        yield Api(runtime=runtime, client=client, home=home)
    runtime.close()
