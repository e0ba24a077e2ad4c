"""The ``store`` fixture: every contract test runs on SQLite, PostgreSQL and MySQL/MariaDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from slipstream.metadata.sqlalchemy import SqlAlchemyStore

from .helpers import make_store

BACKENDS = ("sqlite", "postgresql", "mysql")


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each kind (servers come from postgres_url / mysql_url)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'slipstream.db'}"
    fixture = "postgres_url" if request.param == "postgresql" else "mysql_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def store(store_url: str, home: Path) -> Iterator[SqlAlchemyStore]:
    """A migrated store on an empty database."""
    built = make_store(store_url, home)
    built.migrate()
    yield built
    built.close()
