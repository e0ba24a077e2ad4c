"""``/api/v2/dags/{dag_id}/dagVersions`` and ``/api/v2/dagSources/{dag_id}``: the stored
versions of a DAG (issue 8) and the source code of each, in Airflow 3's shapes.

Airflow names a version by a UUID; slipstream numbers them, so a version's ``id`` is
the UUID whose integer value is the stored id (``00000000-...-000000000007``): stable,
unique, and the same everywhere a version appears (runs, task instances).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
from litestar import Controller, MediaType, Request, Response, get
from litestar.exceptions import HTTPException
from litestar.params import FromPath, FromQuery
from litestar.status_codes import HTTP_406_NOT_ACCEPTABLE

from slipstream.api.auth.guards import can_read
from slipstream.api.context import ApiContext
from slipstream.api.public.common import (
    ANY,
    Ctx,
    Limit,
    Offset,
    OrderBy,
    as_uuid,
    call_store,
    get_dag_or_404,
    or_404,
    paging,
    path_int,
)
from slipstream.api.public.dags import BUNDLE_NAME
from slipstream.metadata.records import DagVersion

VERSION_ORDER = {
    "id": "id",
    "version_number": "version_number",
    "dag_id": "dag_id",
    "created_at": "created_at",
    # One bundle, unversioned: ordering by it keeps the id order.
    "bundle_name": "id",
    "bundle_version": "id",
}


@attrs.frozen(kw_only=True)
class DagVersionResponse:
    id: str
    version_number: int
    dag_id: str
    bundle_name: str | None
    bundle_version: str | None
    created_at: datetime
    dag_display_name: str
    bundle_url: str | None
    # slipstream's addition: the hash of the serialized DAG that makes this version.
    content_hash: str | None = None


@attrs.frozen(kw_only=True)
class DAGVersionCollectionResponse:
    dag_versions: list[DagVersionResponse]
    total_entries: int


@attrs.frozen(kw_only=True)
class DAGSourceResponse:
    content: str | None
    dag_id: str
    version_number: int | None
    dag_display_name: str


def version_response(
    version: DagVersion, record: type[DagVersionResponse] = DagVersionResponse
) -> DagVersionResponse:
    """``record``: the class to build (task instances have a subclass of their own)."""
    return record(
        id=as_uuid(version.id),
        version_number=version.version_number,
        dag_id=version.dag_id,
        bundle_name=BUNDLE_NAME,
        bundle_version=None,
        created_at=version.created_at,
        dag_display_name=version.dag_id,
        bundle_url=None,
        content_hash=version.content_hash,
    )


class VersionCache:
    """Versions by stored id, each read once per request (many runs share one);
    ``record``: the response class to build, as in :func:`version_response`."""

    def __init__(
        self, ctx: ApiContext, record: type[DagVersionResponse] = DagVersionResponse
    ) -> None:
        self._ctx = ctx
        self._record = record
        self._found: dict[int, DagVersion | None] = {}

    def get(self, version_id: int | None) -> DagVersion | None:
        if version_id is None:
            return None
        if version_id not in self._found:
            self._found[version_id] = self._ctx.store.get_dag_version_by_id(version_id)
        return self._found[version_id]

    def response(self, version_id: int | None) -> DagVersionResponse | None:
        version = self.get(version_id)
        return version_response(version, self._record) if version is not None else None


class DagVersionController(Controller):
    path = "/dags/{dag_id:str}/dagVersions"
    tags = ["DagVersion"]

    @get("/", guards=[can_read], sync_to_thread=True)
    def get_dag_versions(
        self,
        ctx: Ctx,
        dag_id: FromPath[str],
        limit: Limit = 50,
        offset: Offset = 0,
        version_number: FromQuery[int | None] = None,
        bundle_name: FromQuery[str | None] = None,
        bundle_version: FromQuery[str | None] = None,
        order_by: OrderBy = None,
    ) -> DAGVersionCollectionResponse:
        """The versions of one DAG, or of every DAG with ``~`` as the DAG id."""
        if dag_id != ANY:
            get_dag_or_404(ctx, dag_id)
        if (bundle_name is not None and bundle_name != BUNDLE_NAME) or bundle_version:
            return DAGVersionCollectionResponse(dag_versions=[], total_entries=0)
        page = call_store(
            ctx.store.find_dag_versions,
            dag_ids=[] if dag_id == ANY else [dag_id],
            version_number=version_number,
            **paging(limit, offset, order_by, "id", VERSION_ORDER),
        )
        return DAGVersionCollectionResponse(
            dag_versions=[version_response(v) for v in page.items], total_entries=page.total
        )

    @get("/{version_number:str}", guards=[can_read], sync_to_thread=True)
    def get_dag_version(
        self, ctx: Ctx, dag_id: FromPath[str], version_number: FromPath[str]
    ) -> DagVersionResponse:
        version = or_404(
            ctx.store.get_dag_version(dag_id, path_int(version_number, "version_number")),
            f"The DagVersion with dag_id: `{dag_id}` and version_number: "
            f"`{version_number}` was not found",
        )
        return version_response(version)


class DagSourceController(Controller):
    path = "/dagSources"
    tags = ["DagSource"]

    @get("/{dag_id:str}", guards=[can_read], sync_to_thread=True)
    def get_dag_source(
        self,
        ctx: Ctx,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        version_number: FromQuery[int | None] = None,
    ) -> DAGSourceResponse:
        """The DAG file's code as it was parsed for a version (the latest by default);
        ``Accept: text/plain`` gives the bare code."""
        media = request.accept.best_match([MediaType.JSON, MediaType.TEXT])
        if media is None:
            raise HTTPException(
                status_code=HTTP_406_NOT_ACCEPTABLE,
                detail="Only application/json or text/plain is supported",
            )
        version = or_404(
            ctx.store.get_dag_version(dag_id, version_number),
            f"The source code of the DAG {dag_id}, version_number {version_number} was not found",
        )
        source = DAGSourceResponse(
            content=version.source_code,
            dag_id=dag_id,
            version_number=version.version_number,
            dag_display_name=dag_id,
        )
        if media == MediaType.TEXT:
            # Airflow's handler returns a bare text response here; so does this one.
            text: Any = Response(source.content or "", media_type=MediaType.TEXT)
            return text  # type: ignore[no-any-return]
        return source
