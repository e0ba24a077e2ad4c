"""Embedding slipstream: a scheduler, a store and an executor in your own process.

    from slipstream.runtime import Slipstream

    with Slipstream({"core.metadata": "sqlite://", "core.executor": "sequential"},
                    dags=[my_dag]) as app:
        run = app.trigger("my_dag", conf={"n": 3})
        app.wait(run)
        assert app.task_states(run) == {"extract": "success", ...}
        app.xcom(run, "extract")

No server and no DAG folder are needed. The same object backs ``slipstream
dags test`` and the test suite.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from slipstream.config import Config, load
from slipstream.dag_processing.processor import DagProcessor
from slipstream.errors import NotFoundError, UnavailableError
from slipstream.execution.logs import log_file
from slipstream.execution.recording import TryClaim, TryEnd, TryRecorder
from slipstream.execution.runner import TaskOutcome
from slipstream.execution.store_client import LazyStoreTaskClient
from slipstream.execution.worker import (
    MEMORY_PREFIX,
    DagLoader,
    rehearse,
    run_dag_callbacks,
    run_started,
    run_workload,
    started_payload,
)
from slipstream.executors.base import Executor, ExecutorContext, TaskInstanceKey, Workload
from slipstream.metadata import open_store
from slipstream.metadata.base import MetadataStore
from slipstream.metadata.records import DagRun, TaskInstance, TaskInstanceRef
from slipstream.models.dag import DAG
from slipstream.operators.python import parameters_of
from slipstream.plugins.manager import PluginManager
from slipstream.scheduler.clearing import ClearResult, clear_task_instances
from slipstream.scheduler.core import Scheduler
from slipstream.scheduler.triggering import trigger_dag_run
from slipstream.state import DagRunState, TaskInstanceState


class _ForkedWorker:
    """What the local executor's processes run, with the runtime's DAG loader and settings.

    In the zygote (the parent of every fork) it records tries in batches on a store
    of its own; in a fork it runs one try, and connects to the store only if the
    task reads or writes shared state.
    """

    def __init__(self, app: Slipstream) -> None:
        self._app = app
        self._store: MetadataStore | None = None  # the zygote's own, never the scheduler's
        self._recorder: TryRecorder | None = None
        self._begun: dict[TaskInstanceKey, TaskInstance] = {}
        self._prepared = False

    def _zygote_store(self) -> MetadataStore:
        if self._store is None:
            self._store = open_store(self._app.config, self._app.plugins)
        return self._store

    def _zygote_recorder(self) -> TryRecorder:
        if self._recorder is None:
            self._recorder = TryRecorder(self._zygote_store())  # listeners: the scheduler's
        return self._recorder

    def _fork_store(self) -> MetadataStore:
        """A store for this fork: the zygote's engine (its compiled statements) with
        connections of our own."""
        if self._store is None:
            return open_store(self._app.config, self._app.plugins)
        if not self._prepared:
            self._store.after_fork()
            self._prepared = True
        return self._store

    def warm(self, workload: Workload) -> None:
        """In the zygote: import the DAG and build its template environment, and run the
        worker's queries once so that their compiled SQL is cached for every fork."""
        key = workload.key
        with contextlib.suppress(Exception):  # the try itself will report any problem
            dag = self._app.loader.load(key.dag_id, workload.dag_file)
            dag.get_template_env()
            for task in dag.tasks:  # made here once, forks only look them up:
                getattr(task, "log", None)  # its logger (the property makes it)
                function = getattr(task, "python_callable", None)
                if callable(function):
                    parameters_of(function)  # what its callable takes
            if workload.dag_hash and not workload.dag_file.startswith(MEMORY_PREFIX):
                # Forks then compare the file's DAG with the try's version for free.
                self._app.loader.definition_hash(key.dag_id, workload.dag_file)
            store = self._zygote_store()
            ref = TaskInstanceRef(
                dag_id=key.dag_id, run_id=key.run_id, task_id=key.task_id, map_index=key.map_index
            )
            store.get_xcom(ref, "return_value")

    def forking(self) -> None:
        """Before the zygote is forked: the scheduler's pooled connections must not live
        on in it. If the scheduler were killed inside a transaction, the zygote's copy
        of the socket would keep that transaction, and its row locks, open."""
        self._app.store.before_fork()

    def warm_up(self) -> None:
        """In the zygote, before its first fork: rehearse a no-op try (imports, caches,
        logging) and connect to the store, so neither happens in every fork."""
        with contextlib.suppress(Exception):  # an optimisation: tries meet any problem
            with tempfile.TemporaryDirectory(prefix="slipstream-warm-up-") as folder:
                rehearse(Path(folder))
            self._zygote_store().get_dag("")

    # -- the zygote records, forks execute ------------------------------------------------

    def begin(self, starts: Sequence[tuple[Workload, int]]) -> list[str | None]:
        payloads: list[str | None] = [None] * len(starts)
        tries = [(i, w) for i, (w, _) in enumerate(starts) if not w.dag_callback]
        for i, (workload, _) in enumerate(starts):
            if workload.dag_callback:
                payloads[i] = "{}"  # DAG callbacks change no state: nothing to record
        hostname = socket.gethostname()
        claims = [TryClaim(key=w.key, hostname=hostname, pid=starts[i][1]) for i, w in tries]
        started = self._zygote_recorder().start_many(claims)
        runs: dict[tuple[str, str], DagRun | None] = {}
        for (i, workload), ti in zip(tries, started, strict=True):
            if ti is None:
                continue
            at = (ti.dag_id, ti.run_id)
            if at not in runs:
                runs[at] = self._zygote_store().get_dag_run(*at)
            run = runs[at]
            if run is None:  # deleted meanwhile, with its task instances
                continue
            self._begun[workload.key] = ti
            payloads[i] = started_payload(ti, run)
        return payloads

    def prepare(self, workload: Workload) -> None:
        """In the zygote, as it hands the try to a fork: make the try's log folder. One
        process at a time: forks making folders side by side in one run's folder
        contend for its lock, and on ext4 a new folder costs most of a millisecond."""
        if workload.dag_callback:
            return
        path = log_file(self._app.config["logging.base_log_folder"], workload.key)
        with contextlib.suppress(OSError):  # the try reports a folder it cannot make
            os.makedirs(os.path.dirname(path), exist_ok=True)

    def execute(self, workload: Workload, started: str) -> Mapping[str, Any]:
        app = self._app
        client = LazyStoreTaskClient(self._fork_store)
        log_folder = app.config["logging.base_log_folder"]
        try:
            if workload.dag_callback:
                return run_dag_callbacks(client.store, app.loader, workload, log_folder=log_folder)
            return run_started(client, app.loader, workload, started, log_folder=log_folder)
        finally:
            if client.opened is not None:
                client.opened.close()

    def adopt(self, keys: Collection[TaskInstanceKey]) -> None:
        refs = {
            TaskInstanceRef(
                dag_id=k.dag_id, run_id=k.run_id, task_id=k.task_id, map_index=k.map_index
            ): k
            for k in keys
        }
        if not refs:
            return
        for ti in self._zygote_store().get_task_instances(list(refs)):
            key = refs[ti.ref]
            if ti.state == TaskInstanceState.RUNNING and ti.try_number == key.try_number:
                self._begun[key] = ti

    def heartbeat(self, keys: Collection[TaskInstanceKey]) -> None:
        self.adopt([key for key in keys if key not in self._begun])  # started by the scheduler
        tis = [self._begun[key] for key in keys if key in self._begun]
        if tis:
            self._zygote_recorder().heartbeat_many(tis)

    def end(
        self, ends: Sequence[tuple[Workload, Mapping[str, Any] | None, str | None]]
    ) -> list[Mapping[str, Any]]:
        reports: list[Mapping[str, Any]] = [dict(report or {}) for _, report, _ in ends]
        batch: list[tuple[int, TryEnd]] = []
        for i, (workload, report, info) in enumerate(ends):
            ti = self._begun.get(workload.key)
            if ti is None:  # DAG callbacks record nothing
                continue
            if report and report.get("state"):
                batch.append((i, TryEnd(ti=ti, outcome=TaskOutcome.from_dict(report))))
            else:
                why = (report or {}).get("no_outcome") or info
                batch.append((i, TryEnd(ti=ti, outcome=None, info=why)))
        written = self._zygote_recorder().finish_many([end for _, end in batch])
        for (i, end), state in zip(batch, written, strict=True):
            del self._begun[ends[i][0].key]
            outcome = end.outcome
            report = dict(outcome.to_dict()) if outcome is not None else {"error": end.info}
            report["state"] = (
                state.value
                if state is not None
                else (outcome.state.value if outcome is not None else "failed")
            )
            report["recorded"] = True
            report["notify"] = state is not None  # listeners run in the scheduler
            reports[i] = report
        return reports


class Slipstream:
    """A whole slipstream in one object: configuration, plugins, store, scheduler, executor."""

    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        dags: Iterable[DAG] = (),
        plugins: Iterable[object] = (),
        load_entrypoints: bool | None = None,
        cwd: Path | None = None,
        environ: Mapping[str, str] | None = None,
        echo_logs: bool = False,
        migrate: bool = True,
    ) -> None:
        overrides = dict(config or {})
        self.config: Config
        self.plugins: PluginManager
        self.config, self.plugins = load(
            cwd=cwd,
            environ=environ,
            overrides=overrides,
            plugins=plugins,
            load_entrypoints=load_entrypoints,
        )
        self.echo_logs = echo_logs
        self.store: MetadataStore = open_store(self.config, self.plugins)
        if migrate:
            self.store.migrate()
        self.loader = DagLoader(self.config["core.dags_folder"])
        self.processor = DagProcessor(
            self.store,
            dags_folder=self.config["core.dags_folder"],
            include_examples=self.config["core.load_examples"],
            timeout=self.config["core.dagbag_import_timeout"],
            refresh_interval=self.config["dag_processor.refresh_interval"],
            paused_on_creation=self.config["core.dags_are_paused_at_creation"],
            plugins=self.plugins,
        )
        self.executor = self._build_executor()
        self.scheduler = Scheduler(
            store=self.store,
            executor=self.executor,
            executor_name=self.config["core.executor"],
            plugins=self.plugins,
            poll_interval=self.config["scheduler.poll_interval"],
            task_heartbeat_timeout=self.config["scheduler.task_heartbeat_timeout"],
            scheduler_heartbeat_timeout=self.config["scheduler.scheduler_heartbeat_timeout"],
            task_tokens=self._task_tokens(),
        )
        self._started = False
        if dags:
            self.register(*dags)

    def _build_executor(self) -> Executor:
        name = self.config["core.executor"]
        registered = self.plugins.executor(name)
        if registered.record.unavailable:
            raise UnavailableError(
                f"core.executor = {name!r} "
                f"(from {self.config.source('core.executor')}): {registered.record.unavailable}"
            )
        url = str(self.config["core.metadata"])
        in_memory = url.startswith("sqlite") and (
            url.rstrip("/").endswith(":") or ":memory:" in url
        )
        if in_memory and name != "sequential":
            raise UnavailableError(
                f"core.metadata = {url!r} is an in-memory SQLite database, which only this "
                f"process can see: use core.executor = 'sequential' with it (not {name!r}), "
                f"or a SQLite file"
            )
        return registered.record.factory(
            ExecutorContext(
                config=self.config,
                parallelism=self.config["core.parallelism"],
                run_in_process=self._run_in_process,
                worker=_ForkedWorker(self),
            )
        )

    def _task_tokens(self) -> Callable[[int, Workload], Workload] | None:
        """The minter of task tokens, when the executor's workers report through the API."""
        if not self.executor.needs_task_token:
            return None
        from slipstream.api.auth.task_tokens import TaskTokenMinter

        return TaskTokenMinter.for_config(self.config)

    def _run_in_process(self, workload: Workload) -> Mapping[str, Any]:
        return run_workload(
            self.store,
            self.loader,
            workload,
            log_folder=self.config["logging.base_log_folder"],
            plugins=self.plugins,
            heartbeat_interval=self.config["scheduler.task_heartbeat_interval"],
            echo=self.echo_logs,
        )

    # -- DAGs -----------------------------------------------------------------------------

    def register(self, *dags: DAG, paused: bool = False) -> list[str]:
        """Make DAG objects built in this process known to the store and the workers.

        With an executor that forks workers, register every DAG before the first
        run starts: forks made earlier cannot see DAGs added later.
        """
        if self._started and self.config["core.executor"] != "sequential":
            raise UnavailableError(
                "register DAGs before starting runs: the "
                f"{self.config['core.executor']!r} executor's workers were forked already"
            )
        for dag in dags:
            self.loader.in_memory[dag.dag_id] = dag
        ids = self.processor.register(dags)
        for dag_id in ids:
            self.store.set_dag_paused(dag_id, paused)
        return ids

    def parse(self, *, force: bool = False) -> list[str]:
        """Parse the DAGs folder (and the examples) into the store; returns the DAG ids seen."""
        return list(self.processor.sync(force=force).dag_ids)

    # -- runs -------------------------------------------------------------------------------

    def trigger(
        self,
        dag_id: str,
        *,
        conf: Mapping[str, Any] | None = None,
        logical_date: datetime | None = None,
        run_id: str | None = None,
    ) -> DagRun:
        return trigger_dag_run(
            self.store,
            dag_id,
            conf=conf,
            logical_date=logical_date,
            run_id=run_id,
            triggered_by="embedding",
        )

    def clear(
        self,
        run: DagRun,
        *,
        task_ids: Collection[str] = (),
        task_regex: str | None = None,
        include_downstream: bool = False,
        only_failed: bool = False,
        use_latest_version: bool = False,
    ) -> ClearResult:
        """Reset task instances of ``run`` (all of them unless narrowed) so they run
        again, from the run's own DAG version or, with ``use_latest_version``, from the
        DAG's latest one. ``wait(run)`` then runs them."""
        return clear_task_instances(
            self.store,
            run.dag_id,
            run_ids=[run.run_id],
            task_ids=task_ids,
            task_regex=task_regex,
            include_downstream=include_downstream,
            only_failed=only_failed,
            use_latest_version=use_latest_version,
        )

    def start(self) -> None:
        if not self._started:
            self.scheduler.start()
            self._started = True

    def wait(self, run: DagRun, *, timeout: float = 60.0) -> DagRun:
        """Schedule and run until ``run`` ends; returns it in its final state."""
        self.start()
        current = self.store.get_dag_run(run.dag_id, run.run_id)
        if current is not None and current.state == DagRunState.QUEUED:
            self.scheduler.start_run(current)

        def finished() -> bool:
            now = self.store.get_dag_run(run.dag_id, run.run_id)
            return now is None or now.state.finished

        deadline = time.monotonic() + timeout
        # The run is read again when this scheduler ended a run, and every half second
        # for what ends it elsewhere (a mark from the API, another scheduler): not on
        # every tick, which would cost a read each.
        next_look, ended_seen = 0.0, self.scheduler.runs_ended
        while True:
            moment = time.monotonic()
            if moment >= next_look or self.scheduler.runs_ended != ended_seen:
                ended_seen = self.scheduler.runs_ended
                if finished():
                    break
                next_look = moment + 0.5
            if moment > deadline:
                raise TimeoutError(f"run {run.run_id} of {run.dag_id} did not finish in {timeout}s")
            if not self.scheduler.tick():
                self.executor.wait_for_events(min(0.05, self.scheduler.poll_interval))
        final = self.store.get_dag_run(run.dag_id, run.run_id)
        if final is None:
            raise NotFoundError(f"run {run.run_id} of {run.dag_id} was deleted")
        return final

    def task_states(self, run: DagRun) -> dict[str, str]:
        """``task_id`` (``task_id[i]`` for mapped instances) to state."""
        tis = self.store.list_task_instances(
            dag_ids=[run.dag_id], run_ids=[run.run_id], limit=None
        ).items
        return {
            (ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): ti.state.value
            for ti in tis
            if not (ti.state == "removed" and ti.map_index < 0)
        }

    def xcom(
        self, run: DagRun, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> Any:
        ref = TaskInstanceRef(
            dag_id=run.dag_id, run_id=run.run_id, task_id=task_id, map_index=map_index
        )
        found = self.store.get_xcom(ref, key)
        return found.value if found is not None else None

    def close(self) -> None:
        if self._started:
            self.scheduler.stop(wait=True)
            self._started = False
        self.store.close()

    def __enter__(self) -> Slipstream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
