"""Backfills: a DAG's scheduled runs over a past date range, a few at a time."""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from slipstream.metadata.records import DagRun, NewDagRun
from slipstream.serialized_dag import deserialize_dag
from slipstream.state import DagRunState, DagRunType
from slipstream.timetables import DagRunInfo

if TYPE_CHECKING:
    from slipstream.runtime import Slipstream


#: Seconds between looks at which of the backfill's runs have ended.
LOOK_EVERY = 0.02


class Backfill:
    """Creates the runs of ``[start, end]`` (skipping dates that already have one), at most
    ``max_active_runs`` at a time, and drives the scheduler until they all end."""

    def __init__(
        self,
        app: Slipstream,
        dag_id: str,
        start: datetime,
        end: datetime,
        *,
        max_active_runs: int | None = None,
    ) -> None:
        self.app = app
        self.dag_id = dag_id
        version = app.store.get_dag_version(dag_id)
        if version is None:
            raise LookupError(f"DAG {dag_id!r} has no serialized version")
        self.version_id = version.id
        sdag = deserialize_dag(version.serialized)
        self.limit = max_active_runs or sdag.max_active_runs
        self.dates: list[DagRunInfo] = []
        timetable = sdag.timetable
        if timetable.periodic:
            begin = max(start, sdag.start_date_dt) if sdag.start_date_dt else start
            finish = min(end, sdag.end_date_dt) if sdag.end_date_dt else end
            far = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)
            info = timetable.next_dagrun_info(
                last_interval=None, start_date=begin, end_date=finish, catchup=True, now=far
            )
            while info is not None and info.logical_date <= finish:
                self.dates.append(info)
                info = timetable.next_dagrun_info(
                    last_interval=info.data_interval,
                    start_date=begin,
                    end_date=finish,
                    catchup=True,
                    now=far,
                )
        self.runs: dict[str, DagRun] = {}

    def run(self, *, timeout: float, progress: Callable[[int], object] = lambda n: None) -> None:
        app = self.app
        app.start()
        app.scheduler.focus = set()  # only the backfill's own runs, added as they start
        pending = deque(self.dates)
        active: set[str] = set()
        deadline = time.monotonic() + timeout
        next_look = 0.0
        while pending or active:
            while pending and len(active) < self.limit:
                info = pending.popleft()
                existing = app.store.list_dag_runs(
                    dag_ids=[self.dag_id],
                    logical_date_gte=info.logical_date,
                    logical_date_lte=info.logical_date,
                    limit=1,
                ).items
                if existing:  # already run (or running): keep it, do not run it twice
                    self.runs[existing[0].run_id] = existing[0]
                    if existing[0].state.finished:
                        progress(1)
                    else:
                        app.scheduler.focus.add((self.dag_id, existing[0].run_id))
                        app.scheduler.start_run(existing[0])  # if it was only queued
                        active.add(existing[0].run_id)
                    continue
                run = app.store.create_dag_run(
                    NewDagRun(
                        dag_id=self.dag_id,
                        run_id=f"backfill__{info.logical_date.isoformat()}",
                        run_type=DagRunType.BACKFILL,
                        state=DagRunState.QUEUED,
                        logical_date=info.logical_date,
                        data_interval_start=info.data_interval.start,
                        data_interval_end=info.data_interval.end,
                        run_after=datetime.now(UTC),
                        dag_version_id=self.version_id,
                        triggered_by="backfill",
                    )
                )
                app.scheduler.focus.add((self.dag_id, run.run_id))
                app.scheduler.start_run(run)
                active.add(run.run_id)
            if time.monotonic() > deadline:
                raise TimeoutError(f"backfill of {self.dag_id} did not finish in {timeout}s")
            if not app.scheduler.tick():
                app.executor.wait_for_events(0.05)
            if time.monotonic() < next_look:
                continue
            next_look = time.monotonic() + LOOK_EVERY
            # One read for the runs still going; only those that left it are read again.
            going = {
                run.run_id
                for run in app.store.list_dag_runs(
                    dag_ids=[self.dag_id],
                    states=[DagRunState.QUEUED, DagRunState.RUNNING],
                    limit=None,
                ).items
            }
            for run_id in active - going:
                current = app.store.get_dag_run(self.dag_id, run_id)
                if current is not None and not current.state.finished:
                    continue  # marked queued and running again in between
                active.discard(run_id)
                app.scheduler.focus.discard((self.dag_id, run_id))
                if current is not None:
                    self.runs[run_id] = current
                progress(1)

    def summary(self) -> Counter[str]:
        return Counter(run.state.value for run in self.runs.values())
