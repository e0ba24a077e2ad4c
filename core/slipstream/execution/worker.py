"""The worker side of one workload: find the DAG, run the try, return the outcome.

``Workload.dag_file`` names where the DAG comes from: a path relative to the
DAGs folder, ``@examples/<path>`` for the shipped examples, or
``@memory/<dag_id>`` for DAG objects an embedding application registered.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from slipstream.dag_processing.bag import EXAMPLES_FOLDER
from slipstream.errors import NotFoundError
from slipstream.execution.logs import TASK_LOGGER, TaskLogError, log_file, task_log
from slipstream.execution.recording import TryRecorder
from slipstream.execution.runner import RunInfo, TaskOutcome, run_task
from slipstream.execution.store_client import LazyStoreTaskClient, StoreTaskClient

if TYPE_CHECKING:
    from slipstream.executors.base import Workload
    from slipstream.metadata.base import MetadataStore
    from slipstream.metadata.records import DagRun, TaskInstance
    from slipstream.models.dag import DAG
    from slipstream.plugins.manager import PluginManager

log = logging.getLogger(__name__)
#: What a try's own log should say (which code it runs) goes to the task log.
try_log = logging.getLogger(TASK_LOGGER)

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
        self._sources: dict[tuple[Path, int], DAG] = {}
        self._hashes: dict[tuple[Path, float, str], str] = {}
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

    def definition_hash(self, dag_id: str, dag_file: str) -> str:
        """The definition hash of the DAG as its file defines it now (computed once per
        version of the file): equal to a version's, the file still defines that version."""
        from slipstream.serialization import serialize_dag
        from slipstream.serialized_dag import definition_hash

        dag = self.load(dag_id, dag_file)
        path = self.path_of(dag_file)
        with self._lock:
            mtime = self._files[path][0] if path in self._files else 0.0
            key = (path, mtime, dag_id)
            if key not in self._hashes:
                self._hashes = {k: v for k, v in self._hashes.items() if k[0] != path}
                self._hashes[key] = definition_hash(serialize_dag(dag))
            return self._hashes[key]

    def load_source(self, dag_id: str, dag_file: str, source: str) -> DAG:
        """The DAG as an older version of its file defined it (from the store)."""
        from slipstream.dag_processing.importer import import_dag_file

        path = self.path_of(dag_file)
        if dag_file.startswith(MEMORY_PREFIX):
            raise NotFoundError(f"DAG {dag_id!r} is not registered in this process")
        key = (path, hash(source))
        with self._lock:
            if key not in self._sources:
                result = import_dag_file(path, source=source)
                if dag_id not in result.dags:
                    errors = "\n".join(result.errors.values()) or "it defines no such DAG"
                    raise NotFoundError(
                        f"DAG {dag_id!r} not loadable from its stored code: {errors}"
                    )
                self._sources[key] = result.dags[dag_id]
            return self._sources[key]


def run_workload(
    store: MetadataStore,
    loader: DagLoader,
    workload: Workload,
    *,
    log_folder: Path,
    plugins: PluginManager | None = None,
    heartbeat_interval: float = 5.0,
    echo: bool = False,
) -> dict[str, Any]:
    """Run one workload in this process and record it in the store: start, heartbeats,
    end. Returns the executor's report: the outcome with ``recorded: True``, or
    ``abandoned`` with a reason when the try was not (or no longer) queued here."""
    if workload.dag_callback:
        return run_dag_callbacks(store, loader, workload, log_folder=log_folder, echo=echo)
    recorder = TryRecorder(store, plugins)
    ti = recorder.start(workload.key, hostname=socket.gethostname(), pid=os.getpid())
    if ti is None:
        return {"abandoned": "the try is no longer queued (cleared, marked or run elsewhere)"}
    stop = threading.Event()
    beats = threading.Thread(
        target=_heartbeat, args=(recorder, ti, stop, heartbeat_interval), daemon=True
    )
    beats.start()
    try:
        with task_log(log_file(log_folder, workload.key), echo=echo):
            try:
                run = store.get_dag_run(workload.key.dag_id, workload.key.run_id)
                if run is None:
                    raise NotFoundError(
                        f"dag run {workload.key.run_id} of {workload.key.dag_id} no longer exists"
                    )
                outcome = _run(
                    StoreTaskClient(store), loader, workload, TryFacts.of(ti), run_info(run)
                )
            except Exception as exc:
                logging.getLogger("slipstream.task").exception("the try could not start")
                stop.set()
                recorder.finish(ti, None, info=f"the try could not start: {exc}")
                return {"recorded": True, "state": "failed", "error": str(exc)}
    except TaskLogError as exc:
        log.error("%s", exc)
        recorder.finish(ti, None, info=str(exc))
        return {"recorded": True, "state": "failed", "error": str(exc)}
    finally:
        stop.set()
    recorder.finish(ti, outcome)
    return {**outcome.to_dict(), "recorded": True}


@attrs.frozen(kw_only=True)
class TryFacts:
    """What running a try needs of its task instance, as its start recorded it."""

    max_tries: int
    dag_version_id: int | None = None
    start_date: datetime | None = None
    reschedule_at: datetime | None = None

    @classmethod
    def of(cls, ti: TaskInstance) -> TryFacts:
        return cls(
            max_tries=ti.max_tries,
            dag_version_id=ti.dag_version_id,
            start_date=ti.start_date,
            reschedule_at=ti.reschedule_at,
        )


def run_info(run: DagRun) -> RunInfo:
    return RunInfo(
        run_id=run.run_id,
        logical_date=run.logical_date,
        data_interval_start=run.data_interval_start,
        data_interval_end=run.data_interval_end,
        conf=run.conf,
        run_type=str(run.run_type),
    )


def started_payload(ti: TaskInstance, run: DagRun) -> str:
    """What a forked process needs to run a try whose start its parent recorded
    (``run_started``), as JSON: it need not read the store before the task runs."""

    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return json.dumps(
        {
            "max_tries": ti.max_tries,
            "dag_version_id": ti.dag_version_id,
            "start_date": when(ti.start_date),
            "reschedule_at": when(ti.reschedule_at),
            "run_id": run.run_id,
            "logical_date": when(run.logical_date),
            "data_interval_start": when(run.data_interval_start),
            "data_interval_end": when(run.data_interval_end),
            "conf": run.conf,
            "run_type": str(run.run_type),
        },
        separators=(",", ":"),
    )


def run_started(
    client: StoreTaskClient,
    loader: DagLoader,
    workload: Workload,
    payload: str,
    *,
    log_folder: Path,
    echo: bool = False,
) -> dict[str, Any]:
    """Run a try whose start was recorded for it (``started_payload``), recording
    nothing: the caller records the end. Returns ``TaskOutcome.to_dict()``, or
    ``{"no_outcome": why}`` when the try could not run (its log says more)."""
    data = json.loads(payload)

    def when(name: str) -> datetime | None:
        value = data.get(name)
        return datetime.fromisoformat(value) if value else None

    facts = TryFacts(
        max_tries=int(data["max_tries"]),
        dag_version_id=data.get("dag_version_id"),
        start_date=when("start_date"),
        reschedule_at=when("reschedule_at"),
    )
    run = RunInfo(
        run_id=data["run_id"],
        logical_date=when("logical_date"),
        data_interval_start=when("data_interval_start"),
        data_interval_end=when("data_interval_end"),
        conf=data.get("conf") or {},
        run_type=data.get("run_type") or "manual",
    )
    try:
        with task_log(log_file(log_folder, workload.key), echo=echo):
            try:
                outcome = _run(client, loader, workload, facts, run)
            except Exception as exc:
                logging.getLogger("slipstream.task").exception("the try could not start")
                return {"no_outcome": f"the try could not start: {exc}"}
    except TaskLogError as exc:
        log.error("%s", exc)
        return {"no_outcome": str(exc)}
    return outcome.to_dict()


def _heartbeat(
    recorder: TryRecorder, ti: TaskInstance, stop: threading.Event, every: float
) -> None:
    while not stop.wait(every):
        try:
            if not recorder.heartbeat(ti):
                return
        except Exception:  # a missed beat is retried at the next one
            log.warning("task heartbeat failed", exc_info=True)


def _run(
    client: StoreTaskClient,
    loader: DagLoader,
    workload: Workload,
    facts: TryFacts,
    run: RunInfo,
) -> TaskOutcome:
    key = workload.key
    dag = _dag_for_try(client, loader, workload, facts)
    # A rescheduled sensor keeps the start of its first poke: its timeout counts from there.
    first_started = facts.start_date if facts.reschedule_at is not None else None
    return run_task(
        dag=dag,
        task_id=key.task_id,
        run=run,
        client=client,
        map_index=key.map_index,
        try_number=key.try_number,
        max_tries=facts.max_tries,
        first_attempt_started_at=first_started,
    )


def _dag_for_try(
    client: StoreTaskClient, loader: DagLoader, workload: Workload, facts: TryFacts
) -> DAG:
    version_id = facts.dag_version_id

    def stored_code() -> str | None:
        version = client.store.get_dag_version_by_id(version_id) if version_id else None
        return version.source_code if version is not None else None

    return dag_for_try(loader, workload, stored_code if version_id is not None else None)


def dag_for_try(
    loader: DagLoader, workload: Workload, stored_code: Callable[[], str | None] | None
) -> DAG:
    """The DAG of the try's own version: the worker's file while it still defines that
    version (``Workload.dag_hash``); otherwise the version's code as the store kept it,
    from ``stored_code`` (the file changed, broke or went away since, or the run was
    cleared onto an older version than the file's). ``stored_code`` is None when the
    try has no version to fall back on; it returns None when the store kept no code.
    Local workers read the code from the store, remote ones through the API."""
    key = workload.key
    try:
        dag: DAG | None = loader.load(key.dag_id, workload.dag_file)
    except NotFoundError as exc:
        if stored_code is None:
            raise
        try_log.warning("the DAG file cannot be used (%s); running the try's stored code", exc)
        dag = None
    if (
        dag is not None
        and dag.has_task(key.task_id)
        and (
            workload.dag_hash is None
            or workload.dag_file.startswith(MEMORY_PREFIX)
            or loader.definition_hash(key.dag_id, workload.dag_file) == workload.dag_hash
        )
    ):
        return dag
    if stored_code is None:
        assert dag is not None  # loading it raised otherwise
        return dag
    source = stored_code()
    if not source:
        if dag is not None and dag.has_task(key.task_id):
            try_log.warning(
                "the DAG file no longer defines this try's version of %s and the store kept "
                "no code for it: running the file's current code",
                key.dag_id,
            )
            return dag
        raise NotFoundError(
            f"the DAG file does not define task {key.task_id!r} of {key.dag_id!r} as the "
            "try's version does, and the store kept no code for that version"
        )
    if dag is not None:
        try_log.info(
            "the DAG file no longer defines this try's version of %s: running its stored code",
            key.dag_id,
        )
    return loader.load_source(key.dag_id, workload.dag_file, source)


def run_dag_callbacks(
    store: MetadataStore,
    loader: DagLoader,
    workload: Workload,
    *,
    log_folder: Path,
    echo: bool = False,
) -> dict[str, Any]:
    """Call a DAG's ``on_success_callback`` or ``on_failure_callback`` for an ended run.

    A callback that raises is logged; it never changes the run's state.
    """
    from slipstream.execution.client import using_client
    from slipstream.execution.logs import task_log

    key = workload.key
    path = log_folder / f"dag_id={key.dag_id}" / f"run_id={key.run_id}" / "dag_callbacks.log"
    with task_log(path, echo=echo):
        task_log_ = logging.getLogger("slipstream.task")
        try:
            run = store.get_dag_run(key.dag_id, key.run_id)
            dag = loader.load(key.dag_id, workload.dag_file)
        except Exception:
            task_log_.exception("cannot run the DAG's %s callbacks", workload.dag_callback)
            return {"callback": "failed"}
        callbacks = (
            dag.on_success_callback
            if workload.dag_callback == "success"
            else dag.on_failure_callback
        )
        context: dict[str, Any] = {
            "dag": dag,
            "dag_run": run,
            "run_id": key.run_id,
            "logical_date": run.logical_date if run else None,
            "data_interval_start": run.data_interval_start if run else None,
            "data_interval_end": run.data_interval_end if run else None,
            "params": dict(run.conf) if run else {},
            "reason": workload.reason,
        }
        failures = 0
        with using_client(StoreTaskClient(store)):
            for callback in callbacks:
                try:
                    callback(context)
                except Exception:
                    failures += 1
                    task_log_.exception(
                        "DAG %s callback %r raised", workload.dag_callback, callback
                    )
        task_log_.info("ran %d DAG %s callback(s)", len(callbacks), workload.dag_callback)
    return {"callback": "failed" if failures else "done"}


def rehearse(log_folder: Path) -> None:
    """Run a no-op try of an internal DAG the way a forked worker runs one, logging under
    ``log_folder``: the process imports and first-uses everything a try needs (modules,
    caches, logging), so that processes forked from it later start warm. Runs no user
    code and touches no store."""
    from datetime import UTC

    from slipstream.models.dag import DAG
    from slipstream.operators.empty import EmptyOperator
    from slipstream.operators.python import PythonOperator

    def noop() -> None:
        return None

    dag_id = "__slipstream_rehearsal__"
    with DAG(dag_id, start_date=datetime(2024, 1, 1, tzinfo=UTC), schedule=None) as dag:
        EmptyOperator(task_id="empty") >> PythonOperator(task_id="python", python_callable=noop)
    loader = DagLoader(log_folder, in_memory={dag_id: dag})

    def no_store() -> MetadataStore:
        raise RuntimeError("a rehearsal has no store")

    for task_id in ("empty", "python"):
        from slipstream.executors.base import TaskInstanceKey, Workload

        workload = Workload(
            key=TaskInstanceKey(dag_id=dag_id, run_id="rehearsal", task_id=task_id),
            dag_file=f"{MEMORY_PREFIX}{dag_id}",
        )
        payload = json.dumps(
            {"max_tries": 0, "run_id": "rehearsal", "logical_date": None, "conf": {}}
        )
        report = run_started(
            LazyStoreTaskClient(no_store), loader, workload, payload, log_folder=log_folder
        )
        json.dumps(report)
    # Forks log tries at INFO: set it once here, not twice in each fork (setLevel
    # clears every logger's cache, writing to pages the fork would then copy).
    logging.getLogger(TASK_LOGGER).setLevel(logging.INFO)
