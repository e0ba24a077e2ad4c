"""``GET /api/v2/dags/{dag_id}/serialized``: slipstream's own route (not in Airflow's
API) giving a DAG's serialized form, so a remote CLI can show and list DAGs exactly
as it does next to the DAG files."""

from __future__ import annotations

from typing import Any

import attrs
from litestar import get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery

from slipstream.api.auth.guards import can_read
from slipstream.api.public.common import Ctx, get_dag_or_404


@attrs.frozen(kw_only=True)
class SerializedDagResponse:
    dag_id: str
    version_number: int
    serialized: dict[str, Any]


@get("/dags/{dag_id:str}/serialized", guards=[can_read], sync_to_thread=True, tags=["Slipstream"])
def get_serialized_dag(
    ctx: Ctx, dag_id: FromPath[str], version_number: FromQuery[int | None] = None
) -> SerializedDagResponse:
    """The DAG as the scheduler sees it: its latest version, or ``version_number``."""
    get_dag_or_404(ctx, dag_id)
    version = ctx.store.get_dag_version(dag_id, version_number)
    if version is None:
        raise NotFoundException(
            f"The Dag with ID: `{dag_id}` has no version {version_number}"
            if version_number is not None
            else f"The Dag with ID: `{dag_id}` has no serialized version yet"
        )
    return SerializedDagResponse(
        dag_id=dag_id, version_number=version.version_number, serialized=version.serialized
    )
