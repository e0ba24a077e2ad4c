"""Real servers for the tests, started from the system's binaries (pytest plugin).

The design asks for real PostgreSQL, MariaDB, Redis, RabbitMQ and Chromium in tests. Each
server starts lazily, the first time a test asks for its fixture, on 127.0.0.1 and a free
port, with throwaway data in a temp dir, and is stopped at session end. An environment
variable (``SLIPSTREAM_TEST_POSTGRES_URL`` and friends) points the tests at an existing
server instead. A missing binary skips the test on a laptop and fails it in CI (``CI=true``),
so CI can never go green by skipping.
"""

from __future__ import annotations

import abc
import atexit
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn, TypeVar

import pytest
from sqlalchemy import Connection, create_engine, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

T = TypeVar("T")

START_TIMEOUT = 60.0
"""Seconds a server gets to answer; generous because CI shares two cores with the tests."""

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
"""Chromium flags for this closed network: without them it keeps calling hosts it can't reach."""

_startup_seconds: dict[str, float] = {}
_running: list[Server] = []


def _missing(what: str, package: str) -> NoReturn:
    """Fail in CI, where every service must be there; skip elsewhere."""
    message = (
        f"{what} not found: install the Debian package {package} "
        "(.ci/install-services installs every service the tests use)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _override(name: str) -> str | None:
    """The URL of an existing server to use instead of starting one, if the user gave one."""
    return os.environ.get(name) or None


def free_ports(count: int) -> list[int]:
    """Ports free right now, all different (each stays bound until all are picked)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def _tcp_ping(port: int) -> None:
    socket.create_connection(("127.0.0.1", port), timeout=2).close()


def _tail(log: Path, lines: int = 40) -> str:
    try:
        text_lines = log.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(text_lines[-lines:])


def _as_user(user: str, argv: list[str]) -> list[str]:
    """Drop root for servers that refuse to run as root (PostgreSQL)."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", user, "--", *argv]


def _run(argv: list[str], log: Path) -> None:
    """Run a set-up command (initdb and the like), raising with its output if it fails."""
    with log.open("ab") as out:
        result = subprocess.run(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, check=False
        )
    if result.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited with {result.returncode}:\n{_tail(log)}")


class Server:
    """A server process in its own session, logging to a file.

    Its own session keeps a terminal's Ctrl-C away from it (the fixtures stop it in order),
    and lets the whole process group be killed. ``setpriv --pdeathsig`` makes the kernel
    signal it if pytest itself dies without running finalizers or atexit handlers.
    """

    def __init__(
        self,
        name: str,
        argv: list[str],
        log: Path,
        env: dict[str, str] | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.log = log
        self.stop_signal = stop_signal
        self.started = time.monotonic()
        with log.open("ab") as out:
            self._popen = subprocess.Popen(
                ["setpriv", "--pdeathsig", "TERM", "--", *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        _running.append(self)

    def wait_ready(self, ready: Callable[[], object], timeout: float = START_TIMEOUT) -> None:
        """Call ``ready`` until it stops raising, i.e. until a real client gets an answer."""
        deadline = self.started + timeout
        while True:
            code = self._popen.poll()
            if code is not None:
                raise RuntimeError(
                    f"{self.name} exited with {code} while starting; log tail:\n{_tail(self.log)}"
                )
            try:
                ready()
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{self.name} did not answer within {timeout:.0f}s ({exc!r}); "
                        f"log tail:\n{_tail(self.log)}"
                    ) from exc
                time.sleep(0.05)
            else:
                return

    def stop(self, timeout: float = 15.0) -> None:
        """Ask the process group to stop, then kill whatever is left of it."""
        if self in _running:
            _running.remove(self)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._popen.pid, self.stop_signal)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._popen.pid, signal.SIGKILL)
        self._popen.wait()


@atexit.register
def _stop_all() -> None:
    """Last resort when pytest exits without running the session finalizers."""
    while _running:
        _running[-1].stop(timeout=5.0)


@contextlib.contextmanager
def _workdir(prefix: str, owner: str | None = None) -> Iterator[Path]:
    """A throwaway directory, owned by ``owner`` when running as root."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        if owner and os.geteuid() == 0:
            shutil.chown(path, owner, owner)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def _timed(name: str, starting: contextlib.AbstractContextManager[T]) -> Iterator[T]:
    """Enter ``starting`` and note how long it took, set-up (initdb, ...) included."""
    began = time.monotonic()
    with starting as value:
        _startup_seconds[name] = time.monotonic() - began
        yield value


@contextlib.contextmanager
def _serving(server: Server, ready: Callable[[], object]) -> Iterator[None]:
    try:
        server.wait_ready(ready)
        yield
    finally:
        server.stop()


# --- SQL databases -------------------------------------------------------------------------


class DatabaseServer(abc.ABC):
    """A PostgreSQL or MariaDB server on which each test gets a fresh, empty database."""

    def __init__(self, admin_url: URL) -> None:
        self.admin_url = admin_url

    def url(self, dbname: str) -> str:
        """The SQLAlchemy URL of database ``dbname`` on this server, password included."""
        return self.admin_url.set(database=dbname).render_as_string(hide_password=False)

    def create_database(self) -> str:
        """Create a uniquely named empty database and return its URL."""
        name = f"test_{secrets.token_hex(6)}"
        with self.admin() as conn:
            conn.exec_driver_sql(self._create_sql(name))
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by ``create_database``; a failure here must not fail the test."""
        name = make_url(url).database
        with contextlib.suppress(SQLAlchemyError), self.admin() as conn:
            self._drop(conn, name)

    @contextlib.contextmanager
    def admin(self, timeout: float = 30.0) -> Iterator[Connection]:
        """An autocommit connection to the maintenance database, for DDL.

        ``timeout`` bounds the handshake too: a port held by something that never answers
        must fail start-up, not hang it.
        """
        engine = create_engine(
            self.admin_url,
            isolation_level="AUTOCOMMIT",
            poolclass=NullPool,
            connect_args=self._timeouts(timeout),
        )
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            engine.dispose()

    def ping(self) -> None:
        with self.admin(timeout=2.0) as conn:
            conn.exec_driver_sql("SELECT 1")

    @abc.abstractmethod
    def _timeouts(self, seconds: float) -> dict[str, float]: ...

    @abc.abstractmethod
    def _create_sql(self, name: str) -> str: ...

    @abc.abstractmethod
    def _drop(self, conn: Connection, name: str | None) -> None: ...


class PostgresServer(DatabaseServer):
    def _timeouts(self, seconds: float) -> dict[str, float]:
        return {"connect_timeout": max(2, round(seconds))}  # libpq: whole seconds, 2 at least

    def _create_sql(self, name: str) -> str:
        return f'CREATE DATABASE "{name}"'

    def _drop(self, conn: Connection, name: str | None) -> None:
        # FORCE ends connections a test left open (PostgreSQL 13+).
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class MysqlServer(DatabaseServer):
    def _timeouts(self, seconds: float) -> dict[str, float]:
        # PyMySQL's connect_timeout ends at the TCP connect, before the server's greeting.
        return {"connect_timeout": seconds, "read_timeout": seconds, "write_timeout": seconds}

    def _create_sql(self, name: str) -> str:
        return f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"

    def _drop(self, conn: Connection, name: str | None) -> None:
        # A connection left open in a transaction holds metadata locks that would make
        # DROP DATABASE wait for a day: end such connections first.
        ids = conn.execute(
            text("SELECT id FROM information_schema.processlist WHERE db = :db"), {"db": name}
        ).scalars()
        for session_id in ids:
            with contextlib.suppress(SQLAlchemyError):
                conn.exec_driver_sql(f"KILL {int(session_id)}")
        conn.exec_driver_sql("SET SESSION lock_wait_timeout = 10")
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")


def _postgres_bindir() -> Path:
    """Debian keeps the server outside PATH, one directory per major version: take the newest."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    if versions:
        return versions[-1].parent
    found = shutil.which("postgres")
    if found is None:
        _missing("PostgreSQL server (postgres, initdb)", "postgresql")
    return Path(found).parent


@contextlib.contextmanager
def start_postgres() -> Iterator[PostgresServer]:
    bindir = _postgres_bindir()
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        _missing("runuser (PostgreSQL refuses to run as root)", "util-linux")
    with _workdir("slip-pg-", owner="postgres") as tmp:
        log, (port,) = tmp / "server.log", free_ports(1)
        _run(
            _as_user(
                "postgres",
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(tmp / "data"),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ],
            ),
            log,
        )
        # Durability costs time and buys nothing for throwaway data.
        speed = ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
        argv = [str(bindir / "postgres"), "-D", str(tmp / "data"), "-k", str(tmp)]
        argv += ["-h", "127.0.0.1", "-p", str(port)]
        argv += [arg for setting in speed for arg in ("-c", setting)]
        # SIGINT is PostgreSQL's fast shutdown: it does not wait for clients to leave.
        server = Server("PostgreSQL", _as_user("postgres", argv), log, stop_signal=signal.SIGINT)
        db = PostgresServer(
            URL.create(
                "postgresql+psycopg",
                username="postgres",
                host="127.0.0.1",
                port=port,
                database="postgres",
            )
        )
        with _serving(server, db.ping):
            yield db


@contextlib.contextmanager
def start_mariadb() -> Iterator[MysqlServer]:
    mariadbd = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin")
    install_db = shutil.which("mariadb-install-db")
    if mariadbd is None or install_db is None:
        _missing("MariaDB server (mariadbd, mariadb-install-db)", "mariadb-server")
    with _workdir("slip-my-") as tmp:
        log, (port,), password = tmp / "server.log", free_ports(1), secrets.token_urlsafe(16)
        user = ["--user=root"] if os.geteuid() == 0 else []
        _run(
            [
                install_db,
                "--no-defaults",
                f"--datadir={tmp / 'data'}",
                *user,
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            log,
        )
        # Runs at every start: root may log in over TCP, with a password only this run knows.
        (tmp / "init.sql").write_text(
            f"CREATE OR REPLACE USER 'root'@'127.0.0.1' IDENTIFIED BY '{password}';\n"
            "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\n"
        )
        argv = [mariadbd, "--no-defaults", f"--datadir={tmp / 'data'}", *user]
        argv += [f"--socket={tmp / 'sock'}", f"--pid-file={tmp / 'pid'}", f"--port={port}"]
        argv += ["--bind-address=127.0.0.1", "--skip-name-resolve", "--skip-log-bin"]
        argv += [f"--init-file={tmp / 'init.sql'}", f"--tmpdir={tmp}"]
        # Debian's defaults (which --no-defaults skips) and MySQL 8's: utf8mb4.
        argv += ["--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci"]
        # Durability costs time and buys nothing for throwaway data.
        argv += ["--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0"]
        server = Server("MariaDB", argv, log)
        db = MysqlServer(
            URL.create(
                "mysql+pymysql",
                username="root",
                password=password,
                host="127.0.0.1",
                port=port,
                query={"charset": "utf8mb4"},
            )
        )
        with _serving(server, db.ping):
            yield db


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[DatabaseServer]:
    """A PostgreSQL server: ``.url(dbname)``, ``.create_database() -> url``."""
    override = _override("SLIPSTREAM_TEST_POSTGRES_URL")
    if override:
        yield PostgresServer(make_url(override))
        return
    with _timed("PostgreSQL", start_postgres()) as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: DatabaseServer) -> Iterator[str]:
    """A fresh empty PostgreSQL database for this test, dropped after it."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[DatabaseServer]:
    """A MariaDB server: ``.url(dbname)``, ``.create_database() -> url``."""
    override = _override("SLIPSTREAM_TEST_MYSQL_URL")
    if override:
        yield MysqlServer(make_url(override))
        return
    with _timed("MariaDB", start_mariadb()) as server:
        yield server


@pytest.fixture
def mysql_url(mysql_server: DatabaseServer) -> Iterator[str]:
    """A fresh empty MariaDB database for this test, dropped after it."""
    url = mysql_server.create_database()
    yield url
    mysql_server.drop_database(url)


# --- Brokers -------------------------------------------------------------------------------


def _redis_ping(url: str) -> None:
    import redis

    with redis.Redis.from_url(url, socket_timeout=2) as client:
        client.ping()


@contextlib.contextmanager
def _start_redis() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        _missing("Redis server (redis-server)", "redis-server")
    with _workdir("slip-redis-") as tmp:
        (port,) = free_ports(1)
        url = f"redis://127.0.0.1:{port}/0"
        argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(tmp)]
        argv += ["--save", "", "--appendonly", "no"]
        with _serving(Server("Redis", argv, tmp / "server.log"), lambda: _redis_ping(url)):
            yield url


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """The URL of a Redis server; the database in it is the one ``redis_url`` hands out."""
    override = _override("SLIPSTREAM_TEST_REDIS_URL")
    if override:
        yield override
        return
    with _timed("Redis", _start_redis()) as url:
        yield url


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """``redis://HOST:PORT/N``; database N is flushed after the test."""
    import redis

    yield redis_server
    with redis.Redis.from_url(redis_server) as client:
        client.flushdb()


def _amqp_ping(port: int, user: str, password: str) -> None:
    import amqp

    with amqp.Connection(
        f"127.0.0.1:{port}",
        userid=user,
        password=password,
        connect_timeout=2,
        read_timeout=2,
        write_timeout=2,
    ) as conn:
        conn.connect()


@contextlib.contextmanager
def _start_rabbitmq() -> Iterator[str]:
    debian_script = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
    script = str(debian_script) if debian_script.exists() else shutil.which("rabbitmq-server")
    epmd = shutil.which("epmd")
    if script is None or epmd is None:
        _missing("RabbitMQ server (rabbitmq-server, epmd)", "rabbitmq-server")
    with _workdir("slip-amqp-") as tmp:
        port, dist_port, epmd_port = free_ports(3)
        user, password = f"slip-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
        # The user is made at first boot from the config: rabbitmqctl would cost seconds more.
        (tmp / "rabbitmq.conf").write_text(
            f"default_user = {user}\ndefault_pass = {password}\nloopback_users = none\n"
        )
        (tmp / "enabled_plugins").write_text("[].\n")
        env = {
            "HOME": str(tmp),  # the Erlang cookie goes here, not in /var/lib/rabbitmq
            "ERL_EPMD_PORT": str(epmd_port),
            "RABBITMQ_NODENAME": f"slip{port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(port),
            "RABBITMQ_DIST_PORT": str(dist_port),
            "RABBITMQ_CONFIG_FILE": str(tmp / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(tmp / "rabbitmq-env.conf"),  # absent: skip /etc's
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(tmp / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(tmp / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(tmp / "mnesia"),
            "RABBITMQ_LOG_BASE": str(tmp / "log"),
            "RABBITMQ_PID_FILE": str(tmp / "pid"),
            "RABBITMQ_LOGS": "-",
        }
        # Our own epmd, on a port of its own: one started by Erlang would outlive the session.
        epmd_argv = [epmd, "-address", "127.0.0.1", "-port", str(epmd_port)]
        with _serving(Server("epmd", epmd_argv, tmp / "epmd.log"), lambda: _tcp_ping(epmd_port)):
            rabbit = Server("RabbitMQ", [script], tmp / "server.log", env=env)
            with _serving(rabbit, lambda: _amqp_ping(port, user, password)):
                yield f"amqp://{user}:{password}@127.0.0.1:{port}//"


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    """``amqp://USER:PASS@127.0.0.1:PORT//`` of a RabbitMQ broker, shared by the session.

    Tests isolate themselves with queue names of their own. RabbitMQ needs seconds to boot,
    so it is only started when a test asks for it.
    """
    override = _override("SLIPSTREAM_TEST_AMQP_URL")
    if override:
        yield override
        return
    with _timed("RabbitMQ", _start_rabbitmq()) as url:
        yield url


# --- Browser -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """Path of the system's Chromium (Debian's), for Playwright's ``executable_path``."""
    found = shutil.which("chromium")
    if found is None:
        _missing("Chromium (chromium)", "chromium")
    return found


@pytest.fixture(scope="session")
def chromium_args() -> list[str]:
    """Launch flags for ``chromium.launch(args=...)``: see ``CHROMIUM_ARGS``."""
    return list(CHROMIUM_ARGS)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Report how long each server took to answer, to keep an eye on CI's time."""
    if _startup_seconds:
        started = ", ".join(f"{name} {secs:.1f}s" for name, secs in _startup_seconds.items())
        terminalreporter.write_line(f"test services started: {started}")
