"""Marking a whole dag run success, failed or queued by hand (API, UI): one place for
the rules, which are Airflow's (``set_dag_run_state_to_success/failed/queued``).

- success: the run, and every task instance of it that is not already successful
  (failed and skipped ones too, as in Airflow), become ``success``;
- failed: the run fails; tries in flight (``running``, ``up_for_reschedule``) become
  ``failed`` and every other unfinished task instance ``skipped``; finished ones stay;
- queued: only the run changes; the scheduler starts it again.

``removed`` task instances never change. A running try whose state was changed
here notices it at its next heartbeat.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from slipstream.errors import NotFoundError
from slipstream.metadata.base import MetadataStore
from slipstream.metadata.records import TaskInstance, TaskInstanceUpdate
from slipstream.state import FINISHED_TI_STATES, DagRunState
from slipstream.state import TaskInstanceState as TIS

if TYPE_CHECKING:
    from slipstream.plugins.manager import PluginManager

# Tries that are doing work: marking the run failed fails them instead of skipping them.
_IN_FLIGHT = frozenset({TIS.RUNNING, TIS.UP_FOR_RESCHEDULE})


def _target(ti: TaskInstance, state: DagRunState) -> TIS | None:
    """What marking the run ``state`` makes of ``ti`` (None: it stays as it is)."""
    if ti.state == TIS.REMOVED:
        return None
    if state == DagRunState.SUCCESS:
        return None if ti.state == TIS.SUCCESS else TIS.SUCCESS
    if state == DagRunState.FAILED:
        if ti.state in _IN_FLIGHT:
            return TIS.FAILED
        return None if ti.state in FINISHED_TI_STATES else TIS.SKIPPED
    return None


def mark_dag_run(
    store: MetadataStore,
    dag_id: str,
    run_id: str,
    state: DagRunState,
    *,
    plugins: PluginManager | None = None,
    dry_run: bool = False,
) -> list[TaskInstance]:
    """Set a run's state by hand, with its task instances as Airflow does; returns the
    task instances changed (as they were before), or with ``dry_run`` those that would
    be, changing nothing. Listeners hear ``on_dag_run_success``/``on_dag_run_failed``.
    """
    if state == DagRunState.RUNNING:
        raise ValueError("a run can be marked success, failed or queued, not running")
    run = store.get_dag_run(dag_id, run_id)
    if run is None:
        raise NotFoundError(f"DAG {dag_id!r} has no run {run_id!r}")
    tis = store.list_task_instances(dag_ids=[dag_id], run_ids=[run_id], limit=None).items
    changes = [(ti, target) for ti in tis if (target := _target(ti, state)) is not None]
    if dry_run:
        return [ti for ti, _ in changes]
    # The run first: once it is finished the scheduler leaves it (and its task
    # instances) alone, so it cannot end the run itself in between.
    store.set_dag_run_state(dag_id, run_id, state)
    now = datetime.now(UTC)
    updates = []
    for ti, target in changes:
        started = ti.start_date or now
        updates.append(
            TaskInstanceUpdate(
                ti_id=ti.id,
                state=target,
                expected_state=ti.state,
                by_user=True,
                fields={
                    "start_date": started,
                    "end_date": now,
                    "duration": (now - started).total_seconds(),
                    "next_retry_at": None,
                    "reschedule_at": None,
                },
            )
        )
    applied = store.update_task_instances(updates) if updates else []
    if plugins is not None and state.finished:
        marked = store.get_dag_run(dag_id, run_id) or run
        event = "on_dag_run_success" if state == DagRunState.SUCCESS else "on_dag_run_failed"
        plugins.notify(event, dag_run=marked, msg=f"marked {state.value} by hand")
    # A task instance that changed meanwhile (compare-and-set lost) was left alone.
    return [ti for (ti, _), done in zip(changes, applied, strict=True) if done]
