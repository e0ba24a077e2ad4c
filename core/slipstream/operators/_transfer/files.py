"""Files a transfer reads and writes: CSV, JSON lines and Parquet, on a local path or any
fsspec URL, a page at a time.

pyarrow (Parquet) and fsspec (URLs) are optional extras; without them the error names the
extra and the pip command.
"""

from __future__ import annotations

import contextlib
import csv
import decimal
import importlib
import io
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import IO, Any

from slipstream.operators._transfer.tables import Pages, TransferError
from slipstream.operators._transfer.values import json_text, text_of

FORMATS = ("csv", "jsonl", "parquet")
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
_EXTRAS = {"pyarrow": "parquet", "fsspec": "fsspec"}


def require(module: str, needed_for: str) -> ModuleType:
    """Import an optional dependency, or say which extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = _EXTRAS[module.split(".")[0]]
        raise TransferError(
            f"{needed_for} needs {module.split('.')[0]}, which is not installed: "
            f'pip install "slipstream[{extra}]"'
        ) from None


def file_format(path: str, given: str | None) -> str:
    """``given``, or the format the path's extension names."""
    if given is not None:
        if given not in FORMATS:
            raise TransferError(f"file_format must be one of {', '.join(FORMATS)}, not {given!r}")
        return given
    suffix = Path(path.split("?", 1)[0]).suffix.lower()
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    raise TransferError(
        f"cannot tell the format of {path!r} from its extension: pass file_format= "
        f"{', '.join(map(repr, FORMATS))}"
    )


def _is_url(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _local(path: str) -> Path:
    return Path(path.removeprefix("file://")).expanduser()


class CountingReader(io.RawIOBase):
    """A file as read: counts the bytes that pass, for the progress lines."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self.count += size
        return size

    def seekable(self) -> bool:
        return bool(self.inner.seekable())

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return int(self.inner.seek(offset, whence))

    def tell(self) -> int:
        return int(self.inner.tell())


@contextlib.contextmanager
def open_for_reading(path: str) -> Iterator[CountingReader]:
    if _is_url(path):
        fsspec = require("fsspec", f"reading {path!r}")
        with fsspec.open(path, "rb") as handle:
            yield CountingReader(handle)
        return
    local = _local(path)
    if not local.is_file():
        raise TransferError(f"there is no file {str(local)!r} to read")
    with local.open("rb") as handle:
        yield CountingReader(handle)


@contextlib.contextmanager
def open_for_writing(path: str) -> Iterator[IO[bytes]]:
    """A local file appears whole or not at all: written beside, renamed when complete."""
    if _is_url(path):
        fsspec = require("fsspec", f"writing {path!r}")
        with fsspec.open(path, "wb") as handle:
            yield handle
        return
    local = _local(path)
    local.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{local.name}.", dir=local.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.replace(temporary, local)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _check_names(names: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise TransferError(
                f"{what} has two columns named {name!r}: give them different names (AS ...)"
            )
        seen.add(name)


# -- writing ---------------------------------------------------------------------------------


class FileWriter:
    """Writes pages of a query's rows in one format; ``write`` returns the bytes written."""

    def __init__(self, handle: IO[bytes], names: list[str], json_columns: frozenset[int]):
        self.handle = handle
        self.names = names
        self.json_columns = json_columns

    def write(self, rows: Sequence[Sequence[Any]]) -> int:
        raise NotImplementedError

    def close(self) -> int:
        return 0


class CsvWriter(FileWriter):
    """RFC 4180 CSV in UTF-8 with a header; NULL is ``null_value`` (empty by default)."""

    def __init__(
        self,
        handle: IO[bytes],
        names: list[str],
        json_columns: frozenset[int],
        *,
        delimiter: str,
        null_value: str,
        header: bool,
    ) -> None:
        super().__init__(handle, names, json_columns)
        self.delimiter = delimiter
        self.null_value = null_value
        self.pending = 0
        if header:
            self.pending = self._emit([names])

    def _emit(self, rows: Any) -> int:
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=self.delimiter, lineterminator="\n").writerows(rows)
        data = buffer.getvalue().encode("utf-8")
        self.handle.write(data)
        return len(data)

    def write(self, rows: Sequence[Sequence[Any]]) -> int:
        null = self.null_value
        plain = (str, int, float)
        columns = [
            [null if v is None else v if type(v) in plain else text_of(v) for v in values]
            for values in zip(*rows, strict=False)
        ]
        written = self._emit(zip(*columns, strict=True)) + self.pending
        self.pending = 0
        return written

    def close(self) -> int:
        return self.pending  # a header with no rows after it


def _nested(text: Any) -> Any:
    """A JSON column in JSON lines: the document itself, unless it is a string or null,
    which stay JSON text (so reading the file back can tell them from SQL values)."""
    if not isinstance(text, str):
        return text
    try:
        document = json.loads(text, parse_float=decimal.Decimal)
    except ValueError:
        return text
    return document if isinstance(document, dict | list | int | decimal.Decimal) else text


class JsonLinesWriter(FileWriter):
    """One JSON object per line. Decimals are strings (exact), timestamps ISO 8601 text,
    binary values base64, JSON columns nested documents."""

    def write(self, rows: Sequence[Sequence[Any]]) -> int:
        columns: list[Sequence[Any]] = []
        for index, values in enumerate(zip(*rows, strict=False)):
            if index in self.json_columns:
                columns.append([_nested(v) for v in values])
            else:
                columns.append([str(v) if type(v) is decimal.Decimal else v for v in values])
        names = self.names
        lines = [
            json_text(dict(zip(names, row, strict=True))) for row in zip(*columns, strict=True)
        ]
        data = ("\n".join(lines) + "\n").encode("utf-8") if lines else b""
        self.handle.write(data)
        return len(data)


class ParquetWriter(FileWriter):
    """Parquet through pyarrow; the schema comes from the first page (decimals widened to
    38 digits, all-NULL columns as text) and later pages must fit it."""

    def __init__(self, handle: IO[bytes], names: list[str], json_columns: frozenset[int]):
        super().__init__(handle, names, json_columns)
        self.pa = require("pyarrow", "writing Parquet")
        self.pq = require("pyarrow.parquet", "writing Parquet")
        self.writer: Any = None
        self.schema: Any = None
        self.page = 0

    def _schema(self, table: Any) -> Any:
        pa = self.pa
        fields = []
        for field in table.schema:
            kind = field.type
            if pa.types.is_null(kind):
                kind = pa.string()
            elif pa.types.is_decimal(kind) and kind.precision < 38:
                kind = pa.decimal128(38, kind.scale)
            fields.append(pa.field(field.name, kind))
        return pa.schema(fields)

    def _position(self) -> int:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            return int(self.handle.tell())
        return 0

    def write(self, rows: Sequence[Sequence[Any]]) -> int:
        pa = self.pa
        self.page += 1
        before = self._position()
        columns = [list(values) for values in zip(*rows, strict=False)]
        if self.schema is None:
            inferred = pa.table(dict(zip(self.names, columns, strict=True)))
            self.schema = self._schema(inferred)
            self.writer = self.pq.ParquetWriter(self.handle, self.schema)
        arrays = []
        for field, values in zip(self.schema, columns, strict=True):
            if pa.types.is_string(field.type):
                values = [v if v is None or type(v) is str else text_of(v) for v in values]
            try:
                arrays.append(pa.array(values, type=field.type))
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
                raise TransferError(
                    f"page {self.page}, column {field.name!r}: its values do not fit the "
                    f"Parquet type {field.type} taken from the first page ({exc}); CAST the "
                    f"column to one type in the query"
                ) from None
        self.writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))
        return self._position() - before

    def close(self) -> int:
        before = self._position()
        if self.writer is None:  # no rows: an empty file with text columns
            self.schema = self.pa.schema([self.pa.field(n, self.pa.string()) for n in self.names])
            self.writer = self.pq.ParquetWriter(self.handle, self.schema)
        self.writer.close()
        return self._position() - before


def writer_for(
    kind: str,
    handle: IO[bytes],
    names: list[str],
    json_columns: frozenset[int],
    *,
    delimiter: str = ",",
    null_value: str = "",
    header: bool = True,
) -> FileWriter:
    if kind != "csv":
        _check_names(names, "the query")
    if kind == "csv":
        return CsvWriter(
            handle, names, json_columns, delimiter=delimiter, null_value=null_value, header=header
        )
    if kind == "jsonl":
        return JsonLinesWriter(handle, names, json_columns)
    return ParquetWriter(handle, names, json_columns)


# -- reading ---------------------------------------------------------------------------------


def read_csv(
    handle: CountingReader,
    *,
    columns: Sequence[str] | None,
    header: bool,
    delimiter: str,
    null_value: str,
    page_size: int,
) -> Pages:
    text = io.TextIOWrapper(io.BufferedReader(handle), encoding="utf-8-sig", newline="")
    reader = csv.reader(text, delimiter=delimiter)
    head: list[str] | None = next(reader, None) if header else None
    first_row: list[str] | None = None
    names = list(columns) if columns is not None else head
    if names is not None:
        width = len(names)
    else:
        first_row = next(reader, None)
        width = len(first_row) if first_row is not None else 0

    def pages() -> Iterator[list[tuple[Any, ...]]]:
        page: list[tuple[Any, ...]] = []
        number = 0
        rows = reader if first_row is None else _chain([first_row], reader)
        for row in rows:
            if not row:
                continue  # a blank line
            number += 1
            if len(row) != width:
                raise TransferError(
                    f"row {number:,} of the CSV file has {len(row)} fields, where "
                    f"{'the header has' if names else 'the first row has'} {width}"
                )
            page.append(tuple(None if v == null_value else v for v in row))
            if len(page) >= page_size:
                yield page
                page = []
        if page:
            yield page

    return Pages(
        names=names,
        width=width,
        pages=pages(),
        bytes_read=lambda: handle.count,
        keep=text,
    )


def _chain(first: list[list[str]], rest: Any) -> Iterator[list[str]]:
    yield from first
    yield from rest


def read_jsonl(handle: CountingReader, *, columns: Sequence[str] | None, page_size: int) -> Pages:
    text = io.TextIOWrapper(io.BufferedReader(handle), encoding="utf-8-sig")
    objects = _json_objects(text)
    first = next(objects, None)
    declared = columns is not None
    names = list(columns) if columns is not None else list(first[1]) if first else []
    known = set(names)

    def pages() -> Iterator[list[tuple[Any, ...]]]:
        page: list[tuple[Any, ...]] = []
        if first is None:
            return
        for line, obj in _chain_objects(first, objects):
            if not declared and not known.issuperset(obj):
                extra = ", ".join(repr(k) for k in obj if k not in known)
                raise TransferError(
                    f"line {line:,} of the JSON lines file has key(s) {extra} that the first "
                    f"line has not: declare the columns with columns=[...]"
                )
            page.append(tuple(obj.get(name) for name in names))
            if len(page) >= page_size:
                yield page
                page = []
        if page:
            yield page

    return Pages(
        names=names,
        width=len(names),
        pages=pages(),
        bytes_read=lambda: handle.count,
        keep=text,
    )


def _json_objects(text: IO[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    for line, raw in enumerate(text, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw, parse_float=decimal.Decimal)
        except ValueError as exc:
            raise TransferError(
                f"line {line:,} of the JSON lines file is not JSON: {exc}"
            ) from None
        if not isinstance(obj, dict):
            raise TransferError(f"line {line:,} of the JSON lines file is not a JSON object")
        yield line, obj


def _chain_objects(
    first: tuple[int, dict[str, Any]], rest: Iterator[tuple[int, dict[str, Any]]]
) -> Iterator[tuple[int, dict[str, Any]]]:
    yield first
    yield from rest


def read_parquet(handle: CountingReader, *, columns: Sequence[str] | None, page_size: int) -> Pages:
    pq = require("pyarrow.parquet", "reading Parquet")
    size = handle.seek(0, io.SEEK_END)  # pyarrow reads the footer more than once
    handle.seek(0)
    parquet = pq.ParquetFile(handle)
    available = list(parquet.schema_arrow.names)
    if columns is not None:
        missing = [c for c in columns if c not in available]
        if missing:
            raise TransferError(
                f"the Parquet file has no column(s) {', '.join(map(repr, missing))} "
                f"(its columns: {', '.join(available)})"
            )
    names = list(columns) if columns is not None else available

    def pages() -> Iterator[list[tuple[Any, ...]]]:
        for batch in parquet.iter_batches(batch_size=page_size, columns=names):
            values = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            yield list(zip(*values, strict=True))

    return Pages(
        names=names, width=len(names), pages=pages(), bytes_read=lambda: min(handle.count, size)
    )
