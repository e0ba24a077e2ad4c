"""The scheduler loop: runs from schedules, task instances from dependencies, tries to executors.

It works only from serialized DAGs and the store; it never imports a DAG file.
It is event-driven: when the executor reports a finished try, that run's
downstream task instances are evaluated and queued in the same iteration.
Timers (schedules, retries, reschedules, timeouts) and a short poll for work
created elsewhere (API, CLI) drive the rest.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from slipstream.errors import AlreadyExistsError
from slipstream.execution.recording import TryClaim, TryEnd, TryRecorder
from slipstream.execution.runner import TaskOutcome
from slipstream.execution.worker import dag_file_for
from slipstream.executors.base import Executor, ExecutorEvent, TaskInstanceKey, Workload
from slipstream.metadata.records import (
    DagRun,
    NewTaskInstance,
    TaskInstance,
    TaskInstanceRef,
    TaskInstanceUpdate,
)
from slipstream.scheduler.queueing import QueueingMixin, ScheduledQueue
from slipstream.scheduler.recovery import RecoveryMixin
from slipstream.scheduler.runs import RunsMixin, new_task_instance
from slipstream.scheduler.trigger_rules import Decision, UpstreamSummary, evaluate
from slipstream.serialized_dag import SerializedDag, SerializedTask, deserialize_dag
from slipstream.state import FINISHED_TI_STATES, DagRunState
from slipstream.state import TaskInstanceState as TIS

if TYPE_CHECKING:
    from slipstream.metadata.base import MetadataStore
    from slipstream.plugins.manager import PluginManager

log = logging.getLogger(__name__)

WAITING_FOR_TIME = frozenset({TIS.UP_FOR_RETRY, TIS.UP_FOR_RESCHEDULE})
MAX_RUNS_PER_PASS = 1000
#: A full pass evaluates a running run whole at least this often, even when executor
#: events kept it up to date: the safety net for changes made by anything else.
SWEEP_SECONDS = 5.0
FAILED_STATES = frozenset({TIS.FAILED, TIS.UPSTREAM_FAILED})


def utcnow() -> datetime:
    return datetime.now(UTC)


@attrs.frozen(kw_only=True)
class _Pass:
    """What one scheduling pass over a run did."""

    wrote: bool = False  # changed anything in the store
    again: bool = False  # some task instance waits for a decision made in this pass
    unfinished: bool = False  # some task instance of the run is known not to be finished
    finished: set[str] = attrs.field(factory=set)  # tasks given a final state


@attrs.define
class _RunWork:
    """One run being scheduled: what to look at (``frontier``: tasks that changed, None
    for all) and what is known of it."""

    run: DagRun
    sdag: SerializedDag
    frontier: set[str] | None
    unfinished: bool = False  # some task instance of the run is known not to be finished


class _UpstreamCounts:
    """State counts of upstream task instances, read as cheaply as the pass allows: per
    upstream set when there are few (counting the smaller of the set and the rest),
    else once for the whole run, grouped by task; or preloaded with other runs'."""

    FEW = 3
    #: Runs whose upstream sets name at most this many tasks in all have their counts
    #: read together with other such runs (one read for a whole pass).
    FEW_TASKS = 64

    def __init__(
        self,
        store: MetadataStore,
        run: DagRun,
        sdag: SerializedDag,
        sets: set[frozenset[str]],
    ) -> None:
        self._store = store
        self._run = run
        self._all = frozenset(sdag.tasks)
        self._grouped = len(sets) > self.FEW
        self._per_task: dict[str, dict[TIS, int]] | None = None
        self._cache: dict[frozenset[str], UpstreamSummary] = {}

    def preload(self, per_task: dict[str, dict[TIS, int]]) -> None:
        """Counts per task, read with other runs' (every task the sets name)."""
        self._per_task = per_task
        self._grouped = True

    def summary(self, upstream: frozenset[str]) -> UpstreamSummary:
        if upstream not in self._cache:
            self._cache[upstream] = UpstreamSummary.from_counts(self._count(upstream))
        return self._cache[upstream]

    def _count(self, upstream: frozenset[str]) -> Counter[TIS]:
        combined: Counter[TIS] = Counter()
        if not upstream:
            return combined
        run = self._run
        if self._grouped:
            if self._per_task is None:
                self._per_task = self._store.count_task_instance_states_by_task(
                    run.dag_id, run.run_id
                )
            for name in upstream:
                combined.update(self._per_task.get(name, {}))
            return combined
        rest = self._all - upstream
        if len(rest) < len(upstream):
            combined.update(
                self._store.count_task_instance_states(run.dag_id, run.run_id, except_task_ids=rest)
            )
        else:
            combined.update(
                self._store.count_task_instance_states(run.dag_id, run.run_id, task_ids=upstream)
            )
        return combined


class Scheduler(RunsMixin, QueueingMixin, RecoveryMixin):
    """One scheduler. Several may run against one PostgreSQL or MySQL store.

    ``tick`` does one iteration; ``run`` loops until stopped. Each iteration's
    writes are batched per dag run.
    """

    def __init__(
        self,
        *,
        store: MetadataStore,
        executor: Executor,
        executor_name: str,
        plugins: PluginManager | None = None,
        poll_interval: float = 0.5,
        task_heartbeat_timeout: float = 60.0,
        scheduler_heartbeat_timeout: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
        task_tokens: Callable[[int, Workload], Workload] | None = None,
    ) -> None:
        self.store = store
        self.executor = executor
        self.executor_name = executor_name
        self.plugins = plugins
        self.poll_interval = poll_interval
        self.task_heartbeat_timeout = task_heartbeat_timeout
        self.scheduler_heartbeat_timeout = scheduler_heartbeat_timeout
        self.clock = clock
        #: Adds a task token to a workload (``TaskTokenMinter``), for executors whose
        #: workers report through the task-execution API; None for the others.
        self.task_tokens = task_tokens
        self.recorder = TryRecorder(store, plugins)
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._versions: dict[int, SerializedDag] = {}
        self._job_id: int | None = None
        #: When set, only these runs are scheduled (``dags test``, backfills): no new
        #: scheduled runs, no other queued run started, no other task queued.
        self.focus: set[tuple[str, str]] | None = None
        self._dag_limits: dict[str, int] = {}
        self.scheduled = ScheduledQueue()
        self._reread_scheduled = True
        self._more_to_queue = False  # queue_tasks stopped short of what it could queue
        #: Tries this scheduler handed to its executor, as it last recorded them: the
        #: starts and ends it records from executor events need no read.
        self._submitted: dict[TaskInstanceKey, TaskInstance] = {}
        #: Runs as last read (what a try needs of its run does not change).
        self._runs: dict[tuple[str, str], DagRun] = {}
        self._hostname = socket.gethostname()
        #: Running runs this scheduler evaluated, and when (time.monotonic()).
        self._examined: dict[tuple[str, str], float] = {}
        # Each run's tasks_changed_at when this scheduler last evaluated it.
        self._seen_changes: dict[tuple[str, str], datetime | None] = {}
        #: How many runs this scheduler has ended: who waits for a run looks again
        #: when it changes (``Slipstream.wait``).
        self.runs_ended = 0
        #: Runs to evaluate in the next tick: the tasks that changed, or None for all.
        self._pending: dict[tuple[str, str], set[str] | None] = {}
        self._last_full_pass = 0.0
        self._last_beat = 0.0
        self._stop = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        job = self.store.start_job("scheduler", socket.gethostname(), os.getpid())
        self._job_id = job.id
        self.executor.start()
        self._notify("on_starting", component=self)
        self.reap(self.clock())

    def stop(self, *, wait: bool = True) -> None:
        self._stop.set()
        self._notify("before_stopping", component=self)
        self.executor.shutdown(wait=wait)
        self.store.release_dag_runs(self.id)
        if self._job_id is not None:
            self.store.end_job(self._job_id)
            self._job_id = None

    def request_stop(self) -> None:
        self._stop.set()

    def run(self, *, until: Callable[[], bool] | None = None, timeout: float | None = None) -> None:
        """Loop until stopped, until ``until()`` holds, or until ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout if timeout is not None else None
        while not self._stop.is_set():
            busy = self.tick()
            if until is not None and until():
                return
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"scheduler did not finish within {timeout}s")
            if not busy:
                self.executor.wait_for_events(self.poll_interval)

    # -- one iteration -----------------------------------------------------------------

    def tick(self) -> bool:
        """One iteration; returns whether more work is ready right now (so the loop
        should not wait). Work that the executor's events bring wakes
        ``Executor.wait_for_events`` at once: waiting costs those no time, and a loop
        that waits sees several events per tick instead of ticking for nothing."""
        now = self.clock()
        events = self.executor.sync()
        if events:
            self.process_events(events, now)
        full = time.monotonic() - self._last_full_pass >= self.poll_interval
        if full:
            self._last_full_pass = time.monotonic()
            self._reread_scheduled = True  # others may have scheduled task instances
            if self.focus is None:
                self.create_scheduled_runs(now)
                self.start_queued_runs(now)
                for run in self.reap(now):
                    self._pending[run] = None
            self._heartbeat()
        pending, self._pending = self._pending, {}
        if self.focus is not None:
            pending = {run: changed for run, changed in pending.items() if run in self.focus}
        if full:
            self.schedule_runs(now, None, also=pending)
        elif pending:
            self.schedule_runs(now, pending)
        self.queue_tasks(now)
        return bool(self._pending) or self._more_to_queue

    def _heartbeat(self) -> None:
        """Tell the store this scheduler lives, a few times per heartbeat timeout (each
        beat is a write, and on SQLite writes queue behind the workers')."""
        if self._job_id is None:
            return
        now = time.monotonic()
        if now - self._last_beat >= self.scheduler_heartbeat_timeout / 6:
            self._last_beat = now
            self.store.heartbeat_job(self._job_id)

    # -- serialized DAGs ---------------------------------------------------------------

    def dag_for_version(self, version_id: int | None, dag_id: str) -> SerializedDag:
        if version_id is not None and version_id in self._versions:
            return self._versions[version_id]
        version = (
            self.store.get_dag_version_by_id(version_id)
            if version_id is not None
            else self.store.get_dag_version(dag_id)
        )
        if version is None:
            raise LookupError(f"no serialized version of DAG {dag_id!r} in the store")
        dag = deserialize_dag(version.serialized)
        self._versions[version.id] = dag
        return dag

    # -- dependencies ----------------------------------------------------------------------

    def schedule_runs(
        self,
        now: datetime,
        runs: Mapping[tuple[str, str], Collection[str] | None] | Collection[tuple[str, str]] | None,
        *,
        also: Mapping[tuple[str, str], Collection[str] | None] | None = None,
    ) -> bool:
        """Evaluate the task instances of running runs.

        ``runs`` maps each run to the tasks that changed since it was last evaluated
        (only their downstream tasks are evaluated) or to None (every undecided task
        instance); a plain collection of runs means None for each. ``None`` is the full
        pass: every running run no other scheduler holds a lease on (the focus runs
        with ``focus``), each evaluated whole, and ``also`` (runs with changes) beside.
        """
        targets: dict[tuple[str, str], tuple[DagRun | None, Collection[str] | None]] = {}
        if runs is None:
            held: list[DagRun]
            if self.focus is not None:
                looked_up = [self.store.get_dag_run(*at) for at in self.focus]
                held = [run for run in looked_up if run is not None]
            else:
                # Row locks with SKIP LOCKED: concurrent schedulers split the running
                # runs between them instead of all examining every run.
                held = self.store.claim_dag_runs(
                    states=[DagRunState.RUNNING],
                    limit=MAX_RUNS_PER_PASS,
                    owner=self.id,
                    lease=timedelta(seconds=max(5.0, 10 * self.poll_interval)),
                )
            for run in self._needing_a_look(held, now):
                targets[(run.dag_id, run.run_id)] = (run, None)
            for at, changed in (also or {}).items():
                if at not in targets:
                    targets[at] = (None, changed)
        elif isinstance(runs, Mapping):
            targets = {at: (None, changed) for at, changed in runs.items()}
        else:
            targets = {at: (None, None) for at in runs}
        read = self._read_running([at for at, (found, _) in targets.items() if found is None])
        batch: list[tuple[DagRun, Collection[str] | None]] = []
        for at, (found, changed) in targets.items():
            current = found or read.get(at)
            if current is None or current.state != DagRunState.RUNNING:
                self._runs.pop(at, None)
                continue
            self._runs[at] = current
            batch.append((current, changed))
        return self._schedule(batch, now)

    def _read_running(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], DagRun]:
        """The runs named that are running, in one read."""
        if len(keys) == 1:
            run = self.store.get_dag_run(*keys[0])
            return {keys[0]: run} if run is not None else {}
        wanted = set(keys)
        if not wanted:
            return {}
        found = self.store.list_dag_runs(
            dag_ids=sorted({dag_id for dag_id, _ in wanted}),
            states=[DagRunState.RUNNING],
            limit=None,
        ).items
        return {(r.dag_id, r.run_id): r for r in found if (r.dag_id, r.run_id) in wanted}

    def _needing_a_look(self, runs: list[DagRun], now: datetime) -> list[DagRun]:
        """The runs a full pass evaluates: what executor events cover needs no second
        look. A run is looked at when this scheduler has not evaluated it for
        SWEEP_SECONDS (changes made elsewhere: tries recorded by an orphaned zygote),
        when a person changed one of its task instances since (``tasks_changed_at``:
        a task marked or cleared from the CLI, the API or the UI), when a retry or
        reschedule of it is due, or when it may have outrun its ``dagrun_timeout``."""
        moment = time.monotonic()
        due: set[tuple[str, str]] = set()
        waiting = (
            self.store.list_task_instances(
                states=sorted(WAITING_FOR_TIME), limit=None, with_total=False
            ).items
            if runs
            else []  # nothing running here: an idle pass reads no more
        )
        for ti in waiting:
            when = ti.next_retry_at if ti.state == TIS.UP_FOR_RETRY else ti.reschedule_at
            if when is None or when <= now:
                due.add((ti.dag_id, ti.run_id))
        chosen: list[DagRun] = []
        for run in runs:
            at = (run.dag_id, run.run_id)
            last = self._examined.get(at)
            timeout = self.dag_for_version(run.dag_version_id, run.dag_id).dagrun_timeout_td
            if (
                last is None
                or moment - last >= SWEEP_SECONDS
                or run.tasks_changed_at != self._seen_changes.get(at)
                or at in due
                or (timeout and run.start_date and now - run.start_date > timeout)
            ):
                chosen.append(run)
        held = {(run.dag_id, run.run_id) for run in runs}
        self._examined = {at: t for at, t in self._examined.items() if at in held}
        self._seen_changes = {at: t for at, t in self._seen_changes.items() if at in held}
        self._runs = {at: run for at, run in self._runs.items() if at in held}
        return chosen

    def schedule_run(
        self, run: DagRun, now: datetime, changed: Collection[str] | None = None
    ) -> bool:
        """Decide the undecided task instances of one run, then the run's own state
        (see ``_schedule``)."""
        return self._schedule([(run, changed)], now)

    def _schedule(self, batch: list[tuple[DagRun, Collection[str] | None]], now: datetime) -> bool:
        """Decide the undecided task instances of running runs, then the runs' states.

        With a run's ``changed`` tasks (whose instances just ended), only their
        downstream task instances are decided: nothing else can have changed. Reads
        only undecided task instances and state counts of their upstreams, for all the
        runs of the batch at once, and writes their decisions in one transaction: a
        pass costs what is left to decide, not the size of the runs nor their number.
        """
        moment = time.monotonic()
        works: list[_RunWork] = []
        for run, changed in batch:
            self._examined[(run.dag_id, run.run_id)] = moment
            self._seen_changes[(run.dag_id, run.run_id)] = run.tasks_changed_at
            sdag = self.dag_for_version(run.dag_version_id, run.dag_id)
            works.append(_RunWork(run, sdag, None if changed is None else set(changed)))
        wrote_any = False
        active = works
        for _ in range(max((len(w.sdag.tasks) for w in works), default=0) + 1):
            again: list[_RunWork] = []  # a skip cascades one level per pass
            for work, result in zip(active, self._passes(active, now), strict=True):
                wrote_any = wrote_any or result.wrote
                work.unfinished = work.unfinished or result.unfinished
                if result.again:
                    if work.frontier is not None:
                        work.frontier = result.finished  # what just ended decides next
                    again.append(work)
            if not again:
                break
            active = again
        for work in works:
            run, sdag = work.run, work.sdag
            timeout = sdag.dagrun_timeout_td
            timed_out = timeout and run.start_date and now - run.start_date > timeout
            if not work.unfinished or timed_out:  # else the run cannot end yet
                self._finish_run_if_done(run, sdag, now)
        return wrote_any

    def _passes(self, works: list[_RunWork], now: datetime) -> list[_Pass]:
        """One pass over the undecided task instances of each run (downstream of its
        ``frontier`` only, when it has one): two reads and one write for them all."""
        targets: dict[int, set[str] | None] = {}  # index -> task ids to read (None: all)
        for i, work in enumerate(works):
            if work.frontier is None:
                targets[i] = None
                continue
            # The changed tasks themselves too: a try that ended up for retry waits here.
            wanted = set(work.frontier)
            for task_id in work.frontier:
                if task_id in work.sdag.tasks:
                    wanted.update(work.sdag.tasks[task_id].downstream)
            if wanted:  # reading all is as cheap when most tasks are wanted
                targets[i] = wanted if 2 * len(wanted) < len(work.sdag.tasks) else None
        undecided = self._undecided(works, targets)
        plans: dict[int, _UpstreamCounts] = {}
        small: dict[int, set[str]] = {}  # runs whose upstream counts are read together
        for i, tis in undecided.items():
            work = works[i]
            names = {ti.task_id for ti in tis}
            sets = {frozenset(work.sdag.tasks[n].upstream) for n in names if n in work.sdag.tasks}
            plans[i] = _UpstreamCounts(self.store, work.run, work.sdag, sets)
            upstream = set().union(*sets) if sets else set()
            if len(upstream) <= _UpstreamCounts.FEW_TASKS:
                small[i] = upstream
        if len(small) > 1:
            keys = {i: (works[i].run.dag_id, works[i].run.run_id) for i in small}
            read = self.store.count_task_instance_states_of_runs(
                list(keys.values()), set().union(*small.values())
            )
            for i in small:
                plans[i].preload(read.get(keys[i], {}))
        results: list[_Pass] = []
        updates: list[TaskInstanceUpdate] = []
        by_id: dict[int, TaskInstance] = {}
        for i, work in enumerate(works):
            if i not in undecided:
                results.append(_Pass())
                continue
            by_id.update((ti.id, ti) for ti in undecided[i])
            results.append(self._decide(work, undecided[i], plans[i], updates, now))
        if updates:
            applied = self.store.update_task_instances(updates)
            self.scheduled.add(
                attrs.evolve(by_id[u.ti_id], state=TIS.SCHEDULED, scheduled_at=now)
                for u, ok in zip(updates, applied, strict=True)
                if ok and u.state == TIS.SCHEDULED
            )
        return results

    def _undecided(
        self, works: list[_RunWork], targets: dict[int, set[str] | None]
    ) -> dict[int, list[TaskInstance]]:
        """Undecided task instances per run (index): one read for the runs wanting
        given tasks, one for those wanting all."""
        found: dict[int, list[TaskInstance]] = {}
        for whole in (False, True):
            chosen = [i for i, t in targets.items() if (t is None) == whole]
            if not chosen:
                continue
            task_ids: set[str] = set()
            if not whole:
                for i in chosen:
                    task_ids.update(targets[i] or ())
            index = {(works[i].run.dag_id, works[i].run.run_id): i for i in chosen}
            for ti in self.store.list_task_instances(
                dag_ids=sorted({dag_id for dag_id, _ in index}),
                run_ids=sorted({run_id for _, run_id in index}),
                task_ids=sorted(task_ids),
                states=[TIS.NONE, TIS.UP_FOR_RETRY, TIS.UP_FOR_RESCHEDULE],
                limit=None,
                with_total=False,
            ).items:
                i = index.get((ti.dag_id, ti.run_id), -1)
                wanted = targets.get(i)
                if i >= 0 and (wanted is None or ti.task_id in wanted):
                    found.setdefault(i, []).append(ti)
        return found

    def _decide(
        self,
        work: _RunWork,
        undecided: list[TaskInstance],
        counts: _UpstreamCounts,
        updates: list[TaskInstanceUpdate],
        now: datetime,
    ) -> _Pass:
        """Decide one run's undecided task instances: their updates are appended to
        ``updates`` (written by the caller); expansions of mapped tasks are created."""
        run, sdag = work.run, work.sdag
        by_task: dict[str, list[TaskInstance]] = defaultdict(list)
        for ti in undecided:
            by_task[ti.task_id].append(ti)
        written = len(updates)
        expansions: list[NewTaskInstance] = []
        finished_now: set[str] = set()  # tasks given a final state in this pass
        unfinished = False
        deferred = False

        def set_state(ti: TaskInstance, new: TIS, **fields: Any) -> None:
            nonlocal unfinished
            if new in FINISHED_TI_STATES:
                finished_now.add(ti.task_id)
            else:
                unfinished = True
            updates.append(
                TaskInstanceUpdate(ti_id=ti.id, state=new, expected_state=ti.state, fields=fields)
            )

        for task_id, task in sdag.tasks.items():  # topological order
            for ti in by_task.get(task_id, []):
                if ti.state in WAITING_FOR_TIME:
                    due = ti.next_retry_at if ti.state == TIS.UP_FOR_RETRY else ti.reschedule_at
                    if due is None or due <= now:
                        set_state(ti, TIS.SCHEDULED, scheduled_at=now)
                    else:
                        unfinished = True
                    continue
                upstream = frozenset(task.upstream)
                if upstream & finished_now:
                    deferred = True  # its upstream just changed: decide it in the next pass
                    unfinished = True
                    continue
                decision = evaluate(task.trigger_rule, counts.summary(upstream))
                if decision == Decision.WAIT:
                    unfinished = True
                    continue
                if decision == Decision.SKIP:
                    set_state(ti, TIS.SKIPPED, end_date=now)
                elif decision == Decision.UPSTREAM_FAILED:
                    set_state(ti, TIS.UPSTREAM_FAILED, end_date=now)
                elif not self._past_allows(run, task, ti):
                    unfinished = True
                    continue
                elif task.is_mapped and ti.map_index == -1:
                    self._expand(run, sdag, task, ti, set_state, expansions, now)
                    unfinished = unfinished or bool(expansions)
                else:
                    set_state(ti, TIS.SCHEDULED, scheduled_at=now)
        for task_id in by_task.keys() - sdag.tasks.keys():  # the run's version dropped it
            for ti in by_task[task_id]:
                set_state(ti, TIS.REMOVED)
        if expansions:
            if len(updates) > written:  # the placeholder's removal goes first
                self.store.update_task_instances(updates[written:])
                del updates[written:]
            with contextlib.suppress(AlreadyExistsError):  # another scheduler expanded it
                created = self.store.create_task_instances(run.dag_id, run.run_id, expansions)
                self.scheduled.add(ti for ti in created if ti.state == TIS.SCHEDULED)
        return _Pass(
            wrote=len(updates) > written or bool(expansions),
            again=deferred,
            unfinished=unfinished,
            finished=finished_now,
        )

    def _past_allows(self, run: DagRun, task: SerializedTask, ti: TaskInstance) -> bool:
        """``depends_on_past``: the same task instance in the previous run succeeded or skipped."""
        if not task.depends_on_past or run.logical_date is None:
            return True
        previous = self.store.list_dag_runs(
            dag_ids=[run.dag_id],
            logical_date_lte=run.logical_date - timedelta(microseconds=1),
            order_by="-logical_date",
            limit=1,
        ).items
        if not previous:
            return True
        ids = [task.task_id, *(task.downstream if task.wait_for_downstream else [])]
        past = self.store.list_task_instances(
            dag_ids=[run.dag_id], run_ids=[previous[0].run_id], task_ids=ids, limit=None
        ).items
        for other in past:
            if other.task_id == task.task_id and other.map_index != ti.map_index:
                continue
            if other.state not in (TIS.SUCCESS, TIS.SKIPPED, TIS.REMOVED):
                return False
        return True

    def _expand(
        self,
        run: DagRun,
        sdag: SerializedDag,
        task: SerializedTask,
        placeholder: TaskInstance,
        set_state: Callable[..., None],
        expansions: list[NewTaskInstance],
        now: datetime,
    ) -> None:
        """Turn a mapped task's placeholder into one task instance per item."""
        spec = task.expand or {}
        total = 1
        for name, source in spec.get("args", {}).items():
            if source["type"] == "literal":
                length = int(source["length"])
            else:
                value = self._xcom_value(run, sdag, source["task_id"], source["key"])
                if not isinstance(value, list | dict):
                    log.error(
                        "cannot expand %s.%s: %s pushed %s for %r, not a list or dict",
                        run.dag_id,
                        task.task_id,
                        source["task_id"],
                        type(value).__name__,
                        name,
                    )
                    set_state(placeholder, TIS.UPSTREAM_FAILED, end_date=now)
                    return
                length = len(value)
            total = total * length if spec.get("kind") == "expand" else length
        if total == 0:
            set_state(placeholder, TIS.SKIPPED, end_date=now)
            return
        set_state(placeholder, TIS.REMOVED)
        existing = {
            ti.map_index
            for ti in self.store.list_task_instances(
                dag_ids=[run.dag_id], run_ids=[run.run_id], task_ids=[task.task_id], limit=None
            ).items
        }
        expansions.extend(
            new_task_instance(task, run, index, TIS.SCHEDULED)
            for index in range(total)
            if index not in existing
        )

    def _xcom_value(self, run: DagRun, sdag: SerializedDag, task_id: str, key: str) -> Any:
        upstream = sdag.tasks.get(task_id)
        if upstream is not None and upstream.is_mapped:
            values = [
                x
                for x in self.store.list_xcoms(run.dag_id, run.run_id, task_id=task_id, key=key)
                if x.map_index >= 0
            ]
            return [x.value for x in sorted(values, key=lambda x: x.map_index)]
        found = self.store.get_xcom(
            TaskInstanceRef(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id), key
        )
        return found.value if found is not None else None

    def _finish_run_if_done(self, run: DagRun, sdag: SerializedDag, now: datetime) -> None:
        counts = self.store.count_task_instance_states(run.dag_id, run.run_id)
        unfinished = sum(n for st, n in counts.items() if st not in FINISHED_TI_STATES)
        timeout = sdag.dagrun_timeout_td
        if unfinished and timeout and run.start_date and now - run.start_date > timeout:
            self._time_out(run, timeout)
            return
        live = sum(n for st, n in counts.items() if st != TIS.REMOVED)
        if unfinished or not live:
            return
        failed = self.store.list_task_instances(
            dag_ids=[run.dag_id],
            run_ids=[run.run_id],
            task_ids=[t.task_id for t in sdag.leaves],
            states=sorted(FAILED_STATES),
            limit=None,
        ).items
        if failed:
            names = ", ".join(sorted({ti.task_id for ti in failed}))
            self._end_run(run, DagRunState.FAILED, f"task failed: {names}")
        else:
            self._end_run(run, DagRunState.SUCCESS, "success")

    def _time_out(self, run: DagRun, timeout: timedelta) -> None:
        """``dagrun_timeout``: stop what runs, skip what waits, fail the run."""
        unfinished = [
            ti
            for ti in self.store.list_task_instances(
                dag_ids=[run.dag_id], run_ids=[run.run_id], limit=None
            ).items
            if ti.state not in FINISHED_TI_STATES
        ]
        self.store.update_task_instances(
            [
                TaskInstanceUpdate(
                    ti_id=ti.id, state=TIS.SKIPPED, expected_state=ti.state, by_user=True
                )
                for ti in unfinished
                if ti.state not in (TIS.RUNNING, TIS.QUEUED)
            ]
        )
        for ti in unfinished:
            if ti.state in (TIS.RUNNING, TIS.QUEUED):
                self.executor.cancel(self._key(ti))
        self._end_run(run, DagRunState.FAILED, f"dagrun_timeout of {timeout} exceeded")

    def _end_run(self, run: DagRun, new: DagRunState, msg: str) -> None:
        if self.store.set_dag_run_state(
            run.dag_id, run.run_id, new, expected_state=DagRunState.RUNNING
        ):
            log.info("Marking run %s of %s %s: %s", run.run_id, run.dag_id, new.upper(), msg)
            self.runs_ended += 1
            ended = self.store.get_dag_run(run.dag_id, run.run_id) or run
            event = "on_dag_run_success" if new == DagRunState.SUCCESS else "on_dag_run_failed"
            self._notify(event, dag_run=ended, msg=msg)
            outcome = "success" if new == DagRunState.SUCCESS else "failure"
            sdag = self.dag_for_version(run.dag_version_id, run.dag_id)
            if (sdag.data.get("callbacks") or {}).get(outcome):
                self.executor.submit(
                    Workload(
                        key=TaskInstanceKey(
                            dag_id=run.dag_id, run_id=run.run_id, task_id="", try_number=0
                        ),
                        dag_file=dag_file_for(sdag.data),
                        dag_version=run.dag_version_id,
                        dag_callback=outcome,
                        reason=msg,
                    )
                )

    # -- executor events --------------------------------------------------------------------

    def process_events(
        self, events: Iterable[ExecutorEvent], now: datetime
    ) -> dict[tuple[str, str], set[str] | None]:
        """Act on what the executor saw; marks the runs to evaluate in this tick (and
        returns them), each with the tasks whose tries ended.

        A try's watcher may have recorded it (a worker that records itself, the local
        executor's zygote when it had to); the starts and ends it did not record are
        recorded here, each kind in one batch, starts first.
        """
        affected: dict[tuple[str, str], set[str] | None] = {}
        starts: list[tuple[TaskInstance | None, TryClaim]] = []
        ends: list[tuple[TaskInstanceKey, Mapping[str, Any], str | None]] = []
        for event in events:
            if not event.key.task_id:
                continue  # DAG callbacks change no state
            key = event.key
            report = event.outcome or {}
            if event.state == TIS.RUNNING:
                if report.get("record"):  # ours to record
                    claim = TryClaim(key=key, hostname=self._hostname, pid=int(report["pid"]))
                    starts.append((self._submitted.get(key), claim))
                elif report.get("notify"):  # recorded by a process that runs no listeners
                    self.recorder.notify_started(_ref(key))
                continue
            at = (key.dag_id, key.run_id)
            changed = affected.setdefault(at, set())
            if report.get("skip_downstream"):
                affected[at] = None  # skips cascade: evaluate the whole run
            elif changed is not None:
                changed.add(key.task_id)
            if report.get("recorded") or report.get("abandoned"):
                self._submitted.pop(key, None)
                if report.get("notify"):
                    self.recorder.notify_ended(
                        _ref(key), TIS(report["state"]), TIS.RUNNING, report.get("error")
                    )
                continue
            ends.append((key, report, event.info))
        if starts or ends:
            self._record(starts, ends, now)
        for at, changed in affected.items():
            self._mark(at, changed)
        return affected

    def _record(
        self,
        starts: list[tuple[TaskInstance | None, TryClaim]],
        ends: list[tuple[TaskInstanceKey, Mapping[str, Any], str | None]],
        now: datetime,
    ) -> None:
        """Record the starts and ends the executor reported, in one write. A try that is
        no longer queued when its start is recorded (cleared or marked while it was
        handed over) is stopped. An end of a try this scheduler did not hand over (a
        process that died before its start was recorded) is settled by itself."""
        unknown = [claim for ti, claim in starts if ti is None]
        if unknown:  # not handed over by this scheduler: read them
            for claim, ti in zip(unknown, self.recorder.start_many(unknown), strict=True):
                self._started(claim, ti)
        known = [(ti, claim) for ti, claim in starts if ti is not None]
        batch: list[TryEnd] = []
        for key, report, info in ends:
            outcome = TaskOutcome.from_dict(report) if report.get("state") else None
            mine = self._submitted.pop(key, None)
            if mine is not None:
                batch.append(TryEnd(ti=mine, outcome=outcome, info=info))
                continue
            ti = self.store.get_task_instance(_ref(key))
            if ti is not None and ti.try_number == key.try_number:
                self.recorder.finish(ti, outcome, info=info, now=now)
        started, _ = self.recorder.record(known, batch, now=now)
        ended = {end.ti.id for end in batch}
        for (ti, claim), now_running in zip(known, started, strict=True):
            assert ti is not None
            if ti.id not in ended:
                self._started(claim, now_running)

    def _started(self, claim: TryClaim, ti: TaskInstance | None) -> None:
        if ti is not None:
            self._submitted[claim.key] = ti
        else:
            log.info("stopping %s: it is no longer queued", claim.key)
            self.executor.cancel(claim.key)

    def _mark(self, run: tuple[str, str], changed: Collection[str] | None) -> None:
        """Evaluate ``run`` in this tick: downstream of ``changed``, or all (None)."""
        if run in self._pending:
            before = self._pending[run]
            if before is None or changed is None:
                self._pending[run] = None
            else:
                self._pending[run] = {*before, *changed}
        else:
            self._pending[run] = None if changed is None else set(changed)

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _key(ti: TaskInstance) -> TaskInstanceKey:
        return TaskInstanceKey(
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            map_index=ti.map_index,
            try_number=ti.try_number,
        )

    def _notify(self, event: str, **kwargs: Any) -> None:
        if self.plugins is not None:
            self.plugins.notify(event, **kwargs)


def _ref(key: TaskInstanceKey) -> TaskInstanceRef:
    return TaskInstanceRef(
        dag_id=key.dag_id, run_id=key.run_id, task_id=key.task_id, map_index=key.map_index
    )
