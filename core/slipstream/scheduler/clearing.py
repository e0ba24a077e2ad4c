"""Clearing task instances so they run again (CLI, API, UI): one place for the rules."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import datetime

import attrs

from slipstream.errors import NotFoundError
from slipstream.metadata.base import MetadataStore
from slipstream.metadata.records import DagRun, TaskInstance, TaskInstanceUpdate
from slipstream.serialized_dag import SerializedDag, deserialize_dag
from slipstream.state import DagRunState
from slipstream.state import TaskInstanceState as TIS


@attrs.frozen
class ClearResult:
    cleared: tuple[TaskInstance, ...]
    runs: tuple[DagRun, ...]


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
    dry_run: bool = False,
) -> ClearResult:
    """Reset matching task instances to run again, and queue their finished runs again.

    Their XComs are dropped and their retries renewed; a running try is marked
    ``restarting`` and runs again once it ends. ``map_indexes`` limits the tasks it
    names to those map indexes (the API's ``[task_id, map_index]`` pairs).
    """
    if store.get_dag(dag_id) is None:
        raise NotFoundError(f"DAG {dag_id!r} not found")
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
    for run in runs:
        version = (
            store.get_dag_version_by_id(run.dag_version_id) if run.dag_version_id else None
        ) or store.get_dag_version(dag_id)
        if version is None:
            continue
        sdag = deserialize_dag(version.serialized)
        selected = {
            t
            for t in sdag.tasks
            if (not pattern or pattern.search(t)) and (not task_ids or t in task_ids)
        }
        if include_downstream:
            selected = _relatives(sdag, selected, downstream=True)
        if include_upstream:
            selected = _relatives(sdag, selected, downstream=False)
        tis = [
            ti
            for ti in store.list_task_instances(
                dag_ids=[dag_id], run_ids=[run.run_id], limit=None
            ).items
            if ti.task_id in selected
            and ti.state != TIS.REMOVED
            and (not only_failed or ti.state in (TIS.FAILED, TIS.UPSTREAM_FAILED))
            and (not only_running or ti.state == TIS.RUNNING)
            and (not map_indexes or ti.map_index in map_indexes.get(ti.task_id, (ti.map_index,)))
        ]
        if not tis:
            continue
        cleared.extend(tis)
        touched.append(run)
        if dry_run:
            continue
        updates = []
        for ti in tis:
            task = sdag.tasks.get(ti.task_id)
            retries = int(task.retries) if task is not None else 0
            running = ti.state in (TIS.RUNNING, TIS.QUEUED)
            updates.append(
                TaskInstanceUpdate(
                    ti_id=ti.id,
                    state=TIS.RESTARTING if running else TIS.NONE,
                    expected_state=ti.state,
                    by_user=True,
                    fields={
                        "max_tries": ti.try_number + retries,
                        "next_retry_at": None,
                        "reschedule_at": None,
                        "end_date": None,
                    },
                )
            )
            store.delete_xcoms(ti.ref)
        store.update_task_instances(updates)
        if run.state.finished:
            store.set_dag_run_state(dag_id, run.run_id, DagRunState.QUEUED)
    return ClearResult(tuple(cleared), tuple(touched))
