"""Creating dag runs from schedules and starting queued runs."""

from __future__ import annotations

import contextlib
from collections import Counter
from datetime import datetime

from slipstream.errors import AlreadyExistsError
from slipstream.metadata.records import DagRun, NewDagRun, NewTaskInstance, NextRun
from slipstream.scheduler._parts import SchedulerParts
from slipstream.serialized_dag import SerializedDag, SerializedTask
from slipstream.state import DagRunState, DagRunType
from slipstream.state import TaskInstanceState as TIS
from slipstream.timetables import DataInterval


class RunsMixin(SchedulerParts):
    def create_scheduled_runs(self, now: datetime) -> int:
        """Create the runs schedules ask for, up to each DAG's ``max_active_runs``."""
        created = 0
        # DAGs that run only when triggered are not even read.
        for dag in self.store.list_dags(
            paused=False, active=True, scheduled=True, limit=None
        ).items:
            due = dag.next_run.create_after
            if due is not None and due > now:
                continue
            version = self.store.get_dag_version(dag.dag_id)
            if version is None:
                continue
            sdag = self.dag_for_version(version.id, dag.dag_id)
            timetable = sdag.timetable
            if not timetable.periodic and sdag.schedule["type"] != "once":
                continue
            last = self.store.list_dag_runs(
                dag_ids=[dag.dag_id],
                run_types=[DagRunType.SCHEDULED, DagRunType.BACKFILL],
                order_by="-logical_date",
                limit=1,
            ).items
            last_interval = (
                DataInterval(last[0].data_interval_start, last[0].data_interval_end)
                if last and last[0].data_interval_start and last[0].data_interval_end
                else None
            )
            active = self.store.list_dag_runs(
                dag_ids=[dag.dag_id], states=[DagRunState.QUEUED, DagRunState.RUNNING], limit=0
            ).total
            info = timetable.next_dagrun_info(
                last_interval=last_interval,
                start_date=sdag.start_date_dt,
                end_date=sdag.end_date_dt,
                catchup=sdag.catchup,
                now=now,
            )
            while info is not None and info.run_after <= now and active < sdag.max_active_runs:
                try:
                    self.store.create_dag_run(
                        NewDagRun(
                            dag_id=dag.dag_id,
                            run_id=f"scheduled__{info.logical_date.isoformat()}",
                            run_type=DagRunType.SCHEDULED,
                            logical_date=info.logical_date,
                            data_interval_start=info.data_interval.start,
                            data_interval_end=info.data_interval.end,
                            run_after=info.run_after,
                            dag_version_id=version.id,
                            triggered_by="scheduler",
                        )
                    )
                    created += 1
                    active += 1
                except AlreadyExistsError:
                    pass  # another scheduler created it
                info = timetable.next_dagrun_info(
                    last_interval=info.data_interval,
                    start_date=sdag.start_date_dt,
                    end_date=sdag.end_date_dt,
                    catchup=True,
                    now=now,
                )
            self.store.set_dag_next_run(
                dag.dag_id,
                NextRun(
                    logical_date=info.logical_date if info else None,
                    data_interval_start=info.data_interval.start if info else None,
                    data_interval_end=info.data_interval.end if info else None,
                    create_after=info.run_after if info else None,
                ),
            )
        return created

    def start_queued_runs(self, now: datetime) -> list[DagRun]:
        """Move queued runs to running while their DAG is under ``max_active_runs``."""
        queued = self.store.list_dag_runs(
            states=[DagRunState.QUEUED], order_by="run_after", limit=None
        ).items
        started: list[DagRun] = []
        running_per_dag: Counter[str] = Counter()
        for run in queued:
            if run.run_after > now:
                continue
            dag = self.store.get_dag(run.dag_id)
            if dag is None or dag.is_paused:
                continue  # a paused DAG's runs wait (as in Airflow) until it is unpaused
            sdag = self.dag_for_version(run.dag_version_id, run.dag_id)
            if run.dag_id not in running_per_dag:
                running_per_dag[run.dag_id] = self.store.list_dag_runs(
                    dag_ids=[run.dag_id], states=[DagRunState.RUNNING], limit=0
                ).total
            if running_per_dag[run.dag_id] >= sdag.max_active_runs:
                continue
            if not self.store.set_dag_run_state(
                run.dag_id, run.run_id, DagRunState.RUNNING, expected_state=DagRunState.QUEUED
            ):
                continue  # another scheduler started it
            running_per_dag[run.dag_id] += 1
            self._begin(run, sdag)
            started.append(run)
        return started

    def start_run(self, run: DagRun) -> None:
        """Start one queued run now, paused or not (``dags test``, embedding)."""
        if self.store.set_dag_run_state(
            run.dag_id, run.run_id, DagRunState.RUNNING, expected_state=DagRunState.QUEUED
        ):
            self._begin(run, self.dag_for_version(run.dag_version_id, run.dag_id))

    def _begin(self, run: DagRun, sdag: SerializedDag) -> None:
        self._create_task_instances(run, sdag)
        self._mark((run.dag_id, run.run_id), None)  # its first tasks are queued this tick
        self._notify("on_dag_run_running", dag_run=run, msg="started")

    def _create_task_instances(self, run: DagRun, sdag: SerializedDag) -> None:
        existing = {
            (ti.task_id, ti.map_index)
            for ti in self.store.list_task_instances(
                dag_ids=[run.dag_id], run_ids=[run.run_id], limit=None
            ).items
        }
        new = [
            new_task_instance(task, run, -1, TIS.NONE)
            for task in sdag.tasks.values()
            if (task.task_id, -1) not in existing
        ]
        if new:
            with contextlib.suppress(AlreadyExistsError):  # another scheduler got there first
                self.store.create_task_instances(run.dag_id, run.run_id, new)


def new_task_instance(
    task: SerializedTask, run: DagRun, map_index: int, state: TIS
) -> NewTaskInstance:
    """A task instance of ``run`` carrying the task's scheduling settings."""
    return NewTaskInstance(
        task_id=task.task_id,
        map_index=map_index,
        state=state,
        max_tries=int(task.retries),
        pool=task.pool,
        pool_slots=int(task.pool_slots),
        queue=task.queue,
        priority_weight=int(task.priority_weight_total),
        operator=task.custom_operator_name or task.operator,
        executor=task.executor,
        dag_version_id=run.dag_version_id,
    )
