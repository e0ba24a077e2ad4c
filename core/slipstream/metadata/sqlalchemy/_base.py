"""What every part of the SQLAlchemy store shares: transactions, paging, conversions."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from slipstream.errors import SchemaError, StoreError
from slipstream.metadata.base import MetadataStore
from slipstream.metadata.records import Page
from slipstream.metadata.secrets import SecretBox
from slipstream.metadata.sqlalchemy.engine import WRITE_OPTION

T = TypeVar("T")
CHUNK = 500  # ids per IN (...) clause


def utcnow() -> datetime:
    return datetime.now(UTC)


def check_aware(value: datetime | None, name: str) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value.isoformat()}")


def check_json(value: Any, what: str) -> None:
    """A clear error for a value the JSON columns cannot hold."""
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be JSON-serializable: {exc}") from None


def inserted_id(result: sa.CursorResult[Any]) -> int:
    """The primary key an INSERT generated."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class StoreBase(MetadataStore):
    """The engine, the secrets, and short transactions."""

    def __init__(self, engine: sa.Engine, secrets: SecretBox) -> None:
        self._engine = engine
        self._secrets = secrets
        # An in-memory SQLite database is one shared connection: take turns on it.
        shared = isinstance(engine.pool, StaticPool)
        self._turns: AbstractContextManager[Any] = threading.RLock() if shared else nullcontext()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._where!r})"

    @property
    def dialect(self) -> str:
        """``sqlite``, ``postgresql`` or ``mysql`` (MariaDB included)."""
        name = self._engine.dialect.name
        return "mysql" if name == "mariadb" else name

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self._transaction(write=False) as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        """A transaction that will write: on SQLite it takes the lock at BEGIN."""
        with self._transaction(write=True) as conn:
            yield conn

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[sa.Connection]:
        """One short transaction, with database errors a person can act on."""
        with self._turns:
            conn = self._connect()
            try:
                with conn:
                    if write:
                        conn.execution_options(**{WRITE_OPTION: True})
                    with conn.begin():
                        yield conn
            except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
                # "no such table" and friends: say that the schema is missing or old.
                status = self._schema_problem()
                if status is not None:
                    raise SchemaError(f"{self._where}: {status}") from exc
                raise

    def _connect(self) -> sa.Connection:
        try:
            return self._engine.connect()
        except sa.exc.OperationalError as exc:
            raise StoreError(
                f"cannot connect to the metadata database {self._where}: {exc.orig}"
            ) from None

    @property
    def _where(self) -> str:
        return self._engine.url.render_as_string(hide_password=True)

    def _schema_problem(self) -> str | None:
        """Why the schema is not usable, or None when it is (or cannot be told)."""
        try:
            status = self.check()
        except Exception:
            return None
        return None if status.ok else status.message

    def close(self) -> None:
        self._engine.dispose()

    def before_fork(self) -> None:
        if not isinstance(self._engine.pool, StaticPool):  # in-memory SQLite: its one database
            self._engine.dispose()

    def after_fork(self) -> None:
        # The child must not touch the parent's pooled connections; the engine (and
        # its cache of compiled statements) is reused, connections are made anew.
        self._engine.dispose(close=False)

    # -- listing helpers -------------------------------------------------------------

    @staticmethod
    def _order(
        table: sa.Table, order_by: str, allowed: Collection[str], tiebreak: str
    ) -> list[sa.ColumnElement[Any]]:
        """``"-run_after"`` -> ``[run_after DESC, <tiebreak>]``; unknown columns are refused."""
        name = order_by.lstrip("-")
        if name not in allowed:
            raise ValueError(
                f"cannot order by {order_by!r}; choose one of {', '.join(sorted(allowed))} "
                "(prefix '-' for descending)"
            )
        column = table.c[name]
        first = column.desc() if order_by.startswith("-") else column.asc()
        order: list[sa.ColumnElement[Any]] = [first]
        if name != tiebreak:
            order.append(table.c[tiebreak].asc())
        return order

    @staticmethod
    def _page(
        conn: sa.Connection,
        query: sa.Select[Any],
        order: Sequence[sa.ColumnElement[Any]],
        limit: int | None,
        offset: int,
        convert: Callable[[sa.Row[Any]], T],
        *,
        with_total: bool = True,
    ) -> Page[T]:
        """One page; ``total`` counts every match (a second query, unless the page holds
        them all), or with ``with_total=False`` is just the page's length."""
        if (limit is not None and limit < 0) or offset < 0:
            raise ValueError("limit and offset must not be negative")
        paged = query.order_by(*order)
        if offset:
            paged = paged.offset(offset)
        if limit is not None:
            paged = paged.limit(limit)
        items = [convert(row) for row in conn.execute(paged)] if limit != 0 else []
        if not with_total or (offset == 0 and (limit is None or len(items) < limit)):
            return Page(items=items, total=len(items))  # all of them: no count to run
        total = conn.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
        return Page(items=items, total=total)


def update_many(
    conn: sa.Connection, table: sa.Table, key: str, changes: Sequence[tuple[Any, dict[str, Any]]]
) -> None:
    """One executemany UPDATE per distinct set of changed columns, instead of one
    statement per row."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for ident, values in changes:
        groups.setdefault(tuple(sorted(values)), []).append({"_key": ident, **values})
    for columns, params in groups.items():
        if not columns:
            continue
        statement = table.update().where(table.c[key] == sa.bindparam("_key"))
        conn.execute(statement, params)
