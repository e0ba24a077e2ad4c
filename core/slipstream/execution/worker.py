"""The worker side of one workload: find the DAG, run the try, return the outcome.

``Workload.dag_file`` names where the DAG comes from: a path relative to the
DAGs folder, ``@examples/<path>`` for the shipped examples, or
``@memory/<dag_id>`` for DAG objects an embedding application registered.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from slipstream.dag_processing.bag import EXAMPLES_FOLDER
from slipstream.errors import NotFoundError
from slipstream.execution.runner import RunInfo, TaskOutcome, run_task
from slipstream.execution.store_client import StoreTaskClient

if TYPE_CHECKING:
    from slipstream.executors.base import Workload
    from slipstream.metadata.base import MetadataStore
    from slipstream.models.dag import DAG

EXAMPLES_PREFIX = "@examples/"
MEMORY_PREFIX = "@memory/"


def dag_file_for(document: Mapping[str, object]) -> str:
    """The ``Workload.dag_file`` of a serialized DAG."""
    if document.get("in_memory"):
        return f"{MEMORY_PREFIX}{document['dag_id']}"
    relative = str(document.get("relative_fileloc") or document["fileloc"])
    return f"{EXAMPLES_PREFIX}{relative}" if document.get("is_example") else relative


class DagLoader:
    """Imports DAG files on demand and keeps them, so a warm worker imports each once."""

    def __init__(self, dags_folder: Path, in_memory: Mapping[str, DAG] | None = None) -> None:
        self.dags_folder = dags_folder
        self.in_memory = dict(in_memory or {})
        self._files: dict[Path, tuple[float, dict[str, DAG]]] = {}
        self._lock = threading.Lock()

    def path_of(self, dag_file: str) -> Path:
        if dag_file.startswith(EXAMPLES_PREFIX):
            return EXAMPLES_FOLDER / dag_file.removeprefix(EXAMPLES_PREFIX)
        path = Path(dag_file)
        return path if path.is_absolute() else self.dags_folder / path

    def load(self, dag_id: str, dag_file: str, *, refresh: bool = False) -> DAG:
        from slipstream.dag_processing.importer import import_dag_file

        if dag_file.startswith(MEMORY_PREFIX):
            try:
                return self.in_memory[dag_id]
            except KeyError:
                raise NotFoundError(f"DAG {dag_id!r} is not registered in this process") from None
        path = self.path_of(dag_file)
        with self._lock:
            try:
                mtime = path.stat().st_mtime
            except OSError:
                raise NotFoundError(f"DAG file {path} of DAG {dag_id!r} does not exist") from None
            cached = self._files.get(path)
            if refresh or cached is None or cached[0] != mtime:
                result = import_dag_file(path)
                if dag_id not in result.dags:
                    errors = "\n".join(result.errors.values()) or "it defines no such DAG"
                    raise NotFoundError(f"DAG {dag_id!r} not loadable from {path}: {errors}")
                cached = (mtime, result.dags)
                self._files[path] = cached
            dags = cached[1]
        if dag_id not in dags:
            raise NotFoundError(f"DAG {dag_id!r} is not defined in {path}")
        return dags[dag_id]


def run_workload(
    store: MetadataStore,
    loader: DagLoader,
    workload: Workload,
    *,
    log_folder: Path,
    echo: bool = False,
) -> TaskOutcome:
    """Run one workload against the store (Variables, Connections, XComs) in this process,
    logging to the try's log file."""
    from slipstream.execution.logs import log_path, task_log

    with task_log(log_path(log_folder, workload.key), echo=echo):
        try:
            return _run(store, loader, workload)
        except Exception:
            logging.getLogger("slipstream.task").exception("the try could not start")
            raise


def _run(store: MetadataStore, loader: DagLoader, workload: Workload) -> TaskOutcome:
    from slipstream.metadata.records import TaskInstanceRef

    key = workload.key
    ref = TaskInstanceRef(
        dag_id=key.dag_id, run_id=key.run_id, task_id=key.task_id, map_index=key.map_index
    )
    ti = store.get_task_instance(ref)
    run = store.get_dag_run(key.dag_id, key.run_id)
    if ti is None or run is None:
        raise NotFoundError(f"task instance {key} no longer exists")
    dag = loader.load(key.dag_id, workload.dag_file)
    # A rescheduled sensor keeps the start of its first poke: its timeout counts from there.
    first_started = ti.start_date if ti.reschedule_at is not None else None
    return run_task(
        dag=dag,
        task_id=key.task_id,
        run=RunInfo(
            run_id=run.run_id,
            logical_date=run.logical_date,
            data_interval_start=run.data_interval_start,
            data_interval_end=run.data_interval_end,
            conf=run.conf,
            run_type=str(run.run_type),
        ),
        client=StoreTaskClient(store),
        map_index=key.map_index,
        try_number=key.try_number,
        max_tries=ti.max_tries,
        first_attempt_started_at=first_started,
    )
