"""``/api/v2/importErrors``: DAG files that failed to import, with their tracebacks.

slipstream's roles cover every DAG, so no stack trace is ever redacted (Airflow
redacts those of files holding DAGs the caller may not read).
"""

from __future__ import annotations

from datetime import datetime

import attrs
from litestar import Controller, get
from litestar.params import FromPath

from slipstream.api.auth.guards import can_read
from slipstream.api.public.common import (
    Ctx,
    Limit,
    Offset,
    OrderBy,
    call_store,
    or_404,
    paging,
    path_int,
)
from slipstream.api.public.dags import BUNDLE_NAME
from slipstream.metadata.records import DagImportError

IMPORT_ERROR_ORDER = {
    "id": "id",
    "import_error_id": "id",
    "timestamp": "timestamp",
    "filename": "filename",
    "bundle_name": "id",  # one bundle: its order is the id order
}


@attrs.frozen(kw_only=True)
class ImportErrorResponse:
    import_error_id: int
    timestamp: datetime
    filename: str
    bundle_name: str | None
    stack_trace: str


@attrs.frozen(kw_only=True)
class ImportErrorCollectionResponse:
    import_errors: list[ImportErrorResponse]
    total_entries: int


def import_error_response(error: DagImportError) -> ImportErrorResponse:
    return ImportErrorResponse(
        import_error_id=error.id,
        timestamp=error.timestamp,
        filename=error.filename,
        bundle_name=BUNDLE_NAME,
        stack_trace=error.stacktrace,
    )


class ImportErrorController(Controller):
    path = "/importErrors"
    tags = ["Import Error"]

    @get("/", guards=[can_read], sync_to_thread=True)
    def get_import_errors(
        self, ctx: Ctx, limit: Limit = 50, offset: Offset = 0, order_by: OrderBy = None
    ) -> ImportErrorCollectionResponse:
        page = call_store(
            ctx.store.list_import_errors,
            **paging(limit, offset, order_by, "id", IMPORT_ERROR_ORDER),
        )
        return ImportErrorCollectionResponse(
            import_errors=[import_error_response(e) for e in page.items], total_entries=page.total
        )

    @get("/{import_error_id:str}", guards=[can_read], sync_to_thread=True)
    def get_import_error(self, ctx: Ctx, import_error_id: FromPath[str]) -> ImportErrorResponse:
        error = or_404(
            ctx.store.get_import_error(path_int(import_error_id, "import_error_id")),
            f"The ImportError with import_error_id: `{import_error_id}` was not found",
        )
        return import_error_response(error)
