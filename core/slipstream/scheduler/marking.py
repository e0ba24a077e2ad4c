"""Marking task instances and runs success or failed by hand (UI, API, CLI): one place
for the rules, next to clearing.

Marking a task instance sets its state (and, with the options, that of its upstream or
downstream tasks in the same run) as if it had ended that way; a finished run it belongs
to is queued again so that the scheduler decides the run's state anew. Marking a run
ends it: success marks every unfinished task instance success; failed fails the running
ones and skips those that had not started.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

import attrs

from slipstream.errors import NotFoundError, SlipstreamError
from slipstream.metadata.base import MetadataStore
from slipstream.metadata.records import DagRun, TaskInstance, TaskInstanceUpdate
from slipstream.scheduler.clearing import _relatives
from slipstream.serialized_dag import deserialize_dag
from slipstream.state import DagRunState
from slipstream.state import TaskInstanceState as TIS

MARKABLE = (TIS.SUCCESS, TIS.FAILED)


class MarkError(SlipstreamError):
    """The marking asked for is not possible (nothing was changed)."""


@attrs.frozen
class MarkResult:
    changed: tuple[TaskInstance, ...]  # as they were before the change
    run: DagRun


def _run_or_404(store: MetadataStore, dag_id: str, run_id: str) -> DagRun:
    run = store.get_dag_run(dag_id, run_id)
    if run is None:
        raise NotFoundError(f"no run {run_id!r} of DAG {dag_id!r}")
    return run


def _check_state(state: TIS | DagRunState | str) -> TIS:
    try:
        wanted = TIS(str(state))
    except ValueError:
        wanted = None
    if wanted not in MARKABLE:
        raise MarkError(f"can only mark success or failed, not {state!r}")
    return wanted


def mark_task_instances(
    store: MetadataStore,
    dag_id: str,
    run_id: str,
    task_ids: Collection[str],
    state: TIS | str,
    *,
    map_indexes: Collection[int] = (),
    include_upstream: bool = False,
    include_downstream: bool = False,
    dry_run: bool = False,
) -> MarkResult:
    """Set ``task_ids`` (and their relatives in the run's DAG) to ``state`` in one run.

    Task instances already in that state are left alone. With ``map_indexes``, only
    those map indexes of the named tasks (relatives are marked whole).
    """
    wanted = _check_state(state)
    run = _run_or_404(store, dag_id, run_id)
    version = (
        store.get_dag_version_by_id(run.dag_version_id) if run.dag_version_id else None
    ) or store.get_dag_version(dag_id)
    if version is None:
        raise NotFoundError(f"DAG {dag_id!r} not found")
    sdag = deserialize_dag(version.serialized)
    unknown = set(task_ids) - set(sdag.tasks)
    if unknown:
        raise NotFoundError(f"DAG {dag_id!r} has no task {', '.join(sorted(unknown))}")
    named = set(task_ids)
    selected = set(named)
    if include_downstream:
        selected |= _relatives(sdag, named, downstream=True)
    if include_upstream:
        selected |= _relatives(sdag, named, downstream=False)
    tis = [
        ti
        for ti in store.list_task_instances(dag_ids=[dag_id], run_ids=[run_id], limit=None).items
        if ti.task_id in selected
        and ti.state not in (wanted, TIS.REMOVED)
        and not (map_indexes and ti.task_id in named and ti.map_index not in map_indexes)
    ]
    if dry_run or not tis:
        return MarkResult(tuple(tis), run)
    now = datetime.now(UTC)
    store.update_task_instances(
        [
            TaskInstanceUpdate(
                ti_id=ti.id,
                state=wanted,
                expected_state=ti.state,
                by_user=True,
                fields={"end_date": now, "next_retry_at": None, "reschedule_at": None},
            )
            for ti in tis
        ]
    )
    if run.state.finished:
        # Let the scheduler decide the run's state from its task instances again.
        store.set_dag_run_state(dag_id, run_id, DagRunState.QUEUED, expected_state=run.state)
    return MarkResult(tuple(tis), run)


def mark_dag_run(
    store: MetadataStore,
    dag_id: str,
    run_id: str,
    state: DagRunState | str,
    *,
    dry_run: bool = False,
) -> MarkResult:
    """End a run as ``state``: success marks every unfinished task instance success;
    failed fails the running (and queued) ones and skips the rest."""
    try:
        wanted = DagRunState(str(state))
    except ValueError:
        wanted = None
    if wanted not in (DagRunState.SUCCESS, DagRunState.FAILED):
        raise MarkError(f"can only mark a run success or failed, not {state!r}")
    run = _run_or_404(store, dag_id, run_id)
    unfinished = [
        ti
        for ti in store.list_task_instances(dag_ids=[dag_id], run_ids=[run_id], limit=None).items
        if ti.state.unfinished
    ]
    if dry_run:
        return MarkResult(tuple(unfinished), run)
    now = datetime.now(UTC)
    updates = []
    for ti in unfinished:
        if wanted == DagRunState.SUCCESS:
            new = TIS.SUCCESS
        else:
            new = TIS.FAILED if ti.state in (TIS.RUNNING, TIS.QUEUED) else TIS.SKIPPED
        updates.append(
            TaskInstanceUpdate(
                ti_id=ti.id,
                state=new,
                expected_state=ti.state,
                by_user=True,
                fields={"end_date": now, "next_retry_at": None, "reschedule_at": None},
            )
        )
    store.update_task_instances(updates)
    if run.state != wanted:
        store.set_dag_run_state(dag_id, run_id, wanted)
    final = store.get_dag_run(dag_id, run_id) or run
    return MarkResult(tuple(unfinished), final)
