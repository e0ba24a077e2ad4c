"""Choosing a store by URL: the built-in plugin, and clear errors for missing drivers."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from slipstream.config import load
from slipstream.errors import StoreError, UnavailableError
from slipstream.metadata import open_store
from slipstream.metadata.sqlalchemy import SqlAlchemyStore
from slipstream.metadata.sqlalchemy.engine import make_engine
from slipstream.plugins.manager import PluginManager


def test_every_scheme_is_registered() -> None:
    backends = PluginManager(load_entrypoints=False).metadata_backends()
    assert {"sqlite", "postgresql", "mysql", "mariadb"} <= set(backends)
    assert all(reg.record.unavailable is None for reg in backends.values())


@pytest.mark.parametrize(
    ("url", "extra"),
    [
        ("postgresql+psycopg://u:p@h/db", "postgres"),
        ("postgresql://u:p@h/db", "postgres"),
        ("mysql+pymysql://u:p@h/db", "mysql"),
        ("mysql://u:p@h/db", "mysql"),
    ],
)
def test_missing_driver_names_the_extra(
    url: str, extra: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("psycopg", "pymysql") else real(name, *a),
    )
    with pytest.raises(StoreError, match=rf'pip install "slipstream\[{extra}\]"'):
        make_engine(url)
    config, manager = load(
        cwd=tmp_path,
        environ={"SLIPSTREAM_HOME": str(tmp_path)},
        overrides={"core.metadata": url, "core.executor": "sequential"},
        load_entrypoints=False,
    )
    with pytest.raises(UnavailableError, match=rf'pip install "slipstream\[{extra}\]"') as info:
        open_store(config, manager)
    assert ":p@" not in str(info.value)


def test_in_memory_sqlite_for_embedding(tmp_path: Path) -> None:
    """One shared in-memory database, used from several threads at once."""
    store = SqlAlchemyStore.from_url("sqlite://", home=tmp_path)
    store.migrate()

    def work(n: int) -> None:
        for i in range(20):
            store.set_pool(f"p{n}-{i}", i)
            assert store.get_pool(f"p{n}-{i}") is not None

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(store.list_pools()) == 81
    store.close()


def test_sqlite_file_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    store = SqlAlchemyStore.from_url(f"sqlite:///{tmp_path / 'x.db'}", home=tmp_path)
    with store._engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    store.close()


def test_unsupported_url_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="not 'oracle'"):
        make_engine("oracle://u@h/db")
