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
    data_interval: tuple[datetime, datetime] | None = None,
    run_after: datetime | None = None,
    without_logical_date: bool = False,
    note: str | None = None,
    triggering_user_name: str | None = None,
) -> DagRun:
    """Check ``conf`` against the DAG's params, then queue a run of the DAG's latest version.

    The run's logical date is ``logical_date``, or now; with ``without_logical_date``
    it has none (Airflow 3's ``logical_date: null``), and then no data interval unless
    one is given. A data interval not given is the timetable's: the one that starts at
    the logical date when one was given, the manual one ending now otherwise.
    ``run_after`` (default now) is when the run may start.
    """
    dag = store.get_dag(dag_id)
    version = store.get_dag_version(dag_id)
    if dag is None or version is None:
        raise NotFoundError(f"DAG {dag_id!r} not found (has the dag processor parsed it?)")
    if not dag.is_active:
        raise TriggerError(f"DAG {dag_id!r} is not active: its file no longer defines it")
    if conf is not None and not isinstance(conf, Mapping):
        raise TriggerError("conf must be a JSON object")
    if without_logical_date and logical_date is not None:
        raise TriggerError("a run without a logical date cannot be given one")
    for name, value in (
        ("logical_date", logical_date),
        ("run_after", run_after),
        ("data_interval_start", data_interval[0] if data_interval else None),
        ("data_interval_end", data_interval[1] if data_interval else None),
    ):
        if value is not None and value.tzinfo is None:
            raise TriggerError(f"{name} must have a time zone (or be UTC)")
    if data_interval is not None and data_interval[0] > data_interval[1]:
        raise TriggerError("data_interval_start is after data_interval_end")
    sdag = deserialize_dag(version.serialized)
    try:
        sdag.params.resolve(conf or {})
    except ParamValidationError as exc:
        raise TriggerError(f"invalid conf for DAG {dag_id!r}: {exc}") from None
    now = datetime.now(UTC)
    start_after = (run_after or now).astimezone(UTC)
    moment = None if without_logical_date else (logical_date or now).astimezone(UTC)
    interval: tuple[datetime, datetime] | None = data_interval
    if interval is None and moment is not None:
        inferred = (
            sdag.timetable.data_interval_for(moment)
            if logical_date is not None
            else sdag.timetable.infer_manual_data_interval(moment)
        )
        interval = (inferred.start, inferred.end)
    return store.create_dag_run(
        NewDagRun(
            dag_id=dag_id,
            run_id=run_id or f"{run_type.value}__{(moment or start_after).isoformat()}",
            run_type=run_type,
            state=state,
            logical_date=moment,
            data_interval_start=interval[0] if interval else None,
            data_interval_end=interval[1] if interval else None,
            run_after=start_after,
            conf=dict(conf or {}),
            dag_version_id=version.id,
            triggered_by=triggered_by,
            note=note,
            triggering_user_name=triggering_user_name,
        )
    )
