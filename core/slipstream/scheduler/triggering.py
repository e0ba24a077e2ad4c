"""Creating a dag run by hand (CLI, API, TriggerDagRunOperator, embedding): one place,
one set of checks."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from slipstream.errors import NotFoundError, SlipstreamError
from slipstream.exceptions import ParamValidationError
from slipstream.metadata.base import MetadataStore
from slipstream.metadata.records import DagRun, NewDagRun
from slipstream.serialized_dag import deserialize_dag
from slipstream.state import DagRunState, DagRunType


class TriggerError(SlipstreamError):
    """The run could not be created: bad conf, unknown DAG, ... (nothing was written)."""


def trigger_dag_run(
    store: MetadataStore,
    dag_id: str,
    *,
    conf: Mapping[str, Any] | None = None,
    logical_date: datetime | None = None,
    run_id: str | None = None,
    triggered_by: str = "cli",
    run_type: DagRunType = DagRunType.MANUAL,
    state: DagRunState = DagRunState.QUEUED,
) -> DagRun:
    """Check ``conf`` against the DAG's params, then queue a run of the DAG's latest version."""
    dag = store.get_dag(dag_id)
    version = store.get_dag_version(dag_id)
    if dag is None or version is None:
        raise NotFoundError(f"DAG {dag_id!r} not found (has the dag processor parsed it?)")
    if not dag.is_active:
        raise TriggerError(f"DAG {dag_id!r} is not active: its file no longer defines it")
    if conf is not None and not isinstance(conf, Mapping):
        raise TriggerError("conf must be a JSON object")
    sdag = deserialize_dag(version.serialized)
    try:
        sdag.params.resolve(conf or {})
    except ParamValidationError as exc:
        raise TriggerError(f"invalid conf for DAG {dag_id!r}: {exc}") from None
    now = datetime.now(UTC)
    if logical_date is not None and logical_date.tzinfo is None:
        raise TriggerError("logical_date must have a time zone (or be UTC)")
    moment = logical_date or now
    interval = (
        sdag.timetable.data_interval_for(moment)
        if logical_date is not None
        else sdag.timetable.infer_manual_data_interval(moment)
    )
    return store.create_dag_run(
        NewDagRun(
            dag_id=dag_id,
            run_id=run_id or f"{run_type.value}__{moment.isoformat()}",
            run_type=run_type,
            state=state,
            logical_date=moment,
            data_interval_start=interval.start,
            data_interval_end=interval.end,
            run_after=now,
            conf=dict(conf or {}),
            dag_version_id=version.id,
            triggered_by=triggered_by,
        )
    )
