"""``SQLExecuteQueryOperator``: run SQL through a Connection; the rows become the XCom.

Arguments and results are those of Airflow's ``SQLExecuteQueryOperator``
(``airflow.providers.common.sql``). Statements go to the database driver's own
cursor, so parameters use the driver's placeholder style (``?`` or ``:name`` for
SQLite, ``%s`` or ``%(name)s`` for PostgreSQL and MySQL), as in Airflow, and a
``handler`` receives that DB-API cursor.

The connection becomes a SQLAlchemy URL this way:

=========================  ======================================================
``conn_type``              URL
=========================  ======================================================
``postgres``/``postgresql`` ``postgresql+psycopg://login:password@host:port/schema``
``mysql``/``mariadb``      ``mysql+pymysql://login:password@host:port/schema``
``sqlite``                 ``sqlite:///<host or schema>`` (a file path; none or
                           ``:memory:`` is an in-memory database)
=========================  ======================================================

A connection extra ``sqlalchemy_url`` replaces the whole URL (any dialect that
SQLAlchemy and an installed driver support); ``sqlalchemy_query`` (an object) adds
URL query parameters such as ``{"sslmode": "require"}``. The operator's ``database``
replaces the connection's schema. PostgreSQL needs ``pip install "slipstream[postgres]"``
and MySQL ``pip install "slipstream[mysql]"``.

What reaches XCom is JSON: rows are lists; dates, times and datetimes are ISO 8601
strings; ``Decimal`` is a float (cast to text in SQL when every digit matters);
``timedelta`` is seconds; bytes are base64 text; UUIDs and anything else are
their ``str``.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from slipstream.exceptions import DagDefinitionError, SlipstreamException
from slipstream.models.baseoperator import BaseOperator
from slipstream.models.connection import Connection
from slipstream.operators._common import (
    check_callable,
    check_type,
    get_connection,
    is_templated_value,
)

if TYPE_CHECKING:
    import sqlalchemy

#: conn_type -> (SQLAlchemy drivername, driver module, slipstream extra)
DIALECTS: dict[str, tuple[str, str, str]] = {
    "postgres": ("postgresql+psycopg", "psycopg", "postgres"),
    "postgresql": ("postgresql+psycopg", "psycopg", "postgres"),
    "mysql": ("mysql+pymysql", "pymysql", "mysql"),
    "mariadb": ("mysql+pymysql", "pymysql", "mysql"),
}
EXTRA_FOR_MODULE = {module: extra for _, module, extra in DIALECTS.values()}
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")


# -- handlers (Airflow's names) ---------------------------------------------------------


def fetch_all_handler(cursor: Any) -> list[Any] | None:
    """Every row of a statement that returns rows; None for one that does not."""
    if cursor.description is None:
        return None
    return list(cursor.fetchall())


def fetch_one_handler(cursor: Any) -> Any:
    """The first row of a statement that returns rows; None for one that does not."""
    if cursor.description is None:
        return None
    return cursor.fetchone()


# -- helpers ----------------------------------------------------------------------------


def json_safe(value: Any) -> Any:
    """``value`` as JSON can hold it (the mapping is in the module docstring)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, datetime.date | datetime.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "keys") and hasattr(value, "__getitem__"):  # sqlite3.Row and the like
        return {str(k): json_safe(value[k]) for k in value.keys()}  # noqa: SIM118
    if isinstance(value, set | frozenset):
        return [json_safe(v) for v in value]
    return str(value)


def split_sql(sql: str) -> list[str]:
    """Statements of a script, split at semicolons outside quotes, comments and
    PostgreSQL dollar quoting; without their final semicolon; comment-only ones dropped.

    Compound bodies that hold bare semicolons (``CREATE TRIGGER ... BEGIN ...; END``)
    need a list of statements or ``split_statements=False``.
    """
    statements: list[str] = []
    start, i, n = 0, 0, len(sql)
    has_code = False
    while i < n:
        ch = sql[i]
        if ch in "'\"`":
            j = i + 1
            while j < n:
                if sql[j] == "\\" and ch != "`":
                    j += 2
                    continue
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:  # a doubled quote inside the string
                        j += 2
                        continue
                    break
                j += 1
            i, has_code = j + 1, True
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end == -1 else end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end == -1 else end + 2
        elif ch == "$" and (match := _DOLLAR_TAG.match(sql, i)):
            tag = match.group(0)
            end = sql.find(tag, match.end())
            i, has_code = (n if end == -1 else end + len(tag)), True
        elif ch == ";":
            if has_code:
                statements.append(sql[start:i].strip())
            start, i, has_code = i + 1, i + 1, False
        else:
            has_code = has_code or not ch.isspace()
            i += 1
    if has_code:
        statements.append(sql[start:].strip())
    return statements


def strip_sql(sql: str) -> str:
    """One statement without surrounding blanks and a final semicolon."""
    return sql.strip().rstrip(";").strip()


def sqlalchemy_url(conn: Connection, database: str | None = None) -> sqlalchemy.URL:
    """The SQLAlchemy URL for a connection (the mapping is in the module docstring)."""
    import sqlalchemy

    extra = conn.extra_dejson
    override = extra.get("sqlalchemy_url")
    if override:
        url = sqlalchemy.make_url(str(override))
        return url.set(database=database) if database else url
    kind = conn.conn_type.lower().replace("-", "_")
    if kind == "sqlite":
        path = database or conn.host or conn.schema or ""
        return sqlalchemy.make_url("sqlite://" if path in ("", ":memory:") else f"sqlite:///{path}")
    if kind not in DIALECTS:
        raise SlipstreamException(
            f"connection {conn.conn_id!r} has conn_type {conn.conn_type!r}, which "
            f"slipstream cannot map to a database URL: use one of "
            f"{', '.join(sorted({*DIALECTS, 'sqlite'}))}, or give the connection an extra "
            f'"sqlalchemy_url"'
        )
    query = extra.get("sqlalchemy_query") or {}
    if not isinstance(query, Mapping):
        raise SlipstreamException(
            f"connection {conn.conn_id!r}: extra sqlalchemy_query must be an object"
        )
    return sqlalchemy.URL.create(
        DIALECTS[kind][0],
        username=conn.login,
        password=conn.password,
        host=conn.host,
        port=conn.port,
        database=database or conn.schema,
        query={str(k): str(v) for k, v in query.items()},
    )


def _driver_missing(conn_id: str, url: sqlalchemy.URL, exc: ImportError) -> SlipstreamException:
    module = (exc.name or "").split(".")[0]
    extra = EXTRA_FOR_MODULE.get(module)
    install = (
        f'pip install "slipstream[{extra}]"' if extra else f"pip install {module or 'the driver'}"
    )
    return SlipstreamException(
        f"connection {conn_id!r} needs the database driver {module or url.drivername!r} "
        f"({url.drivername}), which is not installed: {install}"
    )


def create_engine(
    conn: Connection, database: str | None = None, *, autocommit: bool = False
) -> sqlalchemy.Engine:
    """An engine for the connection, without a pool (a try uses it once, then disposes of
    it); a missing driver or dialect is an error that says what to install."""
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    url = sqlalchemy_url(conn, database)
    options: dict[str, Any] = {"poolclass": NullPool}
    if autocommit:
        options["isolation_level"] = "AUTOCOMMIT"
    try:
        return sqlalchemy.create_engine(url, **options)
    except ImportError as exc:
        raise _driver_missing(conn.conn_id, url, exc) from None
    except sqlalchemy.exc.NoSuchModuleError as exc:
        raise SlipstreamException(
            f"connection {conn.conn_id!r}: SQLAlchemy has no dialect {url.drivername!r}: {exc}"
        ) from None


# -- the operator -----------------------------------------------------------------------


class SQLExecuteQueryOperator(BaseOperator):
    """Runs ``sql`` (one statement, a script with ``split_statements``, a list, or a
    ``.sql`` file next to the DAG file) in one transaction, committed at the end.

    The XCom is the ``handler``'s result (all rows by default) of the last statement
    (``return_last``), or a list with one result per statement when ``sql`` is a list
    or ``return_last=False`` splits a script.
    """

    template_fields: Sequence[str] = ("conn_id", "sql", "parameters", "database")
    template_fields_renderers = {"sql": "sql", "parameters": "json"}
    template_ext: Sequence[str] = (".sql",)
    ui_color = "#cdaaed"

    def __init__(
        self,
        *,
        sql: str | Sequence[str],
        conn_id: str | None = None,
        autocommit: bool = False,
        parameters: Mapping[str, Any] | Sequence[Any] | None = None,
        handler: Callable[[Any], Any] | None = fetch_all_handler,
        output_processor: Callable[[list[Any], list[Any]], Any] | None = None,
        database: str | None = None,
        split_statements: bool | None = None,
        return_last: bool = True,
        show_return_value_in_logs: bool = False,
        **kwargs: Any,
    ) -> None:
        owner = f"{type(self).__name__} {kwargs.get('task_id')!r}"
        if conn_id is None:
            raise DagDefinitionError(f"{owner}: conn_id is required")
        check_type(owner, "conn_id", conn_id, str)
        check_type(owner, "database", database, str)
        check_type(owner, "parameters", parameters, (Mapping, list, tuple))
        check_callable(owner, "handler", handler)
        check_callable(owner, "output_processor", output_processor)
        if not is_templated_value(sql):
            if isinstance(sql, str):
                if not sql.strip():
                    raise DagDefinitionError(f"{owner}: sql is empty")
            elif isinstance(sql, list | tuple):
                if not sql or not all(isinstance(s, str) or is_templated_value(s) for s in sql):
                    raise DagDefinitionError(f"{owner}: sql must be a non-empty list of strings")
            else:
                raise DagDefinitionError(
                    f"{owner}: sql must be a string or a list of strings, got {type(sql).__name__}"
                )
        super().__init__(**kwargs)
        self.sql: Any = list(sql) if isinstance(sql, tuple) else sql
        self.conn_id = conn_id
        self.autocommit = autocommit
        self.parameters = parameters
        self.handler = handler
        self.output_processor = output_processor
        self.database = database
        self.split_statements = split_statements
        self.return_last = return_last
        self.show_return_value_in_logs = show_return_value_in_logs

    def _statements(self) -> list[str]:
        if isinstance(self.sql, str):
            statements = split_sql(self.sql) if self.split_statements else [strip_sql(self.sql)]
        else:
            statements = [strip_sql(s) for s in self.sql]
        statements = [s for s in statements if s]
        if not statements:
            raise SlipstreamException("sql rendered to no statement to run")
        return statements

    def _returns_single(self) -> bool:
        """Airflow's rule: one result for a string with return_last or without splitting."""
        return isinstance(self.sql, str) and (self.return_last or not self.split_statements)

    def _engine(self, conn: Connection) -> sqlalchemy.Engine:
        return create_engine(conn, self.database, autocommit=self.autocommit)

    def execute(self, context: Mapping[str, Any]) -> Any:
        conn = get_connection(self.conn_id)
        statements = self._statements()
        wants_output = self.do_xcom_push and self.handler is not None
        results: list[Any] = []
        descriptions: list[Any] = []
        engine = self._engine(conn)
        try:
            raw = engine.raw_connection()
            try:
                cursor = raw.cursor()
                for number, statement in enumerate(statements, start=1):
                    self.log.info(
                        "Running statement: %s, parameters: %s", statement, self.parameters
                    )
                    try:
                        if self.parameters is None:
                            cursor.execute(statement)
                        else:
                            cursor.execute(statement, self.parameters)
                    except Exception as exc:
                        preview = statement if len(statement) <= 200 else statement[:200] + "..."
                        raise SlipstreamException(
                            f"SQL statement {number} of {len(statements)} failed on connection "
                            f"{self.conn_id!r}: {type(exc).__name__}: {exc} -- in: {preview}"
                        ) from exc
                    if wants_output:
                        assert self.handler is not None
                        results.append(self.handler(cursor))
                        descriptions.append(cursor.description)
                    if cursor.rowcount is not None and cursor.rowcount >= 0:
                        self.log.info("Rows affected: %s", cursor.rowcount)
                cursor.close()
                if not self.autocommit:
                    raw.commit()
            except BaseException:
                if not self.autocommit:
                    raw.rollback()
                raise
            finally:
                raw.close()
        finally:
            engine.dispose()
        if not wants_output:
            return None
        if self._returns_single():
            return json_safe(self._process_output([results[-1]], [descriptions[-1]])[-1])
        return json_safe(self._process_output(results, descriptions))

    def _process_output(self, results: list[Any], descriptions: list[Any]) -> Any:
        if self.show_return_value_in_logs:
            self.log.info("Operator output is: %s", results)
        if self.output_processor is not None:
            return self.output_processor(results, descriptions)
        return results
