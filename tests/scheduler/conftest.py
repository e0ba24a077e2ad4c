"""An embedded slipstream per test, on each metadata store, for scheduling behaviour tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from slipstream.runtime import Slipstream

BACKENDS = ("sqlite", "postgresql", "mysql")

MakeApp = Callable[..., Slipstream]


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'slipstream.db'}"
    fixture = "postgres_url" if request.param == "postgresql" else "mysql_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def make_app(store_url: str, tmp_path: Path) -> Iterator[MakeApp]:
    """Build a runtime on this test's store; closed at the end of the test."""
    apps: list[Slipstream] = []
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)

    def make(*dags: Any, executor: str = "sequential", **config: Any) -> Slipstream:
        settings = {
            "core.metadata": store_url,
            "core.executor": executor,
            "core.load_examples": False,
            "core.dags_folder": str(home / "dags"),
            "logging.base_log_folder": str(home / "logs"),
            "scheduler.poll_interval": 0.05,
            **config,
        }
        app = Slipstream(settings, dags=dags, environ={"SLIPSTREAM_HOME": str(home)})
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()


@pytest.fixture(params=("postgresql", "mysql"))
def ha_store_url(request: pytest.FixtureRequest) -> str:
    """The stores several schedulers may share (row locks with SKIP LOCKED)."""
    url: str = request.getfixturevalue(f"{request.param.replace('postgresql', 'postgres')}_url")
    return url
