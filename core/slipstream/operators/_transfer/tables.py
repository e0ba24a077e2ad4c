"""Reading a query page by page and writing pages into a table, through SQLAlchemy.

The source runs with ``stream_results`` (a server-side cursor on PostgreSQL, an unbuffered
one on MySQL; SQLite steps through its result anyway), so a page of rows is all a transfer
holds. Each page is written in its own transaction, as one batched ``INSERT`` (or an upsert:
``ON CONFLICT DO UPDATE`` on PostgreSQL and SQLite, ``ON DUPLICATE KEY UPDATE`` on MySQL).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy
from sqlalchemy import event, types
from sqlalchemy.exc import NoSuchTableError, StatementError

from slipstream.exceptions import SlipstreamException
from slipstream.models.connection import Connection
from slipstream.operators._transfer.values import BadValue, Converter, converter, value_bytes
from slipstream.operators.sql import create_engine, split_sql

if TYPE_CHECKING:
    from sqlalchemy.sql.dml import Insert

#: Result type codes of JSON columns: psycopg's OIDs (json, jsonb) and MySQL's JSON.
_JSON_TYPE_CODES = {"postgresql": {114, 3802}, "mysql": {245}, "mariadb": {245}}


class TransferError(SlipstreamException):
    """Something the user can act on went wrong while moving data."""


@attrs.frozen(kw_only=True)
class Column:
    """A destination column: its name, how it takes values, and its type as declared."""

    name: str
    kind: str
    declared: str


# -- engines -------------------------------------------------------------------------------


def _json_as_text(dbapi_connection: Any, record: Any) -> None:
    """psycopg parses json/jsonb into floats; a transfer wants the text, digits and all."""
    from psycopg.types.string import TextLoader

    for name in ("json", "jsonb"):
        dbapi_connection.adapters.register_loader(name, TextLoader)


def _utc_session(dbapi_connection: Any, record: Any) -> None:
    """MySQL TIMESTAMP columns convert to and from the session's zone: make it UTC."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SET time_zone = '+00:00'")
    finally:
        cursor.close()


def transfer_engine(conn: Connection) -> sqlalchemy.Engine:
    """The connection's engine (the same mapping as ``SQLExecuteQueryOperator``), set up so
    values arrive as a transfer needs them: JSON as text, MySQL in UTC."""
    engine = create_engine(conn)
    if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
        event.listen(engine, "connect", _json_as_text)
    elif engine.dialect.name in ("mysql", "mariadb"):
        event.listen(engine, "connect", _utc_session)
    return engine


def driver_sql(dialect: sqlalchemy.Dialect, sql: str, parameters: Any) -> tuple[str, Any]:
    """SQL for ``exec_driver_sql``: without parameters, ``%`` is doubled for drivers whose
    placeholders start with it, so ``LIKE 'a%'`` means what it says."""
    if parameters is None and dialect.paramstyle in ("format", "pyformat"):
        return sql.replace("%", "%%"), None
    return sql, parameters


def db_message(exc: BaseException) -> str:
    """The database's own words, without SQLAlchemy's statement dump."""
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).strip().splitlines() if line.strip()]
    text = " ".join(lines[:3])
    return text if len(text) <= 500 else text[:500] + "..."


def _preview(row: Mapping[str, Any]) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in row.items())
    return text if len(text) <= 300 else text[:300] + "..."


# -- reading -------------------------------------------------------------------------------


@attrs.define(kw_only=True)
class Pages:
    """What a reader offers: column names (``None``: unknown, match by position), which
    columns hold JSON, and the pages of rows."""

    names: list[str] | None
    width: int
    pages: Iterator[Sequence[Sequence[Any]]]
    json_columns: frozenset[int] = frozenset()
    #: Bytes read so far, for readers that know it (files); None: count the values.
    bytes_read: Any = None
    #: What must live as long as the pages (a text wrapper closes its file when collected).
    keep: Any = None


@contextlib.contextmanager
def read_query(
    engine: sqlalchemy.Engine,
    sql: str,
    parameters: Any,
    *,
    page_size: int,
    conn_id: str,
    log: logging.Logger,
) -> Iterator[Pages]:
    """Run ``sql`` on the source and offer its rows page by page."""
    statement, params = driver_sql(engine.dialect, sql, parameters)
    with engine.connect() as connection:
        log.info("Reading from %r: %s", conn_id, sql)
        try:
            result = connection.exec_driver_sql(
                statement,
                params,
                execution_options={"stream_results": True, "max_row_buffer": page_size},
            )
        except StatementError as exc:
            raise TransferError(
                f"the query failed on connection {conn_id!r}: {db_message(exc)}"
            ) from exc
        if not result.returns_rows:
            raise TransferError(
                f"the query on connection {conn_id!r} returns no rows: give a SELECT"
            )
        description = result.cursor.description
        json_codes = _JSON_TYPE_CODES.get(engine.dialect.name, set())
        json_columns = frozenset(i for i, d in enumerate(description) if d[1] in json_codes)

        def pages() -> Iterator[Sequence[Sequence[Any]]]:
            read = 0
            try:
                for page in result.partitions(page_size):
                    read += len(page)
                    yield page
            except StatementError as exc:
                raise TransferError(
                    f"reading from connection {conn_id!r} failed after {read:,} rows: "
                    f"{db_message(exc)}"
                ) from exc

        yield Pages(
            names=list(result.keys()),
            width=len(description),
            pages=pages(),
            json_columns=json_columns,
        )


# -- the destination table -------------------------------------------------------------------


def split_table(table: str) -> tuple[str | None, str]:
    """``schema.table`` or ``table``."""
    schema, _, name = table.strip().rpartition(".")
    return (schema or None), name


def column_kind(type_: Any, declared: str = "") -> str:
    """How a column of this SQLAlchemy type takes values (see ``values.KINDS``)."""
    upper = declared.upper()
    if "TIMESTAMPTZ" in upper or ("TIME ZONE" in upper and "WITHOUT" not in upper):
        return "timestamptz"  # SQLite keeps the declared name, and nothing else
    checks: tuple[tuple[type, str], ...] = (
        (types.Boolean, "bool"),
        (types.Integer, "int"),
        (types.Float, "float"),  # a Numeric, so before it
        (types.Numeric, "decimal"),
        (types.Date, "date"),
        (types.Time, "time"),
        (types.JSON, "json"),
        (types._Binary, "binary"),
        (types.ARRAY, "array"),
        (types.String, "text"),
    )
    if isinstance(type_, types.DateTime):
        return "timestamptz" if type_.timezone else "timestamp"
    for klass, kind in checks:
        if isinstance(type_, klass):
            return kind
    return "other"


def match_columns(
    names: list[str] | None,
    width: int,
    table: str,
    columns: list[Column],
    target_fields: Sequence[str] | None,
    *,
    what: str,
) -> list[Column]:
    """The destination column for each source column.

    ``target_fields`` names them; otherwise columns match by name when every source name
    is a destination column (case aside), else by position, which needs the same count.
    """
    by_name = {c.name.lower(): c for c in columns}
    listed = ", ".join(c.name for c in columns)
    if target_fields is not None:
        unknown = [f for f in target_fields if f.lower() not in by_name]
        if unknown:
            raise TransferError(
                f"target_fields {', '.join(map(repr, unknown))} are not columns of {table} "
                f"(its columns: {listed})"
            )
        if len(target_fields) != width:
            raise TransferError(
                f"{what} has {width} columns but target_fields names {len(target_fields)}"
            )
        return [by_name[f.lower()] for f in target_fields]
    if names is not None and all(n.lower() in by_name for n in names):
        seen = [n.lower() for n in names]
        if len(set(seen)) != len(seen):
            raise TransferError(f"{what} has two columns of one name: {', '.join(names)}")
        return [by_name[n.lower()] for n in names]
    if width == len(columns):
        return list(columns)
    source = f" ({', '.join(names)})" if names else ""
    raise TransferError(
        f"{what} has {width} columns{source} but {table} has {len(columns)} ({listed}): "
        f"give one column per destination column, name them as the destination's "
        f"columns, or list the destination columns in target_fields"
    )


class TableWriter:
    """Writes pages of rows into one table, one transaction per page.

    A page that fails leaves nothing of itself behind; the error names the first bad row
    (counting from 1 over the whole transfer) and what the database said about it.
    """

    def __init__(
        self,
        engine: sqlalchemy.Engine,
        *,
        conn_id: str,
        table: str,
        mode: str,
        conflict_columns: Sequence[str] | None,
        log: logging.Logger,
    ) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.conn_id = conn_id
        self.table = table
        self.mode = mode
        self.conflict_columns = list(conflict_columns) if conflict_columns else None
        self.log = log
        self.connection = engine.connect()
        self.done = 0
        self.pages = 0
        self.columns: list[Column] = []
        self.converters: list[Converter] = []
        self.statement: Insert | None = None
        self._key_indexes: list[int] = []
        self.primary_key: list[str] = []
        dbapi = engine.dialect.loaded_dbapi
        self._driver_error: type[Exception] = getattr(dbapi, "Error", StatementError)
        # PostgreSQL loads a page fastest with COPY (5x an INSERT per row); upserts and
        # the search for a refused row use INSERT.
        self._copy = (
            self.dialect == "postgresql" and engine.dialect.driver == "psycopg" and mode == "insert"
        )

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- before the rows ---------------------------------------------------------------

    def run_preoperator(self, sql: str | Sequence[str] | None) -> None:
        """Run ``sql`` (a script or a list of statements) in one committed transaction."""
        if not sql:
            return
        statements = split_sql(sql) if isinstance(sql, str) else [s for s in sql if s.strip()]
        with self.connection.begin():
            for number, statement in enumerate(statements, start=1):
                self.log.info("Running preoperator on %r: %s", self.conn_id, statement)
                text, params = driver_sql(self.engine.dialect, statement, None)
                try:
                    self.connection.exec_driver_sql(text, params)
                except StatementError as exc:
                    raise TransferError(
                        f"preoperator statement {number} of {len(statements)} failed on "
                        f"connection {self.conn_id!r}: {db_message(exc)}"
                    ) from exc

    def describe(self) -> list[Column]:
        """The destination's columns, or an error saying the table is not there."""
        schema, name = split_table(self.table)
        inspector = sqlalchemy.inspect(self.connection)
        try:
            try:
                reflected = inspector.get_columns(name, schema=schema)
            except NoSuchTableError:
                raise self._no_such_table(inspector, schema, name) from None
            primary_key = inspector.get_pk_constraint(name, schema=schema)
            declared: dict[str, str] = {}
            if self.dialect == "sqlite":
                pragma = f"PRAGMA {_quote(schema)}.table_info" if schema else "PRAGMA table_info"
                for row in self.connection.exec_driver_sql(f"{pragma}({_quote(name)})"):
                    declared[row[1]] = row[2] or ""
        finally:
            self.connection.rollback()  # reflection began a transaction; pages begin their own
        self.primary_key = list(primary_key.get("constrained_columns") or [])
        return [
            Column(
                name=c["name"],
                kind=column_kind(c["type"], declared.get(c["name"], "")),
                declared=declared.get(c["name"]) or _type_name(c["type"]),
            )
            for c in reflected
        ]

    def _no_such_table(self, inspector: Any, schema: str | None, name: str) -> TransferError:
        try:
            existing = sorted(inspector.get_table_names(schema=schema))
        except StatementError:
            existing = []
        close = [t for t in existing if t.lower() == name.lower()]
        hint = (
            f"did you mean {close[0]!r}?"
            if close
            else f"tables there: {', '.join(existing[:20])}{', ...' if len(existing) > 20 else ''}"
            if existing
            else "it has no tables; create it first (a preoperator can)"
        )
        return TransferError(
            f"table {self.table!r} does not exist on connection {self.conn_id!r}: {hint}"
        )

    def prepare(
        self,
        source: Pages,
        target_fields: Sequence[str] | None,
        *,
        what: str,
        encoded: bool = False,
    ) -> None:
        """Describe the table, match the source's columns to it, and build the statement."""
        columns = match_columns(
            source.names, source.width, self.table, self.describe(), target_fields, what=what
        )
        self.columns = columns
        self.converters = [converter(c.kind, self.dialect, encoded=encoded) for c in columns]
        for column in columns:
            if self.dialect == "sqlite" and column.kind == "decimal":
                self.log.warning(
                    "Column %r is %s on SQLite, which stores such values as floating-point "
                    "numbers: declare it TEXT to keep every digit",
                    column.name,
                    column.declared,
                )
        self.statement = self._statement()
        self.log.info(
            "Writing to %s on %r (%s): %s",
            self.table,
            self.conn_id,
            self.mode,
            ", ".join(c.name for c in columns),
        )

    def _statement(self) -> Insert:
        schema, name = split_table(self.table)
        names = [c.name for c in self.columns]
        table = sqlalchemy.table(name, *(sqlalchemy.column(n) for n in names), schema=schema)
        if self.mode == "insert":
            return sqlalchemy.insert(table)
        keys = self.conflict_columns or self.primary_key
        if not keys:
            raise TransferError(
                f"write_mode 'upsert' needs conflict_columns: {self.table} has no primary key"
            )
        missing = [k for k in keys if k not in names]
        if missing:
            raise TransferError(
                f"conflict column(s) {', '.join(map(repr, missing))} are not among the "
                f"columns written to {self.table} ({', '.join(names)})"
            )
        self._key_indexes = [names.index(k) for k in keys]
        others = [n for n in names if n not in keys]
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            pg = pg_insert(table)
            if not others:
                return pg.on_conflict_do_nothing(index_elements=keys)
            return pg.on_conflict_do_update(
                index_elements=keys, set_={n: pg.excluded[n] for n in others}
            )
        if self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            lite = sqlite_insert(table)
            if not others:
                return lite.on_conflict_do_nothing(index_elements=keys)
            return lite.on_conflict_do_update(
                index_elements=keys, set_={n: lite.excluded[n] for n in others}
            )
        if self.dialect in ("mysql", "mariadb"):
            from sqlalchemy.dialects.mysql import insert as mysql_insert

            my = mysql_insert(table)
            update = others or keys[:1]  # nothing to update: a no-op keeps the row
            return my.on_duplicate_key_update({n: my.inserted[n] for n in update})
        raise TransferError(
            f"write_mode 'upsert' works on PostgreSQL, MySQL/MariaDB and SQLite, not on "
            f"{self.dialect} (connection {self.conn_id!r})"
        )

    # -- the rows --------------------------------------------------------------------------

    def write(self, rows: Sequence[Sequence[Any]]) -> tuple[int, int]:
        """Convert and write one page in one transaction; returns (rows, bytes)."""
        assert self.statement is not None, "prepare() first"
        first = self.done + 1
        page = self.pages + 1
        converted: list[list[Any] | tuple[Any, ...]] = []
        for index, values in enumerate(zip(*rows, strict=False)):
            try:
                converted.append(self.converters[index].column(values))
            except BadValue:
                raise self._bad_value(index, values, first, page) from None
        nbytes = sum(value_bytes(values) for values in converted)
        out = list(zip(*converted, strict=True))
        numbers: Sequence[int] = range(first, first + len(out))
        if self._key_indexes:  # one page may not name a row twice in an upsert: last wins
            last = {
                tuple(row[i] for i in self._key_indexes): (n, row)
                for n, row in zip(numbers, out, strict=True)
            }
            numbers, out = [n for n, _ in last.values()], [row for _, row in last.values()]
        if out:
            try:
                with self.connection.begin():
                    if self._copy:
                        self._copy_rows(out)
                    else:
                        self.connection.execute(self.statement, self._params(out))
            except (StatementError, self._driver_error) as exc:
                raise self._refused(exc, numbers, out, len(rows), page) from exc
        self.done += len(rows)
        self.pages += 1
        return len(rows), nbytes

    def _params(self, rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
        keys = [c.name for c in self.columns]
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def _copy_rows(self, rows: list[tuple[Any, ...]]) -> None:
        from psycopg import sql

        schema, name = split_table(self.table)
        target = sql.Identifier(schema, name) if schema else sql.Identifier(name)
        columns = sql.SQL(", ").join(sql.Identifier(c.name) for c in self.columns)
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(target, columns)
        cursor = self.connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            with cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        finally:
            cursor.close()

    def _committed(self) -> str:
        if not self.done:
            return ""
        return f"; the {self.done:,} rows of the {self.pages} page(s) before it were committed"

    def _bad_value(self, index: int, values: Sequence[Any], first: int, page: int) -> TransferError:
        column, conv = self.columns[index], self.converters[index]
        for offset, value in enumerate(values):
            try:
                conv.column((value,))
            except BadValue as exc:
                return TransferError(
                    f"row {first + offset:,}, column {column.name!r} ({column.declared}) of "
                    f"{self.table}: {exc}. Nothing of page {page} was written"
                    f"{self._committed()}"
                )
        raise AssertionError("a bad value vanished")

    def _refused(
        self,
        exc: Exception,
        numbers: Sequence[int],
        rows: list[tuple[Any, ...]],
        count: int,
        page: int,
    ) -> TransferError:
        params = self._params(rows)
        found = self._first_refused(params)
        first = self.done + 1
        tail = (
            f"Nothing of page {page} (rows {first:,}-{first + count - 1:,}) "
            f"was committed{self._committed()}"
        )
        if found is None:
            return TransferError(
                f"{self.table} on connection {self.conn_id!r} refused page {page}: "
                f"{db_message(exc)}. {tail}"
            )
        index, error = found
        return TransferError(
            f"{self.table} on connection {self.conn_id!r} refused row {numbers[index]:,}: "
            f"{db_message(error)} -- the row: {_preview(params[index])}. {tail}"
        )

    def _first_refused(self, params: list[dict[str, Any]]) -> tuple[int, StatementError] | None:
        """Insert the page's rows one at a time, then roll it all back, to name the first
        row the database refuses (PostgreSQL needs a savepoint per row to go on)."""
        assert self.statement is not None
        savepoints = self.dialect == "postgresql"
        try:
            with self.connection.begin() as transaction:
                for index, row in enumerate(params):
                    try:
                        if savepoints:
                            with self.connection.begin_nested():
                                self.connection.execute(self.statement, row)
                        else:
                            self.connection.execute(self.statement, row)
                    except StatementError as exc:
                        transaction.rollback()
                        return index, exc
                transaction.rollback()
        except StatementError:
            return None  # the connection itself is gone: report the page's error
        return None


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _type_name(type_: Any) -> str:
    try:
        return str(type_)
    except Exception:  # some reflected types cannot compile without a dialect
        return type(type_).__name__
