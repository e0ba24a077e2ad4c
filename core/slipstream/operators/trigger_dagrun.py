"""``TriggerDagRunOperator``: start a run of another DAG, and optionally wait for it.

Arguments are Airflow's. The run is created through the task's client (the
store, or the API for a remote worker), so it works wherever the task runs. The
triggered run id is the XCom (``return_value`` and, as in Airflow,
``trigger_run_id``; its logical date is ``trigger_logical_date_iso``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from slipstream.exceptions import (
    DagDefinitionError,
    DagRunAlreadyExists,
    SkipTask,
    SlipstreamException,
)
from slipstream.execution.client import TaskClient, current_client
from slipstream.models.baseoperator import BaseOperator, as_timedelta
from slipstream.operators._common import check_type, is_templated_value
from slipstream.state import DagRunState
from slipstream.timetables import as_utc

XCOM_RUN_ID = "trigger_run_id"
XCOM_LOGICAL_DATE_ISO = "trigger_logical_date_iso"


class _NotSet:
    def __repr__(self) -> str:
        return "NOTSET"


#: ``logical_date`` left out: the run's logical date is the moment of triggering.
NOTSET: Any = _NotSet()


def _parse_date(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return as_utc(value) if value is not None else None
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        return as_utc(parsed)
    raise TypeError(f"logical_date must be a datetime or an ISO 8601 string, got {value!r}")


def _states(value: Sequence[str] | None, default: Sequence[str], name: str) -> list[str]:
    if value is None:
        return list(default)
    if isinstance(value, str) or not all(isinstance(s, str) for s in value):
        raise DagDefinitionError(f"{name} must be a list of dag run states, got {value!r}")
    known = {s.value for s in DagRunState}
    unknown = [s for s in value if str(s) not in known]
    if unknown:
        raise DagDefinitionError(
            f"{name}: {', '.join(map(repr, unknown))} are not dag run states "
            f"({', '.join(sorted(known))})"
        )
    return [str(s) for s in value]


class TriggerDagRunOperator(BaseOperator):
    """Triggers a run of ``trigger_dag_id`` with ``conf``.

    If a run with that id already exists the task fails, unless ``reset_dag_run``
    (the run is cleared to run again) or ``skip_when_already_exists`` (the task is
    skipped). With ``wait_for_completion`` the task polls the run every
    ``poke_interval`` seconds and fails if it ends in one of ``failed_states``.
    """

    template_fields: Sequence[str] = ("trigger_dag_id", "trigger_run_id", "logical_date", "conf")
    template_fields_renderers = {"conf": "py"}
    ui_color = "#ffefeb"

    def __init__(
        self,
        *,
        trigger_dag_id: str,
        trigger_run_id: str | None = None,
        conf: Mapping[str, Any] | None = None,
        logical_date: str | datetime | None = NOTSET,
        reset_dag_run: bool = False,
        wait_for_completion: bool = False,
        poke_interval: float | timedelta = 60,
        allowed_states: Sequence[str] | None = None,
        failed_states: Sequence[str] | None = None,
        skip_when_already_exists: bool = False,
        **kwargs: Any,
    ) -> None:
        owner = f"{type(self).__name__} {kwargs.get('task_id')!r}"
        dag_id: Any = trigger_dag_id
        if not isinstance(dag_id, str) and not is_templated_value(dag_id):
            raise DagDefinitionError(f"{owner}: trigger_dag_id must be a string")
        check_type(owner, "trigger_run_id", trigger_run_id, str)
        check_type(owner, "conf", conf, Mapping)
        if logical_date is not NOTSET:
            check_type(owner, "logical_date", logical_date, (str, datetime))
            if isinstance(logical_date, str) and "{{" not in logical_date:
                try:
                    _parse_date(logical_date)
                except ValueError:
                    raise DagDefinitionError(
                        f"{owner}: logical_date {logical_date!r} is not an ISO 8601 date"
                    ) from None
        interval = as_timedelta(poke_interval, "poke_interval")
        assert interval is not None
        allowed = _states(allowed_states or None, [DagRunState.SUCCESS], "allowed_states")
        # Waiting for a failure is allowed: then failure is not also a reason to fail.
        failed = _states(
            failed_states,
            [] if DagRunState.FAILED in allowed else [DagRunState.FAILED],
            "failed_states",
        )
        overlap = set(allowed) & set(failed)
        if overlap:
            raise DagDefinitionError(
                f"{owner}: {', '.join(sorted(overlap))} is in both allowed_states and failed_states"
            )
        super().__init__(**kwargs)
        self.trigger_dag_id = trigger_dag_id
        self.trigger_run_id = trigger_run_id
        self.conf = dict(conf) if conf is not None else None
        self.logical_date = logical_date
        self.reset_dag_run = reset_dag_run
        self.wait_for_completion = wait_for_completion
        self.poke_interval = interval
        self.allowed_states = allowed
        self.failed_states = failed
        self.skip_when_already_exists = skip_when_already_exists

    def execute(self, context: Mapping[str, Any]) -> str:
        client = current_client()
        if client is None:
            raise SlipstreamException("TriggerDagRunOperator runs only inside a task")
        if self.logical_date is NOTSET:
            logical_date: datetime | None = datetime.now(UTC)
        else:
            try:
                logical_date = _parse_date(self.logical_date)
            except ValueError:
                raise SlipstreamException(
                    f"logical_date {self.logical_date!r} is not an ISO 8601 date"
                ) from None
        run_id = self.trigger_run_id or (
            f"manual__{(logical_date or datetime.now(UTC)).isoformat()}"
        )
        if self.conf is not None:
            _check_json(self.conf)
        try:
            run_id = client.trigger_dag_run(
                dag_id=self.trigger_dag_id,
                run_id=run_id,
                conf=self.conf,
                logical_date=logical_date,
                reset_dag_run=self.reset_dag_run,
            )
        except DagRunAlreadyExists as exc:
            if self.skip_when_already_exists:
                raise SkipTask(
                    f"run {run_id!r} of DAG {self.trigger_dag_id!r} already exists: skipping"
                ) from None
            raise SlipstreamException(
                f"cannot trigger DAG {self.trigger_dag_id!r}: {exc} "
                f"(set reset_dag_run=True to run it again)"
            ) from None
        self.log.info("Triggered DAG %s: run %s", self.trigger_dag_id, run_id)
        ti = context["ti"]
        ti.xcom_push(XCOM_RUN_ID, run_id)
        if logical_date is not None:
            ti.xcom_push(XCOM_LOGICAL_DATE_ISO, logical_date.isoformat())
        if self.wait_for_completion:
            self._wait(client, run_id)
        return run_id

    def _wait(self, client: TaskClient, run_id: str) -> None:
        while True:
            time.sleep(self.poke_interval.total_seconds())
            state = client.get_dag_run_state(dag_id=self.trigger_dag_id, run_id=run_id)
            self.log.info("Waiting for DAG %s run %s: %s", self.trigger_dag_id, run_id, state)
            if state is None:
                raise SlipstreamException(
                    f"DAG {self.trigger_dag_id!r} run {run_id!r} no longer exists"
                )
            if state in self.failed_states:
                raise SlipstreamException(
                    f"DAG {self.trigger_dag_id!r} run {run_id!r} ended in state {state!r}"
                )
            if state in self.allowed_states:
                self.log.info("DAG %s run %s is %s", self.trigger_dag_id, run_id, state)
                return


def _check_json(conf: Mapping[str, Any]) -> None:
    import json

    try:
        json.dumps(conf)
    except (TypeError, ValueError) as exc:
        raise SlipstreamException(f"conf must be JSON-serializable: {exc}") from None
