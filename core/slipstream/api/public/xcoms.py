"""``GET .../taskInstances/{task_id}/xcomEntries`` and ``.../xcomEntries/{xcom_key}``:
what task instances pushed, as Airflow's API shows it.

slipstream stores XCom values as JSON, so ``deserialize`` changes nothing: the value
is always the JSON value; ``stringify`` turns it into Python's ``str()`` of it, as
Airflow does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import attrs
from litestar import Controller, get
from litestar.exceptions import HTTPException
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.status_codes import HTTP_400_BAD_REQUEST

from slipstream.api.auth.guards import can_read
from slipstream.api.public.common import (
    ANY,
    MAX_INT,
    Ctx,
    Limit,
    MapIndexQuery,
    Offset,
    OrderBy,
    get_run_or_404,
    or_404,
    order_field,
    page_limit,
)
from slipstream.api.public.task_instances import TaskInstanceController
from slipstream.metadata.records import DagRun, TaskInstanceRef, XCom

XCOM_ORDER = {
    "key": "key",
    "task_id": "task_id",
    "map_index": "map_index",
    "timestamp": "timestamp",
    "dag_id": "dag_id",
    "run_id": "run_id",
}

MapIndexAtLeastMinusOne = Annotated[
    int | None,
    QueryParameter(ge=-1, le=MAX_INT, description="Only this map index (-1: not mapped)."),
]


@attrs.frozen(kw_only=True)
class XComResponse:
    key: str
    timestamp: datetime
    logical_date: datetime | None
    map_index: int
    task_id: str
    dag_id: str
    run_id: str
    dag_display_name: str
    task_display_name: str
    run_after: datetime


@attrs.frozen(kw_only=True)
class XComResponseNative(XComResponse):
    value: Any


@attrs.frozen(kw_only=True)
class XComResponseString(XComResponse):
    value: str | None


@attrs.frozen(kw_only=True)
class XComCollectionResponse:
    xcom_entries: list[XComResponse]
    total_entries: int


def _fields(xcom: XCom, run: DagRun) -> dict[str, Any]:
    return {
        "key": xcom.key,
        "timestamp": xcom.timestamp,
        "logical_date": run.logical_date,
        "map_index": xcom.map_index,
        "task_id": xcom.task_id,
        "dag_id": xcom.dag_id,
        "run_id": xcom.run_id,
        "dag_display_name": xcom.dag_id,
        "task_display_name": xcom.task_id,
        "run_after": run.run_after,
    }


def _one_run_only(dag_id: str, dag_run_id: str) -> None:
    if ANY in (dag_id, dag_run_id):
        raise HTTPException(
            status_code=HTTP_400_BAD_REQUEST,
            detail="slipstream lists the XComs of one run: give its dag_id and dag_run_id "
            "(`~` works for the task id only)",
        )


class XComController(Controller):
    path = f"{TaskInstanceController.path}/{{task_id:str}}/xcomEntries"
    tags = ["XCom"]

    @get("/", guards=[can_read], sync_to_thread=True)
    def get_xcom_entries(
        self,
        ctx: Ctx,
        dag_id: FromPath[str],
        dag_run_id: FromPath[str],
        task_id: FromPath[str],
        xcom_key: FromQuery[str | None] = None,
        map_index: MapIndexAtLeastMinusOne = None,
        limit: Limit = 50,
        offset: Offset = 0,
        order_by: OrderBy = None,
    ) -> XComCollectionResponse:
        """The XComs of a task instance (``~`` as ``task_id``: of every task of the run)."""
        _one_run_only(dag_id, dag_run_id)
        run = get_run_or_404(ctx, dag_id, dag_run_id, dag_first=True)
        found = ctx.store.list_xcoms(
            dag_id, dag_run_id, task_id=None if task_id == ANY else task_id, key=xcom_key
        )
        if map_index is not None:
            found = [x for x in found if x.map_index == map_index]
        order = order_field(order_by, "task_id", XCOM_ORDER)
        name = order.lstrip("-")
        found.sort(key=lambda x: (getattr(x, name), x.task_id, x.map_index, x.key))
        if order.startswith("-"):
            found.reverse()
        page = found[offset : offset + page_limit(limit)]
        return XComCollectionResponse(
            xcom_entries=[XComResponse(**_fields(x, run)) for x in page],
            total_entries=len(found),
        )

    @get("/{xcom_key:str}", guards=[can_read], sync_to_thread=True)
    def get_xcom_entry(
        self,
        ctx: Ctx,
        dag_id: FromPath[str],
        dag_run_id: FromPath[str],
        task_id: FromPath[str],
        xcom_key: FromPath[str],
        map_index: MapIndexQuery = -1,
        deserialize: FromQuery[bool] = False,
        stringify: FromQuery[bool] = False,
    ) -> XComResponseNative | XComResponseString:
        """One XCom's value: as JSON, or with ``stringify`` as Python's ``str()`` of it."""
        _one_run_only(dag_id, dag_run_id)
        run = get_run_or_404(ctx, dag_id, dag_run_id, dag_first=True)
        ref = TaskInstanceRef(
            dag_id=dag_id, run_id=dag_run_id, task_id=task_id, map_index=map_index
        )
        xcom = or_404(
            ctx.store.get_xcom(ref, xcom_key), f"XCom entry with key: `{xcom_key}` not found"
        )
        if stringify:
            text = None if xcom.value is None else str(xcom.value)
            return XComResponseString(value=text, **_fields(xcom, run))
        return XComResponseNative(value=xcom.value, **_fields(xcom, run))
