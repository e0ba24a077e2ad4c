"""``Connection``: how to reach an external system (host, login, password, extras).

Stored encrypted in the metadata store; ``SLIPSTREAM_CONN_<ID>`` (a URI or a
JSON object) wins over the store, like Airflow's ``AIRFLOW_CONN_``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import attrs

from slipstream.execution.client import current_client


def _extra_converter(value: Any) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"connection extra is not valid JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise ValueError("connection extra must be a JSON object")
        return parsed
    if isinstance(value, Mapping):
        return dict(value)
    raise ValueError(f"connection extra must be a dict or a JSON object, got {value!r}")


@attrs.frozen(kw_only=True)
class Connection:
    conn_id: str
    conn_type: str = ""
    description: str | None = None
    host: str | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    port: int | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, converter=_extra_converter, repr=False)

    @property
    def extra_dejson(self) -> dict[str, Any]:
        return dict(self.extra)

    # -- URIs ----------------------------------------------------------------------------

    @classmethod
    def from_uri(cls, conn_id: str, uri: str) -> Connection:
        """``postgresql://user:pass@host:5432/db?sslmode=require`` -> a Connection."""
        parts = urlsplit(uri)
        if not parts.scheme:
            raise ValueError(f"connection {conn_id}: {uri!r} is not a URI (scheme://...)")
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        extra: dict[str, Any] = {}
        if "__extra__" in query:
            extra = _extra_converter(query.pop("__extra__"))
        extra.update(query)
        path = unquote(parts.path[1:]) if parts.path.startswith("/") else unquote(parts.path)
        return cls(
            conn_id=conn_id,
            conn_type=parts.scheme.replace("-", "_"),
            host=unquote(parts.hostname) if parts.hostname else None,
            schema=path or None,
            login=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            port=parts.port,
            extra=extra,
        )

    def get_uri(self) -> str:
        """The connection as a URI (its password included: never log it)."""
        auth = ""
        if self.login or self.password:
            auth = quote(self.login or "", safe="")
            if self.password:
                auth += ":" + quote(self.password, safe="")
            auth += "@"
        host = self.host or ""
        port = f":{self.port}" if self.port else ""
        schema = f"/{quote(self.schema, safe='')}" if self.schema else ""
        query = ""
        if self.extra:
            flat = all(isinstance(v, str) for v in self.extra.values())
            query = "?" + (
                urlencode(self.extra) if flat else urlencode({"__extra__": json.dumps(self.extra)})
            )
        return f"{self.conn_type.replace('_', '-')}://{auth}{host}{port}{schema}{query}"

    @classmethod
    def from_json(cls, conn_id: str, text: str) -> Connection:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"connection {conn_id}: JSON must be an object")
        data.pop("conn_id", None)
        return cls(conn_id=conn_id, **data)

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)

    # -- lookup --------------------------------------------------------------------------

    @classmethod
    def get(cls, conn_id: str) -> Connection:
        """The connection named ``conn_id``: environment first, then the store."""
        raw = os.environ.get(f"SLIPSTREAM_CONN_{conn_id.upper()}")
        if raw is not None:
            raw = raw.strip()
            return (
                cls.from_json(conn_id, raw) if raw.startswith("{") else cls.from_uri(conn_id, raw)
            )
        client = current_client()
        found = client.get_connection(conn_id) if client is not None else None
        if found is None:
            raise KeyError(f"The conn_id `{conn_id}` isn't defined")
        data = dict(found)
        data.pop("conn_id", None)
        return cls(conn_id=conn_id, **data)

    get_connection_from_secrets = get
