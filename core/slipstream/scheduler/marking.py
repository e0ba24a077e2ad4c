"""Marking by hand (API, UI): one place for the rules, which are Airflow's.

Task instances (``mark_task_instances``, Airflow's "mark success / mark failed"): a mark
changes only task instances not already in the new state; ``upstream`` and
``downstream`` add the task's relatives in the same runs, ``past`` and ``future`` the
same tasks in the DAG's earlier or later runs. After a mark, downstream task instances
that had failed (or were upstream_failed) are cleared so the run can go on, and a
finished run is queued again so that the scheduler decides its state anew. The state
machine (:mod:`slipstream.state`) allows these targets from any state because they are
user transitions; a running try learns at its next heartbeat that it was marked and
stops.

Whole runs (``mark_dag_run``, Airflow's ``set_dag_run_state_to_success/failed/queued``):

- success: the run, and every task instance of it that is not already successful
  (failed and skipped ones too, as in Airflow), become ``success``;
- failed: the run fails; tries in flight (``running``, ``up_for_reschedule``) become
  ``failed`` and every other unfinished task instance ``skipped``; finished ones stay;
- queued: only the run changes; the scheduler starts it again.

``removed`` task instances never change.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from slipstream.errors import NotFoundError
from slipstream.metadata.base import MetadataStore
from slipstream.metadata.records import DagRun, TaskInstance, TaskInstanceUpdate
from slipstream.scheduler.clearing import _relatives, clear_task_instances
from slipstream.serialized_dag import SerializedDag, deserialize_dag
from slipstream.state import FINISHED_TI_STATES, DagRunState
from slipstream.state import TaskInstanceState as TIS

if TYPE_CHECKING:
    from slipstream.plugins.manager import PluginManager

MARKABLE_STATES = frozenset({TIS.SUCCESS, TIS.FAILED, TIS.SKIPPED})


def _run_moment(run: DagRun) -> datetime:
    """Where a run stands among the DAG's runs for ``past``/``future``."""
    return run.logical_date or run.run_after


def run_dag(store: MetadataStore, run: DagRun) -> SerializedDag:
    """The DAG a run runs: its own version, else the DAG's latest."""
    version = (
        store.get_dag_version_by_id(run.dag_version_id) if run.dag_version_id else None
    ) or store.get_dag_version(run.dag_id)
    if version is None:
        raise NotFoundError(f"DAG {run.dag_id!r} has no stored version (parse it first)")
    return deserialize_dag(version.serialized)


def runs_around(store: MetadataStore, run: DagRun, *, past: bool, future: bool) -> list[DagRun]:
    """``run`` with, as asked, the DAG's runs before it and after it (by logical date,
    or by ``run_after`` for runs without one)."""
    if not (past or future):
        return [run]
    here = _run_moment(run)
    others = store.list_dag_runs(dag_ids=[run.dag_id], limit=None).items
    return [
        other
        for other in others
        if other.run_id == run.run_id
        or (past and _run_moment(other) < here)
        or (future and _run_moment(other) > here)
    ]


def mark_task_instances(
    store: MetadataStore,
    dag_id: str,
    run_id: str,
    task_id: str,
    state: TIS,
    *,
    map_index: int | None = None,
    upstream: bool = False,
    downstream: bool = False,
    past: bool = False,
    future: bool = False,
    dry_run: bool = False,
) -> tuple[TaskInstance, ...]:
    """Set ``state`` on the task instance (every map index when ``map_index`` is None)
    and the relatives asked for; returns the task instances changed, as they are now
    (with ``dry_run``: those that would change, as they are)."""
    if state not in MARKABLE_STATES:
        allowed = ", ".join(sorted(s.value for s in MARKABLE_STATES))
        raise ValueError(f"a task instance can be marked {allowed}, not {state.value}")
    run = store.get_dag_run(dag_id, run_id)
    if run is None:
        raise NotFoundError(f"no run {run_id!r} of DAG {dag_id!r}")
    sdag = run_dag(store, run)
    if task_id not in sdag.tasks:
        raise NotFoundError(f"DAG {dag_id!r} has no task {task_id!r} in run {run_id!r}")
    task_ids = {task_id}
    if upstream:
        task_ids |= _relatives(sdag, {task_id}, downstream=False)
    if downstream:
        task_ids |= _relatives(sdag, {task_id}, downstream=True)
    runs = runs_around(store, run, past=past, future=future)
    targets = [
        ti
        for r in runs
        for ti in store.list_task_instances(
            dag_ids=[dag_id], run_ids=[r.run_id], task_ids=sorted(task_ids), limit=None
        ).items
        if ti.state not in (state, TIS.REMOVED)
        and (ti.task_id != task_id or map_index is None or ti.map_index == map_index)
    ]
    if dry_run or not targets:
        return tuple(targets)
    now = datetime.now(UTC)
    applied = store.update_task_instances(
        [
            TaskInstanceUpdate(
                ti_id=ti.id,
                state=state,
                expected_state=ti.state,
                by_user=True,
                fields={"start_date": ti.start_date or now, "end_date": ti.end_date or now},
            )
            for ti in targets
        ]
    )
    changed = [ti for ti, done in zip(targets, applied, strict=True) if done]
    _resume_downstream(store, sdag, dag_id, changed)
    for r in runs:
        if r.state.finished and any(ti.run_id == r.run_id for ti in changed):
            # Let the scheduler decide the run's state from its task instances again.
            store.set_dag_run_state(dag_id, r.run_id, DagRunState.QUEUED, expected_state=r.state)
    return tuple(store.get_task_instances_by_id([ti.id for ti in changed]))


def _resume_downstream(
    store: MetadataStore, sdag: SerializedDag, dag_id: str, changed: Collection[TaskInstance]
) -> None:
    """Clear failed and upstream_failed task instances downstream of the marked ones,
    in the runs they belong to, so the scheduler evaluates them again."""
    marked = {ti.task_id for ti in changed}
    below = _relatives(sdag, marked, downstream=True) - marked
    run_ids = sorted({ti.run_id for ti in changed})
    if below and run_ids:
        clear_task_instances(
            store, dag_id, run_ids=run_ids, task_ids=sorted(below), only_failed=True
        )


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
