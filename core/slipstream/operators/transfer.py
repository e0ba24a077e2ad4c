"""Moving data: ``GenericTransfer`` (database to database), ``SqlToFileOperator`` (a query
to CSV, JSON lines or Parquet) and ``FileToSqlOperator`` (the reverse).

They stream: the source is read a page at a time (a server-side cursor on PostgreSQL, an
unbuffered one on MySQL) and each page is written in its own transaction with one batched
``INSERT``, so memory stays flat however many rows move. Each page logs one line (rows,
bytes, rows per second); the totals are the XCom::

    {"rows": 1000000, "pages": 100, "bytes": 41234567, "seconds": 12.5,
     "rows_per_second": 80000.0}

Connections become SQLAlchemy engines exactly as for ``SQLExecuteQueryOperator``.
``docs/moving-data.md`` tells how values travel between databases and files (decimals,
timestamps with time zones, JSON, booleans), and how to make a transfer safe to retry:
a ``preoperator`` that empties the table, or ``write_mode="upsert"``.

Airflow's ``GenericTransfer`` arguments work as they are, ``insert_args`` included
(``target_fields``, ``replace`` with ``replace_index``, ``commit_every``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from slipstream.exceptions import DagDefinitionError, SlipstreamException
from slipstream.models.baseoperator import BaseOperator
from slipstream.operators._common import (
    check_required_str,
    check_type,
    get_connection,
    is_templated_value,
)

if TYPE_CHECKING:
    from slipstream.operators._transfer.tables import Pages, TableWriter

DEFAULT_PAGE_SIZE = 10_000
WRITE_MODES = ("insert", "upsert")
#: Airflow's ``insert_rows`` arguments that ``insert_args`` may hold.
INSERT_ARGS = frozenset(
    {"target_fields", "replace", "replace_index", "commit_every", "executemany", "fast_executemany"}
)


@attrs.frozen(kw_only=True)
class WriteOptions:
    """How rows go into the destination, after ``insert_args`` is folded in."""

    mode: str
    conflict_columns: list[str] | None
    target_fields: list[str] | None
    page_size: int


def _names(owner: str, name: str, value: Any, error: type[Exception]) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise error(f"{owner}: {name} must be a list of column names, got {value!r}")
    return list(value)


def write_options(
    owner: str,
    *,
    write_mode: Any,
    conflict_columns: Any,
    page_size: Any,
    insert_args: Any = None,
    target_fields: Any = None,
    error: type[Exception] = DagDefinitionError,
) -> WriteOptions:
    """Check the writing arguments (at DAG definition, and again once rendered)."""
    if write_mode not in WRITE_MODES:
        raise error(
            f"{owner}: write_mode must be one of {', '.join(WRITE_MODES)}, got {write_mode!r}"
        )
    args = dict(insert_args or {})
    if not isinstance(insert_args, Mapping | None):
        raise error(f"{owner}: insert_args must be a dict, got {type(insert_args).__name__}")
    unknown = sorted(set(args) - INSERT_ARGS)
    if unknown:
        raise error(
            f"{owner}: insert_args has unknown key(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(INSERT_ARGS))})"
        )
    if args.get("replace"):
        write_mode = "upsert"
    conflict = _names(owner, "conflict_columns", conflict_columns, error)
    if conflict is None:
        conflict = _names(owner, "insert_args replace_index", args.get("replace_index"), error)
    fields = _names(owner, "target_fields", target_fields, error)
    if fields is None:
        fields = _names(owner, "insert_args target_fields", args.get("target_fields"), error)
    size = page_size if page_size is not None else args.get("commit_every", DEFAULT_PAGE_SIZE)
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise error(f"{owner}: page_size must be a whole number >= 1, got {size!r}")
    return WriteOptions(
        mode=write_mode, conflict_columns=conflict, target_fields=fields, page_size=size
    )


def _check_statements(owner: str, name: str, value: Any) -> None:
    if value is None or is_templated_value(value) or isinstance(value, str):
        return
    if isinstance(value, list | tuple) and all(isinstance(s, str) for s in value):
        return
    raise DagDefinitionError(f"{owner}: {name} must be SQL text or a list of statements")


def _statements(value: Any) -> str | list[str] | None:
    return list(value) if isinstance(value, tuple) else value


def _pump(pages: Pages, writer: TableWriter, log: logging.Logger) -> dict[str, Any]:
    """Move every page from a reader into a table writer, one progress line per page."""
    from slipstream.operators._transfer.progress import Progress

    progress = Progress(log)
    bytes_read = pages.bytes_read
    before = 0  # a file is counted from its start: the header was read already
    for rows in pages.pages:
        count, nbytes = writer.write(rows)
        if bytes_read:  # a file: the bytes read from it
            now = bytes_read()
            nbytes, before = now - before, now
        progress.page(count, nbytes)
    return progress.totals()


class GenericTransfer(BaseOperator):
    """Copies the rows of ``sql`` on ``source_conn_id`` into ``destination_table`` on
    ``destination_conn_id``, a page at a time.

    ``preoperator`` (SQL text or a list of statements) runs on the destination first, in
    a transaction of its own: create the table, or empty it so a retry starts clean.
    ``write_mode="upsert"`` updates rows whose ``conflict_columns`` (default: the primary
    key) already exist. Columns match by name when the query's names are all columns of
    the table, else by position; ``insert_args={"target_fields": [...]}`` names them.
    """

    template_fields: Sequence[str] = (
        "source_conn_id",
        "destination_conn_id",
        "sql",
        "destination_table",
        "preoperator",
        "insert_args",
        "parameters",
    )
    template_ext: Sequence[str] = (".sql", ".hql")
    template_fields_renderers = {"sql": "sql", "preoperator": "sql", "insert_args": "json"}
    ui_color = "#b0f07c"

    def __init__(
        self,
        *,
        sql: str,
        destination_table: str,
        source_conn_id: str,
        destination_conn_id: str,
        preoperator: str | Sequence[str] | None = None,
        insert_args: Mapping[str, Any] | None = None,
        page_size: int | None = None,
        parameters: Mapping[str, Any] | Sequence[Any] | None = None,
        write_mode: str = "insert",
        conflict_columns: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        owner = f"{type(self).__name__} {kwargs.get('task_id')!r}"
        for name, value in (
            ("sql", sql),
            ("destination_table", destination_table),
            ("source_conn_id", source_conn_id),
            ("destination_conn_id", destination_conn_id),
        ):
            check_required_str(owner, name, value)
        _check_statements(owner, "preoperator", preoperator)
        check_type(owner, "parameters", parameters, (Mapping, list, tuple))
        if not is_templated_value(insert_args) and not _has_templates(insert_args):
            write_options(
                owner,
                write_mode=write_mode,
                conflict_columns=conflict_columns,
                page_size=page_size,
                insert_args=insert_args,
            )
        super().__init__(**kwargs)
        self.sql = sql
        self.destination_table = destination_table
        self.source_conn_id = source_conn_id
        self.destination_conn_id = destination_conn_id
        self.preoperator: Any = _statements(preoperator)
        self.insert_args: Any = (
            dict(insert_args) if isinstance(insert_args, Mapping) else insert_args
        )
        self.page_size = page_size
        self.parameters = parameters
        self.write_mode = write_mode
        self.conflict_columns = list(conflict_columns) if conflict_columns else None

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        from slipstream.operators._transfer.tables import TableWriter, read_query, transfer_engine

        options = write_options(
            f"{type(self).__name__} {self.task_id!r}",
            write_mode=self.write_mode,
            conflict_columns=self.conflict_columns,
            page_size=self.page_size,
            insert_args=self.insert_args,
            error=SlipstreamException,
        )
        source_engine = transfer_engine(get_connection(self.source_conn_id))
        destination_engine = transfer_engine(get_connection(self.destination_conn_id))
        try:
            with (
                read_query(
                    source_engine,
                    self.sql,
                    self.parameters,
                    page_size=options.page_size,
                    conn_id=self.source_conn_id,
                    log=self.log,
                ) as pages,
                TableWriter(
                    destination_engine,
                    conn_id=self.destination_conn_id,
                    table=self.destination_table,
                    mode=options.mode,
                    conflict_columns=options.conflict_columns,
                    log=self.log,
                ) as writer,
            ):
                writer.run_preoperator(self.preoperator)
                writer.prepare(pages, options.target_fields, what="the query")
                return _pump(pages, writer, self.log)
        finally:
            source_engine.dispose()
            destination_engine.dispose()


def _has_templates(value: Any) -> bool:
    """A dict with a run-time value inside is checked once rendered."""
    if isinstance(value, Mapping):
        return any(_has_templates(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_templates(v) for v in value)
    return is_templated_value(value) or (isinstance(value, str) and "{{" in value)


class SqlToFileOperator(BaseOperator):
    """Writes the rows of ``sql`` on ``conn_id`` to ``path``: CSV (with a header), JSON
    lines, or Parquet (needs ``slipstream[parquet]``), by ``file_format`` or the path's
    extension. ``path`` is a local path or any fsspec URL (needs ``slipstream[fsspec]``);
    a local file appears only once complete. The XCom adds ``path`` to the totals.
    """

    template_fields: Sequence[str] = ("conn_id", "sql", "path", "parameters")
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers = {"sql": "sql"}
    ui_color = "#e8c07d"

    def __init__(
        self,
        *,
        conn_id: str,
        sql: str,
        path: str,
        file_format: str | None = None,
        parameters: Mapping[str, Any] | Sequence[Any] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        delimiter: str = ",",
        null_value: str = "",
        header: bool = True,
        **kwargs: Any,
    ) -> None:
        owner = f"{type(self).__name__} {kwargs.get('task_id')!r}"
        for name, value in (("conn_id", conn_id), ("sql", sql), ("path", path)):
            check_required_str(owner, name, value)
        _check_file_options(owner, file_format, page_size, delimiter, null_value)
        check_type(owner, "parameters", parameters, (Mapping, list, tuple))
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.sql = sql
        self.path = path
        self.file_format = file_format
        self.parameters = parameters
        self.page_size = page_size
        self.delimiter = delimiter
        self.null_value = null_value
        self.header = header

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        from slipstream.operators._transfer.files import file_format, open_for_writing, writer_for
        from slipstream.operators._transfer.progress import Progress
        from slipstream.operators._transfer.tables import read_query, transfer_engine

        kind = file_format(self.path, self.file_format)
        if kind == "parquet":  # before the query runs, not after
            from slipstream.operators._transfer.files import require

            require("pyarrow.parquet", "writing Parquet")
        engine = transfer_engine(get_connection(self.conn_id))
        try:
            with read_query(
                engine,
                self.sql,
                self.parameters,
                page_size=self.page_size,
                conn_id=self.conn_id,
                log=self.log,
            ) as pages:
                names = pages.names or [f"column{i + 1}" for i in range(pages.width)]
                self.log.info("Writing %s to %s", kind, self.path)
                with open_for_writing(self.path) as handle:
                    writer = writer_for(
                        kind,
                        handle,
                        names,
                        pages.json_columns,
                        delimiter=self.delimiter,
                        null_value=self.null_value,
                        header=self.header,
                    )
                    progress = Progress(self.log)
                    for rows in pages.pages:
                        progress.page(len(rows), writer.write(rows))
                    progress.bytes += writer.close()
        finally:
            engine.dispose()
        return {**progress.totals(), "path": self.path}


class FileToSqlOperator(BaseOperator):
    """Loads ``path`` (CSV, JSON lines or Parquet; a local path or an fsspec URL) into
    ``table`` on ``conn_id``, a page at a time.

    The file's columns are ``columns`` when given (for CSV: the fields in order; for JSON
    lines and Parquet: the keys to read), else the CSV header, the first JSON object's
    keys, or the Parquet schema. They match the table's columns by name, else by
    position. CSV fields equal to ``null_value`` (empty by default) are NULL.
    ``preoperator``, ``write_mode`` and ``conflict_columns`` work as for
    :class:`GenericTransfer`.
    """

    template_fields: Sequence[str] = ("path", "conn_id", "table", "preoperator")
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers = {"preoperator": "sql"}
    ui_color = "#a9d6e5"

    def __init__(
        self,
        *,
        path: str,
        conn_id: str,
        table: str,
        file_format: str | None = None,
        columns: Sequence[str] | None = None,
        header: bool = True,
        delimiter: str = ",",
        null_value: str = "",
        preoperator: str | Sequence[str] | None = None,
        write_mode: str = "insert",
        conflict_columns: Sequence[str] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        **kwargs: Any,
    ) -> None:
        owner = f"{type(self).__name__} {kwargs.get('task_id')!r}"
        for name, value in (("path", path), ("conn_id", conn_id), ("table", table)):
            check_required_str(owner, name, value)
        _check_file_options(owner, file_format, page_size, delimiter, null_value)
        _check_statements(owner, "preoperator", preoperator)
        _names(owner, "columns", columns, DagDefinitionError)
        write_options(
            owner, write_mode=write_mode, conflict_columns=conflict_columns, page_size=page_size
        )
        super().__init__(**kwargs)
        self.path = path
        self.conn_id = conn_id
        self.table = table
        self.file_format = file_format
        self.columns = list(columns) if columns is not None else None
        self.header = header
        self.delimiter = delimiter
        self.null_value = null_value
        self.preoperator: Any = _statements(preoperator)
        self.write_mode = write_mode
        self.conflict_columns = list(conflict_columns) if conflict_columns else None
        self.page_size = page_size

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        from slipstream.operators._transfer.files import (
            file_format,
            open_for_reading,
            read_csv,
            read_jsonl,
            read_parquet,
        )
        from slipstream.operators._transfer.tables import TableWriter, transfer_engine

        kind = file_format(self.path, self.file_format)
        engine = transfer_engine(get_connection(self.conn_id))
        try:
            with open_for_reading(self.path) as handle:
                self.log.info("Reading %s from %s", kind, self.path)
                if kind == "csv":
                    pages = read_csv(
                        handle,
                        columns=self.columns,
                        header=self.header,
                        delimiter=self.delimiter,
                        null_value=self.null_value,
                        page_size=self.page_size,
                    )
                elif kind == "jsonl":
                    pages = read_jsonl(handle, columns=self.columns, page_size=self.page_size)
                else:
                    pages = read_parquet(handle, columns=self.columns, page_size=self.page_size)
                with TableWriter(
                    engine,
                    conn_id=self.conn_id,
                    table=self.table,
                    mode=self.write_mode,
                    conflict_columns=self.conflict_columns,
                    log=self.log,
                ) as writer:
                    writer.run_preoperator(self.preoperator)
                    writer.prepare(
                        pages, None, what=f"the file {self.path}", encoded=kind != "parquet"
                    )
                    return {**_pump(pages, writer, self.log), "path": self.path}
        finally:
            engine.dispose()


def _check_file_options(
    owner: str, file_format: Any, page_size: Any, delimiter: Any, null_value: Any
) -> None:
    from_names = ("csv", "jsonl", "parquet")
    if file_format is not None and file_format not in from_names:
        raise DagDefinitionError(
            f"{owner}: file_format must be one of {', '.join(from_names)}, got {file_format!r}"
        )
    if not isinstance(page_size, int) or isinstance(page_size, bool) or page_size < 1:
        raise DagDefinitionError(f"{owner}: page_size must be a whole number >= 1")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise DagDefinitionError(f"{owner}: delimiter must be one character, got {delimiter!r}")
    if not isinstance(null_value, str):
        raise DagDefinitionError(f"{owner}: null_value must be a string, got {null_value!r}")
