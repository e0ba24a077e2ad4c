"""Variables, connections and pools: the rules and steps the CLI and the REST API share.

Checks raise ``ValueError`` with a message naming the bad value; the CLI turns it into
its exit-status-1 error, the API into a 422. Nothing here prints or knows about HTTP.
"""

from __future__ import annotations

import json
from typing import Any

from slipstream.metadata.base import MetadataStore
from slipstream.metadata.records import Pool, Variable

# The longest key, connection id and pool name the store's columns hold on every database.
MAX_KEY_LEN = 250
MAX_POOL_NAME_LEN = 256
MAX_SLOTS = 2**31 - 1  # the largest integer every database's column takes
# Connection fields that are never shown back (the CLI masks, the API returns null).
SECRET_CONNECTION_FIELDS = ("password", "extra")


def check_name(what: str, value: str, max_len: int = MAX_KEY_LEN) -> str:
    """A key, id or name: non-empty, no surrounding spaces, short enough for its column."""
    if not value or value.strip() != value:
        raise ValueError(f"{what} {value!r} must be non-empty, without leading or trailing spaces")
    if len(value) > max_len:
        raise ValueError(f"{what} is {len(value)} characters long; at most {max_len} are allowed")
    return value


def canonical_json(value: Any) -> str:
    """One spelling per JSON value, so equal values are stored as equal strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def variable_text(value: Any) -> str:
    """What a variable stores for a JSON value: a string as it is, anything else as its
    canonical JSON text (``null`` is refused: a variable always has a value)."""
    if value is None:
        raise ValueError("null is not a variable value")
    return value if isinstance(value, str) else canonical_json(value)


def set_variable(
    store: MetadataStore, key: str, value: str, description: str | None
) -> tuple[bool, Variable]:
    """Create or update; an omitted description keeps the one already stored.
    Returns whether the variable is new."""
    existing = store.get_variable(key)
    if description is None and existing is not None:
        description = existing.description
    store.set_variable(key, value, description=description)
    return existing is None, Variable(key=key, value=value, description=description)


def set_pool(
    store: MetadataStore, name: str, slots: int, description: str | None
) -> tuple[bool, Pool]:
    """Create or resize; an omitted description keeps the one already stored.
    Returns whether the pool is new."""
    existing = store.get_pool(name)
    if description is None and existing is not None:
        description = existing.description
    return existing is None, store.set_pool(name, slots, description=description)


def check_slots(value: Any, what: str = "slots") -> int:
    """A whole number >= 0 (0 stops the pool's tasks from running) that the slots
    column holds."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a whole number >= 0, got {value!r}")
    if value > MAX_SLOTS:
        raise ValueError(f"{what} must be at most {MAX_SLOTS}, got {value!r}")
    return value


def check_port(value: int | None, what: str = "port") -> int | None:
    if value is not None and not 1 <= value <= 65535:
        raise ValueError(f"{what}: {value!r} is not a port number (1-65535)")
    return value


def parse_extra(value: str | None, what: str = "extra") -> dict[str, Any]:
    """A connection's extra as given by a user: a JSON object, or nothing."""
    if value is None or value == "":
        return {}
    try:
        extra = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(extra, dict):
        raise ValueError(f"{what} must be a JSON object")
    return extra
