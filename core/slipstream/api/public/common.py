"""What the public API's handlers share: the context, pagination and ordering."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.params import QueryParameter
from litestar.status_codes import HTTP_400_BAD_REQUEST

from slipstream.api.context import ApiContext
from slipstream.api.errors import invalid

T = TypeVar("T")

DEFAULT_PAGE_LIMIT = 50
MAX_PAGE_LIMIT = 100  # Airflow's api.maximum_page_limit: larger limits are capped
MAX_INT = 2**31 - 1  # the largest integer every database column takes: bounds numeric input

# Handlers take ``ctx: Ctx``; query parameters are spelled ``FromQuery[...]`` or these.
Ctx = NamedDependency[ApiContext]
Limit = Annotated[int, QueryParameter(ge=0, description="Page size (at most 100).")]
Offset = Annotated[int, QueryParameter(ge=0, le=MAX_INT, description="Rows to skip.")]
OrderBy = Annotated[
    list[str] | None,
    QueryParameter(description="Attribute to order by; prefix with '-' for descending."),
]


def provide_ctx(state: State) -> ApiContext:
    ctx: ApiContext = state["ctx"]
    return ctx


def page_limit(limit: int) -> int:
    return min(limit, MAX_PAGE_LIMIT)


def order_field(order_by: list[str] | str | None, default: str, aliases: dict[str, str]) -> str:
    """The store's ordering for Airflow's ``order_by`` (first criterion; ``-`` = descending).

    ``aliases`` maps the API's attribute names to the store's; anything else is a 400,
    as in Airflow.
    """
    if isinstance(order_by, list):
        order_by = order_by[0] if order_by else None
    if not order_by:
        return default
    descending = order_by.startswith("-")
    name = order_by.lstrip("-")
    if name not in aliases:
        raise HTTPException(
            status_code=HTTP_400_BAD_REQUEST,
            detail=f"Ordering with '{name}' is disallowed or the attribute does not exist on "
            f"the model; choose one of {', '.join(sorted(aliases))}",
        )
    return ("-" if descending else "") + aliases[name]


def call_store(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a store call whose ValueError means the caller's input was refused (400)."""
    try:
        return fn(*args, **kwargs)
    except ValueError as exc:
        raise HTTPException(status_code=HTTP_400_BAD_REQUEST, detail=str(exc)) from None


def path_int(value: str, name: str) -> int:
    """An integer path parameter, parsed by hand so that a non-number is FastAPI's 422
    (a typed path segment would not match, and be a 404)."""
    try:
        return int(value)
    except ValueError:
        raise invalid(
            "Input should be a valid integer, unable to parse string as an integer",
            field=name,
            source="path",
        ) from None
