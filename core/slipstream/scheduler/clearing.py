"""Clearing task instances so they run again (CLI, API, UI): one place for the rules."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

import attrs

from slipstream.errors import NotFoundError
from slipstream.metadata.base import MetadataStore
from slipstream.metadata.records import (
    DagRun,
    DagVersion,
    NewTaskInstance,
    TaskInstance,
    TaskInstanceUpdate,
)
from slipstream.scheduler.runs import new_task_instance
from slipstream.serialized_dag import SerializedDag, SerializedTask, deserialize_dag
from slipstream.state import DagRunState
from slipstream.state import TaskInstanceState as TIS


@attrs.frozen
class ClearResult:
    """What a clear reset (or, with ``dry_run``, would reset).

    ``added`` and ``removed`` are filled only when clearing moves runs to the DAG's
    latest version: ``added`` names, as ``(run_id, task_id)``, the tasks of that
    version a run lacked (they get task instances and run); ``removed`` holds the
    task instances whose task that version no longer has (they become ``removed``).
    """

    cleared: tuple[TaskInstance, ...]
    runs: tuple[DagRun, ...]
    added: tuple[tuple[str, str], ...] = ()
    removed: tuple[TaskInstance, ...] = ()


@attrs.frozen
class _Switch:
    """How one run's task instances change when it moves to another version."""

    create: tuple[SerializedTask, ...]  # tasks without any task instance in the run
    restore: tuple[TaskInstance, ...]  # ``removed`` ones whose task is back
    remove: tuple[TaskInstance, ...]  # ones whose task (or map index) the version lacks


# A try in flight keeps its task instance: it ends on its own, and the run with it.
_IN_FLIGHT = frozenset({TIS.RUNNING, TIS.RESTARTING})


def _relatives(sdag: SerializedDag, task_ids: set[str], *, downstream: bool) -> set[str]:
    found = set(task_ids)
    frontier = list(task_ids)
    while frontier:
        task = sdag.tasks.get(frontier.pop())
        if task is None:
            continue
        for other in task.downstream if downstream else task.upstream:
            if other not in found:
                found.add(other)
                frontier.append(other)
    return found


def _switch(sdag: SerializedDag, tis: Collection[TaskInstance]) -> _Switch:
    """Airflow's ``verify_integrity``: the run's task instances against ``sdag``."""
    having = {ti.task_id for ti in tis if ti.state != TIS.REMOVED}
    restore: list[TaskInstance] = []
    remove: list[TaskInstance] = []
    for ti in tis:
        task = sdag.tasks.get(ti.task_id)
        if task is None or (ti.map_index >= 0 and not task.is_mapped):
            if ti.state not in _IN_FLIGHT and ti.state != TIS.REMOVED:
                remove.append(ti)
        elif (
            ti.state == TIS.REMOVED
            and ti.map_index < 0
            and not task.is_mapped
            and ti.task_id not in having
        ):
            restore.append(ti)
            having.add(ti.task_id)
    known = {ti.task_id for ti in tis}
    create = tuple(task for task in sdag.tasks.values() if task.task_id not in known)
    return _Switch(create, tuple(restore), tuple(remove))


def _task_fields(task: SerializedTask) -> dict[str, Any]:
    """The scheduling settings a task instance copies from its task."""
    return {
        "pool": task.pool,
        "pool_slots": int(task.pool_slots),
        "queue": task.queue,
        "priority_weight": int(task.priority_weight_total),
        "operator": task.custom_operator_name or task.operator,
    }


def clear_task_instances(
    store: MetadataStore,
    dag_id: str,
    *,
    run_ids: Collection[str] = (),
    start: datetime | None = None,
    end: datetime | None = None,
    task_regex: str | None = None,
    task_ids: Collection[str] = (),
    include_downstream: bool = False,
    include_upstream: bool = False,
    only_failed: bool = False,
    only_running: bool = False,
    map_indexes: Mapping[str, Collection[int]] | None = None,
    use_latest_version: bool = False,
    dry_run: bool = False,
) -> ClearResult:
    """Reset matching task instances to run again, and queue their finished runs again.

    Their XComs are dropped and their retries renewed; a running try is marked
    ``restarting`` and runs again once it ends. ``map_indexes`` limits the tasks it
    names to those map indexes (the API's ``[task_id, map_index]`` pairs). They run
    again from their run's own DAG version; with ``use_latest_version``, each run they
    belong to moves to the DAG's latest version first (tasks are then matched against
    that version): tasks new in it get task instances, and task instances of tasks it
    dropped become ``removed`` (Airflow's "clear with latest version").
    """
    if store.get_dag(dag_id) is None:
        raise NotFoundError(f"DAG {dag_id!r} not found")
    latest: tuple[DagVersion, SerializedDag] | None = None
    if use_latest_version:
        version = store.get_dag_version(dag_id)
        if version is None:
            raise NotFoundError(f"DAG {dag_id!r} has no stored version yet (parse it first)")
        latest = (version, deserialize_dag(version.serialized))
    pattern = re.compile(task_regex) if task_regex else None
    runs = store.list_dag_runs(
        dag_ids=[dag_id], logical_date_gte=start, logical_date_lte=end, limit=None
    ).items
    if run_ids:
        wanted = set(run_ids)
        runs = tuple(r for r in runs if r.run_id in wanted)
        missing = wanted - {r.run_id for r in runs}
        if missing:
            raise NotFoundError(f"no run {', '.join(sorted(missing))} of DAG {dag_id!r}")
    cleared: list[TaskInstance] = []
    touched: list[DagRun] = []
    added: list[tuple[str, str]] = []
    removed: list[TaskInstance] = []
    for run in runs:
        if latest is not None:
            target_id: int | None = latest[0].id
            sdag = latest[1]
        else:
            version = (
                store.get_dag_version_by_id(run.dag_version_id) if run.dag_version_id else None
            ) or store.get_dag_version(dag_id)
            if version is None:
                continue
            target_id, sdag = run.dag_version_id, deserialize_dag(version.serialized)
        selected = {
            t
            for t in sdag.tasks
            if (not pattern or pattern.search(t)) and (not task_ids or t in task_ids)
        }
        if include_downstream:
            selected = _relatives(sdag, selected, downstream=True)
        if include_upstream:
            selected = _relatives(sdag, selected, downstream=False)
        everything = store.list_task_instances(
            dag_ids=[dag_id], run_ids=[run.run_id], limit=None
        ).items
        if not everything:
            continue  # not started yet: it will start on the version it has
        switch = (
            _switch(sdag, everything)
            if latest is not None and run.dag_version_id != target_id
            else _Switch((), (), ())
        )
        gone = {ti.id for ti in switch.remove}
        tis = [
            ti
            for ti in everything
            if ti.task_id in selected
            and ti.id not in gone
            and ti.state != TIS.REMOVED
            and (not only_failed or ti.state in (TIS.FAILED, TIS.UPSTREAM_FAILED))
            and (not only_running or ti.state == TIS.RUNNING)
            and (not map_indexes or ti.map_index in map_indexes.get(ti.task_id, (ti.map_index,)))
        ]
        new_tasks = [t.task_id for t in switch.create] + [ti.task_id for ti in switch.restore]
        if not tis and (only_failed or not selected & set(new_tasks)):
            continue  # nothing of this run to run again: it stays on its version
        cleared.extend(tis)
        touched.append(run)
        added.extend((run.run_id, task_id) for task_id in new_tasks)
        removed.extend(switch.remove)
        if dry_run:
            continue
        _apply(store, run, sdag, target_id, tis, switch)
    return ClearResult(tuple(cleared), tuple(touched), tuple(added), tuple(removed))


def _apply(
    store: MetadataStore,
    run: DagRun,
    sdag: SerializedDag,
    version_id: int | None,
    tis: Collection[TaskInstance],
    switch: _Switch,
) -> None:
    """Write one run's clear. The run moves to its new version last, so a scheduler
    evaluating it meanwhile never sees that version without its task instances."""
    on_version = attrs.evolve(run, dag_version_id=version_id)
    if switch.create:
        new: list[NewTaskInstance] = [
            new_task_instance(task, on_version, -1, TIS.NONE) for task in switch.create
        ]
        store.create_task_instances(run.dag_id, run.run_id, new)
    updates: list[TaskInstanceUpdate] = []
    for ti in tis:
        task = sdag.tasks.get(ti.task_id)
        fields: dict[str, Any] = {
            "max_tries": ti.try_number + (int(task.retries) if task is not None else 0),
            "next_retry_at": None,
            "reschedule_at": None,
            "end_date": None,
        }
        if task is not None:
            fields.update(_task_fields(task))
        if version_id is not None:
            fields["dag_version_id"] = version_id
        running = ti.state in (TIS.RUNNING, TIS.QUEUED)
        updates.append(
            TaskInstanceUpdate(
                ti_id=ti.id,
                state=TIS.RESTARTING if running else TIS.NONE,
                expected_state=ti.state,
                by_user=True,
                fields=fields,
            )
        )
    for ti in switch.restore:
        task = sdag.tasks[ti.task_id]
        updates.append(
            TaskInstanceUpdate(
                ti_id=ti.id,
                state=TIS.NONE,
                expected_state=TIS.REMOVED,
                fields={
                    "max_tries": ti.try_number + int(task.retries),
                    "end_date": None,
                    "dag_version_id": version_id,
                    **_task_fields(task),
                },
            )
        )
    updates.extend(
        TaskInstanceUpdate(ti_id=ti.id, state=TIS.REMOVED, expected_state=ti.state, by_user=True)
        for ti in switch.remove
    )
    store.update_task_instances(updates)
    for ti in tis:
        store.delete_xcoms(ti.ref)
    if version_id is not None and run.dag_version_id != version_id:
        store.set_dag_run_version(run.dag_id, run.run_id, version_id)
    current = store.get_dag_run(run.dag_id, run.run_id)
    if current is not None and current.state.finished:
        store.set_dag_run_state(run.dag_id, run.run_id, DagRunState.QUEUED)
