"""``GET .../taskInstances/{task_id}/logs/{try_number}``: one try's log, whole or tailed.

The log file is the one the worker writes (:func:`slipstream.execution.logs.log_path`).
Each answer carries a ``continuation_token``: sent back with ``full_content=false``, it
returns only what was written since. While the try runs, an unfinished last line is
held back until it is complete, so a tailing client never sees half a line.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

import attrs
from litestar import Request, Response, get
from litestar.enums import MediaType
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery
from litestar.status_codes import HTTP_400_BAD_REQUEST

from slipstream.api.auth.guards import can_read
from slipstream.api.context import ApiContext
from slipstream.api.public.common import Ctx, MapIndexQuery, TryNumberPath
from slipstream.api.public.task_instances import TaskInstanceController, get_ti_or_404
from slipstream.execution.logs import LOG_MAY_GROW, read_log_chunk, try_log_path
from slipstream.metadata.records import TaskInstance
from slipstream.state import TaskInstanceState as TIS

NDJSON = "application/x-ndjson"


@attrs.frozen(kw_only=True)
class StructuredLogMessage:
    event: str


@attrs.frozen(kw_only=True)
class TaskInstancesLogResponse:
    content: list[StructuredLogMessage]
    continuation_token: str | None


def encode_token(offset: int) -> str:
    raw = json.dumps({"offset": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        offset = data["offset"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        offset = None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise HTTPException(
            status_code=HTTP_400_BAD_REQUEST,
            detail="Bad continuation token: send back only a token this API returned",
        )
    return offset


def _missing(ti: TaskInstance, try_number: int, path: Path, base: Path) -> str:
    if try_number < 1 or try_number > ti.try_number:
        return (
            f"*** Try {try_number} has not started: the task instance is at try "
            f"{ti.try_number} ({'no state' if ti.state == TIS.NONE else ti.state.value})"
        )
    if ti.try_number == try_number and ti.state in LOG_MAY_GROW:
        return f"*** The log of try {try_number} is not written yet; its task is {ti.state.value}"
    return (
        f"*** No log file for try {try_number} at {path.relative_to(base)} in the log folder "
        "(removed, or written on another machine)"
    )


def task_log(
    ctx: ApiContext, ti: TaskInstance, try_number: int, offset: int
) -> TaskInstancesLogResponse:
    base = Path(ctx.config["logging.base_log_folder"])
    path = try_log_path(base, ti.ref, try_number)
    writing = ti.try_number == try_number and ti.state in LOG_MAY_GROW
    try:
        start = offset if offset <= path.stat().st_size else 0  # 0: the file was replaced
        text, next_offset = read_log_chunk(path, start, None, whole_lines=writing)
    except FileNotFoundError:
        message = _missing(ti, try_number, path, base) if offset == 0 else None
        content = [StructuredLogMessage(event=message)] if message else []
        return TaskInstancesLogResponse(content=content, continuation_token=encode_token(0))
    except OSError as exc:
        detail = exc.strerror or str(exc)
        return TaskInstancesLogResponse(
            content=[StructuredLogMessage(event=f"*** Cannot read the log file: {detail}")],
            continuation_token=encode_token(offset),
        )
    return TaskInstancesLogResponse(
        content=[StructuredLogMessage(event=line) for line in text.splitlines()],
        continuation_token=encode_token(next_offset),
    )


@get(
    f"{TaskInstanceController.path}/{{task_id:str}}/logs/{{try_number:int}}",
    guards=[can_read],
    sync_to_thread=True,
    tags=["Task Instance"],
    responses={
        200: ResponseSpec(
            data_container=TaskInstancesLogResponse,
            description="The log lines, and a token to read what is written next",
        )
    },
)
def get_log(
    ctx: Ctx,
    request: Request[Any, Any, Any],
    dag_id: FromPath[str],
    dag_run_id: FromPath[str],
    task_id: FromPath[str],
    try_number: TryNumberPath,
    full_content: FromQuery[bool] = False,
    map_index: MapIndexQuery = -1,
    token: FromQuery[str | None] = None,
) -> Response[Any]:
    """One try's log. ``Accept: text/plain`` gives the text, ``application/x-ndjson``
    one JSON object per line; otherwise JSON with ``content`` and ``continuation_token``.
    With ``full_content=false`` and a ``token``, only what was written since."""
    offset = 0 if full_content or token is None else decode_token(token)
    ti = get_ti_or_404(ctx, dag_id, dag_run_id, task_id, map_index)
    log = task_log(ctx, ti, try_number, offset)
    kind = request.accept.best_match(
        [MediaType.JSON.value, MediaType.TEXT.value, NDJSON], default=MediaType.JSON.value
    )
    if kind == MediaType.TEXT.value:
        text = "".join(f"{m.event}\n" for m in log.content)
        return Response(text, media_type=MediaType.TEXT)
    if kind == NDJSON:
        lines = "".join(json.dumps({"event": m.event}) + "\n" for m in log.content)
        return Response(lines, media_type=NDJSON)
    return Response(log, media_type=MediaType.JSON)
