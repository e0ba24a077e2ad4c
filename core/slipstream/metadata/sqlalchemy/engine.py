"""Engines per dialect: drivers, connection settings, and SQLite's locking.

Everything dialect-specific about *connecting* lives here; ``schema.py`` and
``types.py`` hold what is dialect-specific about the tables.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from slipstream.errors import StoreError

WRITE_OPTION = "slipstream_write"
SQLITE_BUSY_TIMEOUT_MS = 30_000

# backend -> (default driver, importable module, extra that installs it)
DRIVERS: dict[str, tuple[str, str, str]] = {
    "postgresql": ("psycopg", "psycopg", "postgres"),
    "mysql": ("pymysql", "pymysql", "mysql"),
    "mariadb": ("pymysql", "pymysql", "mysql"),
}


def missing_driver(url: str) -> str | None:
    """Why ``url`` cannot be used here (its driver is not installed), or None.

    Cheap: finds the module without importing it, so listing plugins stays fast.
    """
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return None
    backend = parsed.get_backend_name()
    if backend not in DRIVERS:
        return None
    default_driver, module, extra = DRIVERS[backend]
    driver = parsed.get_driver_name() if "+" in parsed.drivername else default_driver
    if driver != default_driver:
        return None  # a driver of the user's choosing: SQLAlchemy will say if it is missing
    if importlib.util.find_spec(module) is None:
        return (
            f'the {backend} driver {module!r} is not installed: pip install "slipstream[{extra}]"'
        )
    return None


def normalize_url(url: str) -> sa.URL:
    """Pick slipstream's default drivers (psycopg 3, pymysql) and utf8mb4 for MySQL."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"core.metadata is not a valid database URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend in DRIVERS and "+" not in parsed.drivername:
        parsed = parsed.set(drivername=f"{backend}+{DRIVERS[backend][0]}")
    if backend in ("mysql", "mariadb") and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed


def make_engine(url: str) -> sa.Engine:
    """An engine for ``url``, or a StoreError that says what to install or fix."""
    problem = missing_driver(url)
    if problem:
        raise StoreError(f"cannot open the metadata database: {problem}")
    parsed = normalize_url(url)
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {}
    if backend == "sqlite":
        kwargs["connect_args"] = {
            "check_same_thread": False,
            "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
        }
        if parsed.database in (None, "", ":memory:"):
            kwargs["poolclass"] = StaticPool  # one shared in-memory database
    elif backend == "postgresql":
        kwargs["pool_pre_ping"] = True
    elif backend in ("mysql", "mariadb"):
        # READ COMMITTED: no gap locks, so concurrent claims and inserts don't deadlock.
        kwargs.update(pool_pre_ping=True, pool_recycle=3600, isolation_level="READ COMMITTED")
    else:
        raise StoreError(
            f"the SQLAlchemy store supports sqlite, postgresql and mysql URLs, not {backend!r}"
        )
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (ImportError, sa.exc.NoSuchModuleError) as exc:
        raise StoreError(f"cannot open the metadata database: {exc}") from None
    if backend == "sqlite":
        _setup_sqlite(engine, in_memory="poolclass" in kwargs)
    return engine


def _setup_sqlite(engine: sa.Engine, *, in_memory: bool) -> None:
    """WAL, busy timeout and foreign keys on every connection; and transactions
    that take the write lock at BEGIN when they will write.

    A deferred transaction that reads and then writes cannot wait for the lock
    (SQLite answers "database is locked" at once); BEGIN IMMEDIATE waits
    ``busy_timeout`` for it instead. Read-only transactions stay deferred so that
    readers never block each other.
    """

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def supports_skip_locked(dialect: sa.Dialect) -> bool:
    """PostgreSQL, MySQL 8.0.1+ and MariaDB 10.6+ can skip locked rows."""
    if dialect.name == "postgresql":
        return True
    if dialect.name in ("mysql", "mariadb"):
        version = dialect.server_version_info or ()
        is_mariadb = bool(getattr(dialect, "is_mariadb", False))
        return version >= ((10, 6) if is_mariadb else (8, 0, 1))
    return False
