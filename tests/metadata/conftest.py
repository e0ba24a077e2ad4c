"""The ``store`` fixture: every contract test runs on SQLite, PostgreSQL and MySQL/MariaDB."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

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


# ---------------------------------------------------------------------------------------
# TEMPORARY stand-ins for tests/services.py (branch `services`, not merged yet).
# Delete everything below once it is merged: its `postgres_url` / `mysql_url` fixtures
# (same names, same contract: a fresh empty database per test, SLIPSTREAM_TEST_*_URL
# honoured, skip locally / fail in CI without the server binaries) take over.
# ---------------------------------------------------------------------------------------

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _missing(what: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is not installed", pytrace=False)
    pytest.skip(f"{what} is not installed")


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    deadline = time.monotonic() + 60
    while True:
        try:
            with engine.connect():
                return
        except sa.exc.OperationalError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{log.read_text()[-2000:]}") from None
            time.sleep(0.2)
        finally:
            engine.dispose()


@pytest.fixture(scope="session")
def _standin_postgres() -> Iterator[str]:
    """An admin URL of a PostgreSQL server (started here unless given)."""
    given = os.environ.get("SLIPSTREAM_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    if not (PG_BIN / "postgres").exists():
        _missing("PostgreSQL")
    work = Path(tempfile.mkdtemp(prefix="slip-pg-"))
    shutil.chown(work, "postgres")
    log = work / "log"
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            str(PG_BIN / "initdb"),
            "-D",
            str(work / "data"),
            "-A",
            "trust",
            "-U",
            "postgres",
        ],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PG_BIN / "postgres"),
                "-D",
                str(work / "data"),
                "-k",
                str(work),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    try:
        _wait(url, proc, log)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="session")
def _standin_mysql() -> Iterator[str]:
    """An admin URL of a MariaDB server (started here unless given)."""
    given = os.environ.get("SLIPSTREAM_TEST_MYSQL_URL")
    if given:
        yield given
        return
    if shutil.which("mariadbd") is None:
        _missing("MariaDB")
    work = Path(tempfile.mkdtemp(prefix="slip-mariadb-"))
    log = work / "log"
    subprocess.run(
        [
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={work / 'data'}",
            "--user=root",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                "mariadbd",
                "--no-defaults",
                f"--datadir={work / 'data'}",
                f"--socket={work / 'sock'}",
                f"--port={port}",
                "--bind-address=127.0.0.1",
                "--user=root",
                "--skip-log-bin",
                "--innodb-flush-log-at-trx-commit=0",
                "--innodb-doublewrite=0",
                "--skip-name-resolve",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"mysql+pymysql://root@127.0.0.1:{port}/mysql?charset=utf8mb4"
    try:
        _wait(url, proc, log)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(work, ignore_errors=True)


def _fresh_database(admin_url: str) -> Iterator[str]:
    admin = sa.engine.make_url(admin_url)
    name = f"slip_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        force = " WITH (FORCE)" if admin.get_backend_name() == "postgresql" else ""
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE {name}{force}")
        engine.dispose()


@pytest.fixture
def postgres_url(_standin_postgres: str) -> Iterator[str]:
    yield from _fresh_database(_standin_postgres)


@pytest.fixture
def mysql_url(_standin_mysql: str) -> Iterator[str]:
    yield from _fresh_database(_standin_mysql)
