"""Dag runs and task instances, with the history of their tries."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from slipstream.errors import AlreadyExistsError, NotFoundError, StoreError
from slipstream.metadata.records import (
    DagRun,
    NewDagRun,
    NewTaskInstance,
    Page,
    TaskInstance,
    TaskInstanceRef,
    TaskInstanceUpdate,
)
from slipstream.metadata.sqlalchemy import schema as s
from slipstream.metadata.sqlalchemy._base import (
    StoreBase,
    check_aware,
    check_json,
    chunks,
    update_many,
    utcnow,
)
from slipstream.state import (
    FINISHED_TI_STATES,
    DagRunState,
    DagRunType,
    TaskInstanceState,
    check_dag_run_transition,
    check_transition,
)

RUN_ORDER = {
    "id",
    "dag_id",
    "run_id",
    "logical_date",
    "run_after",
    "start_date",
    "end_date",
    "state",
}
TI_ORDER = {
    "id",
    "dag_id",
    "run_id",
    "task_id",
    "map_index",
    "state",
    "start_date",
    "end_date",
    "priority_weight",
    "try_number",
    "queued_at",
    "duration",
    "pool",
    "queue",
    "operator",
    "updated_at",
}
# A try ends in these: it is copied to the history table.
HISTORY_STATES = FINISHED_TI_STATES | {TaskInstanceState.UP_FOR_RETRY, TaskInstanceState.RESTARTING}
TI_DATETIMES = (
    "start_date",
    "end_date",
    "queued_at",
    "scheduled_at",
    "next_retry_at",
    "reschedule_at",
    "last_heartbeat_at",
)
_TI_COLUMNS = [c.name for c in s.task_instance.c if c.name not in ("id", "dag_run_id")]
#: What update_task_instances reads of each row (and the names in ``expected``).
_UPDATE_READS = frozenset({"id", "dag_run_id", "state", "try_number", "start_date"})


def _run(row: sa.Row[Any]) -> DagRun:
    m = row._mapping
    return DagRun(
        id=m["id"],
        dag_id=m["dag_id"],
        run_id=m["run_id"],
        run_type=DagRunType(m["run_type"]),
        state=DagRunState(m["state"]),
        logical_date=m["logical_date"],
        data_interval_start=m["data_interval_start"],
        data_interval_end=m["data_interval_end"],
        run_after=m["run_after"],
        conf=m["conf"],
        dag_version_id=m["dag_version_id"],
        triggered_by=m["triggered_by"],
        backfill_id=m["backfill_id"],
        queued_at=m["queued_at"],
        start_date=m["start_date"],
        end_date=m["end_date"],
        created_at=m["created_at"],
        lease_owner=m["lease_owner"],
        lease_expires_at=m["lease_expires_at"],
        note=m["note"],
        triggering_user_name=m["triggering_user_name"],
        tasks_changed_at=m["tasks_changed_at"],
    )


def _ti(row: sa.Row[Any], id_column: str = "id") -> TaskInstance:
    m = row._mapping
    values = {name: m[name] for name in _TI_COLUMNS}
    values["state"] = TaskInstanceState(values["state"])
    return TaskInstance(id=m[id_column], **values)


def _run_key(dag_id: str, run_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(s.dag_run.c.dag_id == dag_id, s.dag_run.c.run_id == run_id)


def _ti_key(ref: TaskInstanceRef) -> sa.ColumnElement[bool]:
    t = s.task_instance
    return sa.and_(
        t.c.dag_id == ref.dag_id,
        t.c.run_id == ref.run_id,
        t.c.task_id == ref.task_id,
        t.c.map_index == ref.map_index,
    )


class RunsMixin(StoreBase):
    # -- dag runs -----------------------------------------------------------------

    def create_dag_run(self, run: NewDagRun) -> DagRun:
        for name in ("logical_date", "data_interval_start", "data_interval_end", "run_after"):
            check_aware(getattr(run, name), name)
        check_json(run.conf, "dag run conf")
        now = utcnow()
        values = {
            "dag_id": run.dag_id,
            "run_id": run.run_id,
            "run_type": run.run_type.value,
            "state": run.state.value,
            "logical_date": run.logical_date,
            "data_interval_start": run.data_interval_start,
            "data_interval_end": run.data_interval_end,
            "run_after": run.run_after,
            "conf": run.conf,
            "dag_version_id": run.dag_version_id,
            "triggered_by": run.triggered_by,
            "backfill_id": run.backfill_id,
            "note": run.note,
            "triggering_user_name": run.triggering_user_name,
            "queued_at": now if run.state == DagRunState.QUEUED else None,
            "start_date": now if run.state == DagRunState.RUNNING else None,
            "end_date": now if run.state.finished else None,
            "created_at": now,
        }
        try:
            with self._write() as conn:
                self._check_new_run(conn, run)
                conn.execute(s.dag_run.insert().values(**values))
        except sa.exc.IntegrityError:  # lost a race with another writer
            with self._read() as conn:
                self._check_new_run(conn, run)
            raise StoreError(f"could not create dag run {run.run_id!r} of {run.dag_id!r}") from None
        found = self.get_dag_run(run.dag_id, run.run_id)
        assert found is not None
        return found

    @staticmethod
    def _check_new_run(conn: sa.Connection, run: NewDagRun) -> None:
        """Say exactly which rule a new run breaks, before the database does."""
        if conn.scalar(sa.select(s.dag.c.dag_id).where(s.dag.c.dag_id == run.dag_id)) is None:
            raise NotFoundError(f"DAG {run.dag_id!r} does not exist")
        if conn.scalar(sa.select(s.dag_run.c.id).where(_run_key(run.dag_id, run.run_id))):
            raise AlreadyExistsError(
                f"DAG {run.dag_id!r} already has a run with run_id {run.run_id!r}"
            )
        if run.logical_date is not None:
            taken = conn.scalar(
                sa.select(s.dag_run.c.run_id).where(
                    s.dag_run.c.dag_id == run.dag_id,
                    s.dag_run.c.logical_date == run.logical_date,
                )
            )
            if taken is not None:
                raise AlreadyExistsError(
                    f"DAG {run.dag_id!r} already has a run for logical date "
                    f"{run.logical_date.isoformat()} (run_id {taken!r})"
                )
        if (
            run.dag_version_id is not None
            and conn.scalar(
                sa.select(s.dag_version.c.id).where(s.dag_version.c.id == run.dag_version_id)
            )
            is None
        ):
            raise NotFoundError(f"DAG version id {run.dag_version_id} does not exist")

    def get_dag_run(self, dag_id: str, run_id: str) -> DagRun | None:
        with self._read() as conn:
            row = conn.execute(sa.select(s.dag_run).where(_run_key(dag_id, run_id))).first()
        return None if row is None else _run(row)

    def list_dag_runs(
        self,
        *,
        dag_ids: Collection[str] = (),
        states: Collection[DagRunState] = (),
        run_types: Collection[str] = (),
        logical_date_gte: datetime | None = None,
        logical_date_lte: datetime | None = None,
        run_after_gte: datetime | None = None,
        run_after_lte: datetime | None = None,
        start_date_gte: datetime | None = None,
        start_date_lte: datetime | None = None,
        end_date_gte: datetime | None = None,
        end_date_lte: datetime | None = None,
        limit: int | None = 100,
        offset: int = 0,
        order_by: str = "id",
    ) -> Page[DagRun]:
        t = s.dag_run
        query = sa.select(t)
        if dag_ids:
            query = query.where(t.c.dag_id.in_(list(dag_ids)))
        if states:
            query = query.where(t.c.state.in_([DagRunState(x).value for x in states]))
        if run_types:
            query = query.where(t.c.run_type.in_([DagRunType(x).value for x in run_types]))
        bounds = (
            (t.c.logical_date, logical_date_gte, logical_date_lte, "logical_date"),
            (t.c.run_after, run_after_gte, run_after_lte, "run_after"),
            (t.c.start_date, start_date_gte, start_date_lte, "start_date"),
            (t.c.end_date, end_date_gte, end_date_lte, "end_date"),
        )
        for column, low, high, name in bounds:
            check_aware(low, f"{name}_gte")
            check_aware(high, f"{name}_lte")
            if low is not None:
                query = query.where(column >= low)
            if high is not None:
                query = query.where(column <= high)
        order = self._order(t, order_by, RUN_ORDER, "id")
        with self._read() as conn:
            return self._page(conn, query, order, limit, offset, _run)

    def count_dag_runs_by_state(
        self, dag_ids: Collection[str] = ()
    ) -> dict[str, dict[DagRunState, int]]:
        t = s.dag_run
        query = sa.select(t.c.dag_id, t.c.state, sa.func.count()).group_by(t.c.dag_id, t.c.state)
        if dag_ids:
            query = query.where(t.c.dag_id.in_(list(dag_ids)))
        counts: dict[str, dict[DagRunState, int]] = {}
        with self._read() as conn:
            for dag_id, state, count in conn.execute(query.order_by(t.c.dag_id)):
                counts.setdefault(dag_id, {})[DagRunState(state)] = int(count)
        return counts

    def set_dag_run_note(self, dag_id: str, run_id: str, note: str | None) -> None:
        with self._write() as conn:
            done = conn.execute(
                s.dag_run.update().where(_run_key(dag_id, run_id)).values(note=note)
            )
            if done.rowcount == 0:
                raise NotFoundError(f"DAG {dag_id!r} has no run {run_id!r}")

    def set_dag_run_state(
        self,
        dag_id: str,
        run_id: str,
        state: DagRunState,
        *,
        expected_state: DagRunState | None = None,
    ) -> bool:
        with self._write() as conn:
            row = conn.execute(
                sa.select(s.dag_run.c.id, s.dag_run.c.state)
                .where(_run_key(dag_id, run_id))
                .with_for_update()
            ).first()
            if row is None:
                raise NotFoundError(f"DAG {dag_id!r} has no run {run_id!r}")
            current = DagRunState(row.state)
            if expected_state is not None and current != expected_state:
                return False
            check_dag_run_transition(current, state)
            if current == state:
                return True
            now = utcnow()
            values: dict[str, Any] = {"state": state.value}
            if state == DagRunState.QUEUED:
                values.update(queued_at=now, start_date=None, end_date=None)
            elif state == DagRunState.RUNNING:
                values.update(start_date=now, end_date=None)
            else:
                values["end_date"] = now
            conn.execute(s.dag_run.update().where(s.dag_run.c.id == row.id).values(**values))
        return True

    def set_dag_run_version(self, dag_id: str, run_id: str, version_id: int) -> None:
        with self._write() as conn:
            run_pk = conn.scalar(
                sa.select(s.dag_run.c.id).where(_run_key(dag_id, run_id)).with_for_update()
            )
            if run_pk is None:
                raise NotFoundError(f"DAG {dag_id!r} has no run {run_id!r}")
            owner = conn.scalar(
                sa.select(s.dag_version.c.dag_id).where(s.dag_version.c.id == version_id)
            )
            if owner != dag_id:
                raise NotFoundError(f"DAG {dag_id!r} has no version with id {version_id}")
            conn.execute(
                s.dag_run.update().where(s.dag_run.c.id == run_pk).values(dag_version_id=version_id)
            )

    def delete_dag_run(self, dag_id: str, run_id: str) -> None:
        with self._write() as conn:
            run_pk = conn.scalar(sa.select(s.dag_run.c.id).where(_run_key(dag_id, run_id)))
            if run_pk is None:
                raise NotFoundError(f"DAG {dag_id!r} has no run {run_id!r}")
            # Foreign keys cascade too; deleting in order keeps it explicit and portable.
            ti_ids = sa.select(s.task_instance.c.id).where(s.task_instance.c.dag_run_id == run_pk)
            conn.execute(
                s.task_instance_history.delete().where(s.task_instance_history.c.ti_id.in_(ti_ids))
            )
            conn.execute(s.xcom.delete().where(s.xcom.c.dag_run_id == run_pk))
            conn.execute(s.task_instance.delete().where(s.task_instance.c.dag_run_id == run_pk))
            conn.execute(s.dag_run.delete().where(s.dag_run.c.id == run_pk))

    # -- task instances ---------------------------------------------------------------

    def create_task_instances(
        self, dag_id: str, run_id: str, tis: Sequence[NewTaskInstance]
    ) -> list[TaskInstance]:
        if not tis:
            return []
        keys = [(ti.task_id, ti.map_index) for ti in tis]
        if len(set(keys)) != len(keys):
            raise AlreadyExistsError("the same (task_id, map_index) appears twice in one batch")
        now = utcnow()
        try:
            with self._write() as conn:
                run_pk = conn.scalar(sa.select(s.dag_run.c.id).where(_run_key(dag_id, run_id)))
                if run_pk is None:
                    raise NotFoundError(f"DAG {dag_id!r} has no run {run_id!r}")
                self._check_new_tis(conn, run_pk, dag_id, run_id, set(keys))
                rows = [
                    {
                        "dag_run_id": run_pk,
                        "dag_id": dag_id,
                        "run_id": run_id,
                        **{name: getattr(ti, name) for name in _NEW_TI_FIELDS},
                        "state": ti.state.value,
                        "updated_at": now,
                    }
                    for ti in tis
                ]
                for chunk in chunks(rows):
                    conn.execute(s.task_instance.insert(), list(chunk))
                created = conn.execute(
                    sa.select(s.task_instance).where(s.task_instance.c.dag_run_id == run_pk)
                )
                by_key = {(row.task_id, row.map_index): _ti(row) for row in created}
        except sa.exc.IntegrityError:
            raise AlreadyExistsError(
                f"task instances of run {run_id!r} of {dag_id!r} were created concurrently"
            ) from None
        return [by_key[key] for key in keys]

    @staticmethod
    def _check_new_tis(
        conn: sa.Connection, run_pk: int, dag_id: str, run_id: str, keys: set[tuple[str, int]]
    ) -> None:
        t = s.task_instance
        existing = conn.execute(
            sa.select(t.c.task_id, t.c.map_index).where(t.c.dag_run_id == run_pk)
        )
        clash = sorted(keys & {(row.task_id, row.map_index) for row in existing})
        if clash:
            named = ", ".join(
                f"{task}[{index}]" if index >= 0 else task for task, index in clash[:5]
            )
            raise AlreadyExistsError(
                f"run {run_id!r} of {dag_id!r} already has task instances: {named}"
            )

    def get_task_instance(self, ref: TaskInstanceRef) -> TaskInstance | None:
        with self._read() as conn:
            row = conn.execute(sa.select(s.task_instance).where(_ti_key(ref))).first()
        return None if row is None else _ti(row)

    def get_task_instances(self, refs: Collection[TaskInstanceRef]) -> list[TaskInstance]:
        t = s.task_instance
        by_run: dict[tuple[str, str], set[str]] = {}
        for ref in refs:
            by_run.setdefault((ref.dag_id, ref.run_id), set()).add(ref.task_id)
        # One statement: per run, its task ids (index on dag_id, run_id); map indexes
        # are filtered here.
        clauses = [
            sa.and_(t.c.dag_id == dag_id, t.c.run_id == run_id, t.c.task_id.in_(sorted(tasks)))
            for (dag_id, run_id), tasks in by_run.items()
        ]
        wanted = set(refs)
        found: list[TaskInstance] = []
        with self._read() as conn:
            for group in chunks(clauses, 50):
                for row in conn.execute(sa.select(t).where(sa.or_(*group))):
                    ti = _ti(row)
                    if ti.ref in wanted:
                        found.append(ti)
        return found

    def get_task_instances_by_id(self, ti_ids: Collection[int]) -> list[TaskInstance]:
        found: list[TaskInstance] = []
        with self._read() as conn:
            for ids in chunks(sorted(ti_ids)):
                query = sa.select(s.task_instance).where(s.task_instance.c.id.in_(ids))
                found.extend(_ti(row) for row in conn.execute(query))
        return sorted(found, key=lambda ti: ti.id)

    def list_task_instances(
        self,
        *,
        dag_ids: Collection[str] = (),
        run_ids: Collection[str] = (),
        task_ids: Collection[str] = (),
        states: Collection[TaskInstanceState] = (),
        pools: Collection[str] = (),
        queues: Collection[str] = (),
        executors: Collection[str] = (),
        map_indexes: Collection[int] = (),
        mapped: bool | None = None,
        placeholders: bool = True,
        start_date_gte: datetime | None = None,
        start_date_lte: datetime | None = None,
        end_date_gte: datetime | None = None,
        end_date_lte: datetime | None = None,
        duration_gte: float | None = None,
        duration_lte: float | None = None,
        limit: int | None = None,
        offset: int = 0,
        order_by: str = "id",
        with_total: bool = True,
    ) -> Page[TaskInstance]:
        t = s.task_instance
        query = sa.select(t)
        for column, values in (
            (t.c.dag_id, dag_ids),
            (t.c.run_id, run_ids),
            (t.c.task_id, task_ids),
            (t.c.state, [TaskInstanceState(x).value for x in states]),
            (t.c.pool, pools),
            (t.c.queue, queues),
            (t.c.executor, executors),
            (t.c.map_index, [int(i) for i in map_indexes]),
        ):
            if values:
                query = query.where(column.in_(list(values)))
        if mapped is not None:
            query = query.where(t.c.map_index >= 0 if mapped else t.c.map_index < 0)
        if not placeholders:
            expanded = t.alias("expanded")
            has_expansions = (
                sa.select(expanded.c.id)
                .where(
                    expanded.c.dag_run_id == t.c.dag_run_id,
                    expanded.c.task_id == t.c.task_id,
                    expanded.c.map_index >= 0,
                )
                .exists()
            )
            query = query.where(
                sa.not_(
                    sa.and_(
                        t.c.map_index < 0,
                        t.c.state == TaskInstanceState.REMOVED.value,
                        has_expansions,
                    )
                )
            )
        bounds: tuple[tuple[sa.Column[Any], Any, Any, str], ...] = (
            (t.c.start_date, start_date_gte, start_date_lte, "start_date"),
            (t.c.end_date, end_date_gte, end_date_lte, "end_date"),
        )
        for _, low, high, name in bounds:
            check_aware(low, f"{name}_gte")
            check_aware(high, f"{name}_lte")
        for column, low, high, _ in (*bounds, (t.c.duration, duration_gte, duration_lte, "")):
            if low is not None:
                query = query.where(column >= low)
            if high is not None:
                query = query.where(column <= high)
        order = self._order(t, order_by, TI_ORDER, "id")
        with self._read() as conn:
            return self._page(conn, query, order, limit, offset, _ti, with_total=with_total)

    def count_task_instance_states(
        self,
        dag_id: str,
        run_id: str,
        task_ids: Collection[str] = (),
        *,
        except_task_ids: Collection[str] = (),
    ) -> dict[TaskInstanceState, int]:
        t = s.task_instance
        base = (
            sa.select(t.c.state, sa.func.count())
            .where(t.c.dag_id == dag_id, t.c.run_id == run_id)
            .group_by(t.c.state)
        )
        if except_task_ids:
            base = base.where(t.c.task_id.not_in(sorted(except_task_ids)))
        counts: dict[TaskInstanceState, int] = {}
        with self._read() as conn:
            batches = [base.where(t.c.task_id.in_(ids)) for ids in chunks(sorted(task_ids))]
            for query in batches or [base]:
                for state, n in conn.execute(query):
                    key = TaskInstanceState(state)
                    counts[key] = counts.get(key, 0) + int(n)
        return counts

    def count_task_instance_states_by_task(
        self, dag_id: str, run_id: str
    ) -> dict[str, dict[TaskInstanceState, int]]:
        t = s.task_instance
        query = (
            sa.select(t.c.task_id, t.c.state, sa.func.count())
            .where(t.c.dag_id == dag_id, t.c.run_id == run_id)
            .group_by(t.c.task_id, t.c.state)
        )
        counts: dict[str, dict[TaskInstanceState, int]] = {}
        with self._read() as conn:
            for task_id, state, n in conn.execute(query):
                counts.setdefault(task_id, {})[TaskInstanceState(state)] = int(n)
        return counts

    def count_task_instance_states_of_runs(
        self, runs: Collection[tuple[str, str]], task_ids: Collection[str]
    ) -> dict[tuple[str, str], dict[str, dict[TaskInstanceState, int]]]:
        t = s.task_instance
        wanted = set(runs)
        if not wanted or not task_ids:
            return {}
        query = (
            sa.select(t.c.dag_id, t.c.run_id, t.c.task_id, t.c.state, sa.func.count())
            .where(
                t.c.dag_id.in_(sorted({dag_id for dag_id, _ in wanted})),
                t.c.run_id.in_(sorted({run_id for _, run_id in wanted})),
                t.c.task_id.in_(sorted(task_ids)),
            )
            .group_by(t.c.dag_id, t.c.run_id, t.c.task_id, t.c.state)
        )
        counts: dict[tuple[str, str], dict[str, dict[TaskInstanceState, int]]] = {}
        with self._read() as conn:
            for dag_id, run_id, task_id, state, n in conn.execute(query):
                if (dag_id, run_id) in wanted:
                    per_task = counts.setdefault((dag_id, run_id), {}).setdefault(task_id, {})
                    per_task[TaskInstanceState(state)] = int(n)
        return counts

    def count_task_instances_by_dag(
        self, *, states: Collection[TaskInstanceState], dag_ids: Collection[str] = ()
    ) -> dict[str, dict[TaskInstanceState, int]]:
        t = s.task_instance
        query = (
            sa.select(t.c.dag_id, t.c.state, sa.func.count())
            .where(t.c.state.in_([TaskInstanceState(x).value for x in states]))
            .group_by(t.c.dag_id, t.c.state)
        )
        if dag_ids:
            query = query.where(t.c.dag_id.in_(sorted(dag_ids)))
        counts: dict[str, dict[TaskInstanceState, int]] = {}
        with self._read() as conn:
            for dag_id, state, n in conn.execute(query):
                counts.setdefault(dag_id, {})[TaskInstanceState(state)] = int(n)
        return counts

    def count_task_instances_by_task(
        self, *, states: Collection[TaskInstanceState], dag_ids: Collection[str] = ()
    ) -> dict[tuple[str, str], int]:
        t = s.task_instance
        query = (
            sa.select(t.c.dag_id, t.c.task_id, sa.func.count())
            .where(t.c.state.in_([TaskInstanceState(x).value for x in states]))
            .group_by(t.c.dag_id, t.c.task_id)
        )
        if dag_ids:
            query = query.where(t.c.dag_id.in_(sorted(dag_ids)))
        with self._read() as conn:
            return {(dag_id, task_id): int(n) for dag_id, task_id, n in conn.execute(query)}

    def update_task_instances(self, updates: Sequence[TaskInstanceUpdate]) -> list[bool]:
        if not updates:
            return []
        for update in updates:
            for name in TI_DATETIMES:
                check_aware(update.fields.get(name), name)
            if "rendered_fields" in update.fields:
                check_json(update.fields["rendered_fields"], "rendered_fields")
        now = utcnow()
        ids = sorted({u.ti_id for u in updates})
        results: list[bool] = []
        t = s.task_instance
        # Only what the checks read: converting whole rows cost more than the queries.
        read = sorted(_UPDATE_READS.union(*(u.expected for u in updates)))
        with self._write() as conn:
            current: dict[int, dict[str, Any]] = {}
            for chunk in chunks(ids):
                query = (
                    sa.select(*(t.c[name] for name in read))
                    .where(t.c.id.in_(chunk))
                    .with_for_update()
                )
                current.update({row.id: dict(row._mapping) for row in conn.execute(query)})
            missing = [ti_id for ti_id in ids if ti_id not in current]
            if missing:
                raise NotFoundError(f"no task instance with id {', '.join(map(str, missing))}")
            changed: dict[int, dict[str, Any]] = {}
            ended: dict[int, int] = {}  # id -> try number, of tries that just ended
            touched: set[int] = set()  # runs whose task instances a person changed
            for update in updates:
                row = current[update.ti_id]
                old = TaskInstanceState(row["state"])
                if (
                    (update.expected_state is not None and old != update.expected_state)
                    or (
                        update.expected_try_number is not None
                        and row["try_number"] != update.expected_try_number
                    )
                    or any(row[name] != value for name, value in update.expected.items())
                ):
                    results.append(False)
                    continue
                values = dict(update.fields)
                if update.state is not None:
                    check_transition(old, update.state, by_user=update.by_user)
                    values["state"] = update.state.value
                if "end_date" in values and "duration" not in values:
                    start = values.get("start_date", row["start_date"])
                    if start is not None and values["end_date"] is not None:
                        values["duration"] = (values["end_date"] - start).total_seconds()
                values["updated_at"] = now
                row.update(values)
                changed.setdefault(update.ti_id, {}).update(values)
                if (
                    update.state is not None
                    and update.state != old
                    and update.state in HISTORY_STATES
                    and row["try_number"] > 0
                ):
                    ended[update.ti_id] = row["try_number"]
                if update.by_user:
                    touched.add(row["dag_run_id"])
                results.append(True)
            update_many(conn, s.task_instance, "id", list(changed.items()))
            self._record_tries(conn, ended)
            r = s.dag_run
            for chunk in chunks(sorted(touched)):
                conn.execute(r.update().where(r.c.id.in_(chunk)).values(tasks_changed_at=now))
        return results

    @staticmethod
    def _record_tries(conn: sa.Connection, tries: Mapping[int, int]) -> None:
        """Copy finished tries (task instance id -> try number) to the history, inside
        the database; a try marked again replaces its copy."""
        if not tries:
            return
        h, t = s.task_instance_history, s.task_instance
        for chunk in chunks(sorted(tries.items())):
            conn.execute(h.delete().where(sa.tuple_(h.c.ti_id, h.c.try_number).in_(chunk)))
        for ids in chunks(sorted(tries)):
            copied = sa.select(t.c.id, *(t.c[c] for c in _TI_COLUMNS)).where(t.c.id.in_(ids))
            conn.execute(h.insert().from_select(["ti_id", *_TI_COLUMNS], copied))

    def set_task_instance_notes(
        self, ti_ids: Collection[int], note: str | None, *, author: str | None = None
    ) -> None:
        ids = sorted(set(ti_ids))
        n, t = s.task_instance_note, s.task_instance
        with self._write() as conn:
            found: set[int] = set()
            for chunk in chunks(ids):
                found.update(conn.scalars(sa.select(t.c.id).where(t.c.id.in_(chunk))))
            missing = [ti_id for ti_id in ids if ti_id not in found]
            if missing:
                raise NotFoundError(f"no task instance with id {', '.join(map(str, missing))}")
            for chunk in chunks(ids):
                conn.execute(n.delete().where(n.c.ti_id.in_(chunk)))
            if note is not None and ids:
                now = utcnow()
                conn.execute(
                    n.insert(),
                    [
                        {"ti_id": ti_id, "content": note, "author": author, "updated_at": now}
                        for ti_id in ids
                    ],
                )

    def get_task_instance_notes(self, ti_ids: Collection[int]) -> dict[int, str]:
        n = s.task_instance_note
        notes: dict[int, str] = {}
        with self._read() as conn:
            for chunk in chunks(sorted(set(ti_ids))):
                query = sa.select(n.c.ti_id, n.c.content).where(n.c.ti_id.in_(chunk))
                notes.update({ti_id: content for ti_id, content in conn.execute(query)})
        return notes

    def list_task_instance_tries(self, ref: TaskInstanceRef) -> list[TaskInstance]:
        h = s.task_instance_history
        with self._read() as conn:
            row = conn.execute(sa.select(s.task_instance).where(_ti_key(ref))).first()
            if row is None:
                raise NotFoundError(f"no task instance {ref}")
            history = conn.execute(sa.select(h).where(h.c.ti_id == row.id).order_by(h.c.try_number))
            tries = [_ti(past, id_column="ti_id") for past in history]
        if not tries or tries[-1].try_number != row.try_number:
            tries.append(_ti(row))
        return tries


_NEW_TI_FIELDS = (
    "task_id",
    "map_index",
    "try_number",
    "max_tries",
    "pool",
    "pool_slots",
    "queue",
    "priority_weight",
    "operator",
    "executor",
    "dag_version_id",
)
