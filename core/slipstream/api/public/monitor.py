"""``/api/v2/monitor/health`` (no authentication: load balancers call it), ``/api/v2/version``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs
from litestar import Router, get

from slipstream.api.auth.guards import can_read
from slipstream.api.public.common import Ctx
from slipstream.version import __version__


@attrs.frozen
class VersionInfo:
    version: str
    git_version: str | None = None


def _component(ctx: Ctx, kind: str, timeout: float) -> tuple[str | None, str | None]:
    jobs = ctx.store.list_jobs(kind=kind)
    if not jobs:
        return None, None
    latest = max(job.last_heartbeat_at for job in jobs)
    alive = ctx.store.list_jobs(kind=kind, alive_within=timedelta(seconds=timeout))
    return ("healthy" if alive else "unhealthy"), latest.isoformat()


@get("/monitor/health", exclude_from_auth=True, sync_to_thread=True, tags=["Monitor"])
def health(ctx: Ctx) -> dict[str, Any]:
    """Whether the metadata database answers and the scheduler and dag processor heartbeat."""
    try:
        ctx.store.list_jobs(kind="scheduler", alive_within=timedelta(seconds=1))
    except Exception:
        return {
            "metadatabase": {"status": "unhealthy"},
            "scheduler": {"status": None, "latest_scheduler_heartbeat": None},
            "triggerer": {"status": None, "latest_triggerer_heartbeat": None},
            "dag_processor": {"status": None, "latest_dag_processor_heartbeat": None},
        }
    timeout = float(ctx.config["scheduler.scheduler_heartbeat_timeout"])
    scheduler_status, scheduler_beat = _component(ctx, "scheduler", timeout)
    processor_status, processor_beat = _component(ctx, "dag_processor", timeout)
    return {
        "metadatabase": {"status": "healthy"},
        "scheduler": {"status": scheduler_status, "latest_scheduler_heartbeat": scheduler_beat},
        "triggerer": {"status": None, "latest_triggerer_heartbeat": None},
        "dag_processor": {
            "status": processor_status,
            "latest_dag_processor_heartbeat": processor_beat,
        },
    }


@get("/version", guards=[can_read], sync_to_thread=False, tags=["Version"])
def version() -> VersionInfo:
    return VersionInfo(version=__version__)


router = Router(path="/", route_handlers=[health, version])
