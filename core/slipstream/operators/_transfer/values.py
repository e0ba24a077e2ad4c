"""Values on their way into a destination: one converter per destination column kind.

Drivers hand over Python values (``Decimal``, aware ``datetime``, ``bool``, JSON as text);
each destination wants its own: SQLite has no decimal, timestamp or JSON type, MySQL has
no time zones, CSV has only text. The rules, also in ``docs/moving-data.md``:

- Decimals stay ``Decimal`` (never float); SQLite gets their exact text.
- Timestamps travel as instants. A naive one is taken as UTC where a zone is needed
  (PostgreSQL ``timestamptz``, SQLite columns declared ``TIMESTAMPTZ`` or ``... WITH TIME
  ZONE``); an aware one becomes naive UTC where no zone can be kept (MySQL ``DATETIME``,
  PostgreSQL ``timestamp``). As text (SQLite, CSV, JSON lines) a timestamp is ISO 8601
  with a space, ``2024-01-02 03:04:05.123456+00:00``, aware ones in UTC.
- JSON travels as its text; objects and arrays (from JSON lines or Parquet) are
  serialised, numbers keeping every digit.
- Binary values in files are base64 text.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

UTC = dt.UTC

#: Destination column kinds (``tables.column_kind`` maps database types to these).
KINDS = (
    "bool",
    "int",
    "decimal",
    "float",
    "text",
    "json",
    "timestamp",
    "timestamptz",
    "date",
    "time",
    "binary",
    "array",
    "other",
)

_TRUE = frozenset({"true", "t", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "off", "0"})


class BadValue(ValueError):
    """A value the destination column cannot take; the caller adds the row and column."""


class _ExactNumber(TypeError):
    """Raised inside ``json.dumps`` to switch to the serialiser that keeps Decimal digits."""


# -- text forms --------------------------------------------------------------------------


def timestamp_text(value: dt.datetime) -> str:
    """ISO 8601 with a space (as PostgreSQL prints it); an aware timestamp in UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.isoformat(sep=" ")


def _json_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        raise _ExactNumber
    if isinstance(value, dt.datetime):
        return timestamp_text(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return str(value)


def _exact(value: Any) -> Iterator[str]:
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise BadValue(f"{value} is not a JSON number")
        yield str(value)
    elif isinstance(value, dict):
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            yield (", " if i else "") + json.dumps(str(key), ensure_ascii=False) + ": "
            yield from _exact(item)
        yield "}"
    elif isinstance(value, list | tuple):
        yield "["
        for i, item in enumerate(value):
            if i:
                yield ", "
            yield from _exact(item)
        yield "]"
    else:
        yield json.dumps(value, ensure_ascii=False, allow_nan=False, default=_json_default)


def json_text(value: Any) -> str:
    """``value`` as JSON text; a ``Decimal`` anywhere inside is a number with all its digits."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, default=_json_default)
    except _ExactNumber:
        return "".join(_exact(value))
    except ValueError as exc:  # NaN or infinity
        raise BadValue(f"{value!r} is not valid JSON: {exc}") from None


def text_of(value: Any) -> str:
    """The text form of a value in a file (CSV) or a text column."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return timestamp_text(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json_text(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


# -- parsing text ------------------------------------------------------------------------


def _parse_bool(value: Any) -> bool:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    elif isinstance(value, int | decimal.Decimal | float) and value in (0, 1):
        return bool(value)
    raise BadValue(f"{value!r} is not a boolean (true/false, t/f, 1/0, yes/no)")


def _parse_int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise BadValue(f"{value!r} is not a whole number") from None
    if isinstance(value, decimal.Decimal | float) and value == int(value):
        return int(value)
    raise BadValue(f"{value!r} is not a whole number")


def _parse_decimal(value: Any) -> decimal.Decimal:
    try:
        number = decimal.Decimal(value.strip() if isinstance(value, str) else value)
    except (decimal.InvalidOperation, TypeError, ValueError):
        raise BadValue(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise BadValue(f"{value!r} is not a finite number")
    return number


def _parse_float(value: Any) -> float:
    try:
        return float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise BadValue(f"{value!r} is not a number") from None


def _parse_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    raise BadValue(f"{value!r} is not an ISO 8601 timestamp")


def _parse_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise BadValue(f"{value!r} is not an ISO 8601 date")


def _parse_time(value: Any) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if isinstance(value, str):
        try:
            return dt.time.fromisoformat(value.strip())
        except ValueError:
            pass
    raise BadValue(f"{value!r} is not an ISO 8601 time")


def _as_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _as_naive_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _base64(value: Any) -> bytes:
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            raise BadValue(f"{value[:40]!r} is not base64 (files hold binary values so)") from None
    return bytes(value)


# -- converters ----------------------------------------------------------------------------

Convert = Callable[[Any], Any]


class Converter:
    """How one destination column takes values: types that pass as they are, and a function
    for the rest. ``None`` always passes (it is NULL)."""

    __slots__ = ("convert", "passing")

    def __init__(self, passing: tuple[type, ...], convert: Convert | None) -> None:
        self.passing = passing
        self.convert = convert

    def column(self, values: tuple[Any, ...]) -> list[Any] | tuple[Any, ...]:
        """A page's values of this column, converted (raises ``BadValue`` on the first bad one)."""
        convert, passing = self.convert, self.passing
        if convert is None:
            return values
        return [v if v is None or type(v) in passing else convert(v) for v in values]


def _sqlite_other(value: Any) -> Any:
    """What sqlite3 can bind: it has no Decimal, date, dict or UUID."""
    if isinstance(value, bool | int | float | str | bytes):
        return value
    if isinstance(value, dict | list | tuple):
        return json_text(value)
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return text_of(value)


def _other(value: Any) -> Any:
    if isinstance(value, dict):
        return json_text(value)
    return value


def _mysql_other(value: Any) -> Any:
    """PyMySQL cannot bind lists, dicts or UUIDs."""
    if isinstance(value, dict | list | tuple):
        return json_text(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def converter(kind: str, dialect: str, *, encoded: bool = False) -> Converter:
    """The converter for a destination column of ``kind`` on ``dialect`` (``sqlite``,
    ``postgresql``, ``mysql``, ...). ``encoded``: strings come from a file, where binary
    values are base64 text."""
    sqlite = dialect == "sqlite"
    mysql = dialect in ("mysql", "mariadb")
    if kind == "bool":
        return Converter((bool,), _parse_bool)
    if kind == "int":
        return Converter((int,), _parse_int)
    if kind == "decimal":
        if sqlite:  # no decimal type: the exact text, and SQLite's affinity decides

            def sqlite_decimal(value: Any) -> Any:
                if isinstance(value, bool):
                    return int(value)
                return str(_parse_decimal(value))

            return Converter((int, float), sqlite_decimal)
        return Converter(
            (decimal.Decimal, int, float),
            lambda v: int(v) if isinstance(v, bool) else _parse_decimal(v),
        )
    if kind == "float":
        return Converter((float, int), _parse_float)
    if kind == "json":
        return Converter((str,), json_text)
    if kind == "text":

        def text(value: Any) -> Any:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return value  # every database takes a number into a text column
            return text_of(value)

        return Converter((str,), text)
    if kind in ("timestamp", "timestamptz"):
        aware = kind == "timestamptz"
        fix = _as_utc if aware else _as_naive_utc
        if sqlite:
            return Converter((), lambda v: timestamp_text(fix(_parse_datetime(v))))
        return Converter((), lambda v: fix(_parse_datetime(v)))
    if kind == "date":
        if sqlite:
            return Converter((str,), lambda v: _parse_date(v).isoformat())
        return Converter((dt.date,), _parse_date)
    if kind == "time":
        if sqlite:
            return Converter((str,), lambda v: _parse_time(v).isoformat())
        return Converter((dt.time,), _parse_time)
    if kind == "binary":
        if encoded:
            return Converter((bytes,), _base64)
        return Converter((bytes, str), bytes)
    if kind == "array":
        return Converter((list,), None if not sqlite else _sqlite_other)
    if sqlite:
        return Converter((str, int, float, bytes), _sqlite_other)
    if mysql:
        return Converter((str, int, float, bytes, decimal.Decimal), _mysql_other)
    return Converter((str, int, float, bytes, decimal.Decimal), _other)


def value_bytes(values: tuple[Any, ...] | list[Any]) -> int:
    """Bytes of a column's values as counted in progress: text as UTF-8, binary at its
    length, NULL as nothing, every other value as 8."""
    total = 0
    for value in values:
        kind = type(value)
        if kind is str:
            total += len(value) if value.isascii() else len(value.encode("utf-8", "replace"))
        elif value is None:
            continue
        elif kind is bytes:
            total += len(value)
        else:
            total += 8
    return total
