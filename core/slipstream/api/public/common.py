"""What the public API's handlers share: the context, pagination and ordering, query and
path parameter types, and the lookups that answer 404 (the UI uses them too)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, overload

from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import PathParameter, QueryParameter
from litestar.status_codes import HTTP_400_BAD_REQUEST

from slipstream.api.context import ApiContext
from slipstream.api.errors import invalid

if TYPE_CHECKING:
    from slipstream.metadata.records import Dag, DagRun

T = TypeVar("T")

DEFAULT_PAGE_LIMIT = 50
MAX_PAGE_LIMIT = 100  # Airflow's api.maximum_page_limit: larger limits are capped
MAX_INT = 2**31 - 1  # the largest integer every database column takes: bounds numeric input
ANY = "~"  # Airflow's "every DAG" / "every run" in a path
MAX_NOTE_LEN = 1000  # Airflow's limit on a run's or a task instance's note

# Handlers take ``ctx: Ctx``; query parameters are spelled ``FromQuery[...]`` or these.
Ctx = NamedDependency[ApiContext]
Limit = Annotated[int, QueryParameter(ge=0, description="Page size (at most 100).")]
Offset = Annotated[int, QueryParameter(ge=0, le=MAX_INT, description="Rows to skip.")]
OrderBy = Annotated[
    list[str] | None,
    QueryParameter(description="Attribute to order by; prefix with '-' for descending."),
]
MapIndexPath = Annotated[int, PathParameter(ge=-1, le=MAX_INT)]
TryNumberPath = Annotated[int, PathParameter(ge=0, le=MAX_INT)]
MapIndexQuery = Annotated[
    int, QueryParameter(ge=-1, le=MAX_INT, description="The map index (-1: not mapped).")
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
        raise order_refused(name, aliases)
    return ("-" if descending else "") + aliases[name]


def paging(
    limit: int, offset: int, order_by: list[str] | str | None, default: str, aliases: dict[str, str]
) -> dict[str, Any]:
    """A store listing's ``limit`` (capped), ``offset`` and ``order_by`` (see
    :func:`order_field`) from Airflow's query parameters."""
    return {
        "limit": page_limit(limit),
        "offset": offset,
        "order_by": order_field(order_by, default, aliases),
    }


def matching(items: Iterable[T], pattern: str | None, name: Callable[[T], str]) -> list[T]:
    """Airflow's ``*_pattern`` filters: the items whose name has ``pattern`` in it, in any
    case (all of them without a pattern)."""
    if not pattern:
        return list(items)
    needle = pattern.lower()
    return [item for item in items if needle in name(item).lower()]


def sorted_page(
    found: list[T], order: str, key: Callable[[T, str], Any], limit: int, offset: int
) -> list[T]:
    """One page of ``found`` (sorted in place) for a listing the store does not page:
    ``order`` is :func:`order_field`'s, ``key(item, attribute)`` what to sort by."""
    attribute = order.lstrip("-")
    found.sort(key=lambda item: key(item, attribute), reverse=order.startswith("-"))
    return found[offset : offset + page_limit(limit)]


def order_refused(name: str, allowed: Collection[str]) -> HTTPException:
    """Airflow's 400 for an ``order_by`` naming an attribute it cannot order by."""
    return HTTPException(
        status_code=HTTP_400_BAD_REQUEST,
        detail=f"Ordering with '{name}' is disallowed or the attribute does not exist on "
        f"the model; choose one of {', '.join(sorted(allowed))}",
    )


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


@overload
def aware(moment: datetime) -> datetime: ...
@overload
def aware(moment: datetime | None) -> datetime | None: ...
def aware(moment: datetime | None) -> datetime | None:
    """A date from a query or body: naive ones are UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def as_uuid(number: int) -> str:
    """An integer id (a task instance's, a DAG version's) in the UUID spelling Airflow's
    clients expect: ``00000000-...-000000000007``."""
    return str(uuid.UUID(int=number))


def check_update_mask(update_mask: Collection[str] | None, updatable: Collection[str]) -> None:
    """A 400 when ``update_mask`` names a field that cannot be updated."""
    unknown = set(update_mask or ()) - set(updatable)
    if unknown:
        raise HTTPException(
            status_code=HTTP_400_BAD_REQUEST,
            detail=f"update_mask can name {', '.join(updatable)}; not {', '.join(sorted(unknown))}",
        )


# -- lookups that answer 404 -------------------------------------------------------------


def or_404(found: T | None, message: str) -> T:
    """``found``, or a 404 saying ``message`` when the store found nothing."""
    if found is None:
        raise NotFoundException(message)
    return found


def get_dag_or_404(ctx: ApiContext, dag_id: str) -> Dag:
    return or_404(ctx.store.get_dag(dag_id), f"The Dag with ID: `{dag_id}` was not found")


def run_not_found(dag_id: str, run_id: str) -> str:
    return f"The DagRun with dag_id: `{dag_id}` and run_id: `{run_id}` was not found"


def get_run_or_404(ctx: ApiContext, dag_id: str, run_id: str, *, dag_first: bool = False) -> DagRun:
    """The run; with ``dag_first``, a missing DAG is a 404 that names the DAG."""
    if dag_first:
        get_dag_or_404(ctx, dag_id)
    return or_404(ctx.store.get_dag_run(dag_id, run_id), run_not_found(dag_id, run_id))
