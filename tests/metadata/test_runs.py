"""Dag runs and task instances: rows, unique keys, transitions, history, claims."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from slipstream.errors import AlreadyExistsError, NotFoundError
from slipstream.metadata.records import (
    NewDagRun,
    NewTaskInstance,
    TaskInstanceRef,
    TaskInstanceUpdate,
)
from slipstream.metadata.sqlalchemy import SqlAlchemyStore
from slipstream.state import DagRunState, DagRunType, IllegalTransition
from slipstream.state import TaskInstanceState as S

from .helpers import T0, dag_meta, new_run


def ref(task_id: str, run_id: str = "manual__1", map_index: int = -1) -> TaskInstanceRef:
    return TaskInstanceRef(dag_id="etl", run_id=run_id, task_id=task_id, map_index=map_index)


def test_run_reads_back_exactly(store: SqlAlchemyStore) -> None:
    store.upsert_dags([dag_meta("etl")])
    version = store.add_dag_version("etl", {"v": 1}, "h", "src")
    created = store.create_dag_run(
        NewDagRun(
            dag_id="etl",
            run_id="scheduled__2025",
            run_type=DagRunType.SCHEDULED,
            logical_date=T0.astimezone(timezone(timedelta(hours=5))),
            data_interval_start=T0 - timedelta(days=1),
            data_interval_end=T0,
            run_after=T0,
            conf={"n": 1, "nested": {"list": [1, "two", None]}, "ü": "✓"},
            dag_version_id=version.id,
            triggered_by="cli",
            backfill_id=7,
        )
    )
    run = store.get_dag_run("etl", "scheduled__2025")
    assert run == created
    assert run.logical_date == T0 and run.logical_date.tzinfo == UTC
    assert run.conf == {"n": 1, "nested": {"list": [1, "two", None]}, "ü": "✓"}
    assert (run.state, run.run_type) == (DagRunState.QUEUED, DagRunType.SCHEDULED)
    assert (run.dag_version_id, run.triggered_by, run.backfill_id) == (version.id, "cli", 7)
    assert run.queued_at is not None and run.start_date is None
    assert store.get_dag_run("etl", "other") is None


def test_unique_run_id_and_logical_date_are_clear_errors(store: SqlAlchemyStore) -> None:
    new_run(store, run_id="r1", day=0)
    with pytest.raises(AlreadyExistsError, match="already has a run with run_id 'r1'"):
        new_run(store, run_id="r1", day=5)
    with pytest.raises(AlreadyExistsError, match="already has a run for logical date 2025-03-01"):
        new_run(store, run_id="r2", day=0)
    # Runs without a logical date never collide.
    new_run(store, run_id="a1", logical_date=None)
    new_run(store, run_id="a2", logical_date=None)
    # Another DAG may use the same run id and date.
    new_run(store, dag_id="other", run_id="r1", day=0)
    assert store.list_dag_runs().total == 4
    with pytest.raises(NotFoundError, match="'ghost'"):
        store.create_dag_run(
            NewDagRun(dag_id="ghost", run_id="x", run_type=DagRunType.MANUAL, run_after=T0)
        )


def test_naive_datetimes_are_refused(store: SqlAlchemyStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        new_run(store, logical_date=datetime(2025, 1, 1))
    assert store.list_dag_runs().total == 0


def test_list_runs_filters_pagination_order(store: SqlAlchemyStore) -> None:
    for day in range(12):
        state = DagRunState.RUNNING if day % 3 == 0 else DagRunState.QUEUED
        new_run(store, run_id=f"r{day:02d}", day=day, state=state)
    new_run(store, dag_id="b", run_id="b1", day=0)
    page = store.list_dag_runs(dag_ids=["etl"], limit=5, offset=5, order_by="-logical_date")
    assert page.total == 12
    assert [r.run_id for r in page.items] == ["r06", "r05", "r04", "r03", "r02"]
    running = store.list_dag_runs(states=[DagRunState.RUNNING])
    assert [r.run_id for r in running.items] == ["r00", "r03", "r06", "r09"]
    window = store.list_dag_runs(
        dag_ids=["etl"],
        logical_date_gte=T0 + timedelta(days=2),
        logical_date_lte=T0 + timedelta(days=4),
    )
    assert [r.run_id for r in window.items] == ["r02", "r03", "r04"]
    assert store.list_dag_runs(run_after_lte=T0).total == 2
    assert store.list_dag_runs(limit=0).items == () and store.list_dag_runs(limit=0).total == 13


def test_list_runs_by_start_and_end_date(store: SqlAlchemyStore) -> None:
    new_run(store, run_id="waiting")
    new_run(store, run_id="started", day=1)
    new_run(store, run_id="ended", day=2)
    store.set_dag_run_state("etl", "started", DagRunState.RUNNING)
    store.set_dag_run_state("etl", "ended", DagRunState.RUNNING)
    store.set_dag_run_state("etl", "ended", DagRunState.FAILED)
    ended = store.get_dag_run("etl", "ended")
    assert ended is not None and ended.start_date is not None and ended.end_date is not None
    started = store.list_dag_runs(start_date_gte=T0.replace(year=2000))
    assert sorted(r.run_id for r in started.items) == ["ended", "started"]
    assert [r.run_id for r in store.list_dag_runs(end_date_lte=ended.end_date).items] == ["ended"]
    later = ended.end_date + timedelta(microseconds=1)
    assert store.list_dag_runs(end_date_gte=later).total == 0
    assert store.list_dag_runs(start_date_lte=ended.start_date).total >= 1
    with pytest.raises(ValueError, match="start_date_gte must be timezone-aware"):
        store.list_dag_runs(start_date_gte=datetime(2025, 1, 1))


def test_run_counts_by_state_per_dag(store: SqlAlchemyStore) -> None:
    new_run(store, run_id="q1")
    new_run(store, run_id="q2", day=1)
    new_run(store, run_id="r1", day=2, state=DagRunState.RUNNING)
    new_run(store, dag_id="b", run_id="s1", state=DagRunState.SUCCESS)
    store.upsert_dags([dag_meta("idle")])
    assert store.count_dag_runs_by_state() == {
        "b": {DagRunState.SUCCESS: 1},
        "etl": {DagRunState.QUEUED: 2, DagRunState.RUNNING: 1},
    }
    assert store.count_dag_runs_by_state(["b", "idle"]) == {"b": {DagRunState.SUCCESS: 1}}


def test_note_and_triggering_user_read_back(store: SqlAlchemyStore) -> None:
    run = new_run(store, note="first", triggering_user_name="ada")
    assert (run.note, run.triggering_user_name) == ("first", "ada")
    store.set_dag_run_note("etl", "manual__1", "ünïcode " * 200)
    assert store.get_dag_run("etl", "manual__1").note == "ünïcode " * 200  # type: ignore[union-attr]
    store.set_dag_run_note("etl", "manual__1", None)
    assert store.get_dag_run("etl", "manual__1").note is None  # type: ignore[union-attr]
    with pytest.raises(NotFoundError):
        store.set_dag_run_note("etl", "nope", "x")


def test_run_state_changes_follow_the_state_machine(store: SqlAlchemyStore) -> None:
    new_run(store)
    assert store.set_dag_run_state("etl", "manual__1", DagRunState.RUNNING)
    run = store.get_dag_run("etl", "manual__1")
    assert run.state == DagRunState.RUNNING and run.start_date is not None  # type: ignore[union-attr]
    # Compare-and-set: the loser learns it lost, nothing changes.
    assert not store.set_dag_run_state(
        "etl", "manual__1", DagRunState.SUCCESS, expected_state=DagRunState.QUEUED
    )
    assert store.set_dag_run_state(
        "etl", "manual__1", DagRunState.SUCCESS, expected_state=DagRunState.RUNNING
    )
    run = store.get_dag_run("etl", "manual__1")
    assert run.state == DagRunState.SUCCESS and run.end_date is not None  # type: ignore[union-attr]
    with pytest.raises(IllegalTransition):
        store.set_dag_run_state("etl", "manual__1", DagRunState.RUNNING)
    assert store.get_dag_run("etl", "manual__1").state == DagRunState.SUCCESS  # type: ignore[union-attr]
    with pytest.raises(NotFoundError):
        store.set_dag_run_state("etl", "nope", DagRunState.RUNNING)


def test_a_run_moves_to_another_version_of_its_own_dag_only(store: SqlAlchemyStore) -> None:
    store.upsert_dags([dag_meta("etl"), dag_meta("other")])
    v1 = store.add_dag_version("etl", {"v": 1}, "h1", "code 1")
    v2 = store.add_dag_version("etl", {"v": 2}, "h2", "code 2")
    foreign = store.add_dag_version("other", {"v": 1}, "h1", None)
    new_run(store, dag_version_id=v1.id)

    store.set_dag_run_version("etl", "manual__1", v2.id)
    moved = store.get_dag_run("etl", "manual__1")

    assert moved is not None and moved.dag_version_id == v2.id
    assert moved.state == DagRunState.QUEUED
    with pytest.raises(NotFoundError, match="no version with id"):
        store.set_dag_run_version("etl", "manual__1", foreign.id)
    with pytest.raises(NotFoundError, match="no version with id"):
        store.set_dag_run_version("etl", "manual__1", foreign.id + 100)
    with pytest.raises(NotFoundError, match="no run 'nope'"):
        store.set_dag_run_version("etl", "nope", v1.id)
    assert store.get_dag_run("etl", "manual__1").dag_version_id == v2.id  # type: ignore[union-attr]


def test_delete_run_cascades(store: SqlAlchemyStore) -> None:
    new_run(store, run_id="r1", tasks=("a", "b"))
    new_run(store, run_id="r2", day=1, tasks=("a",))
    a1 = store.get_task_instance(ref("a", "r1"))
    assert a1 is not None
    store.update_task_instances(
        [TaskInstanceUpdate(ti_id=a1.id, state=S.QUEUED, fields={"try_number": 1})]
    )
    store.update_task_instances([TaskInstanceUpdate(ti_id=a1.id, state=S.RUNNING)])
    store.update_task_instances([TaskInstanceUpdate(ti_id=a1.id, state=S.SUCCESS)])
    store.set_xcom(ref("a", "r1"), "return_value", 1)
    store.set_xcom(ref("a", "r2"), "return_value", 2)
    store.delete_dag_run("etl", "r1")
    assert store.get_dag_run("etl", "r1") is None
    assert store.list_task_instances(dag_ids=["etl"]).total == 1
    assert store.list_xcoms("etl", "r1") == []
    assert store.get_xcom(ref("a", "r2")).value == 2  # type: ignore[union-attr]
    with pytest.raises(NotFoundError):
        store.delete_dag_run("etl", "r1")


def test_task_instances_read_back_exactly(store: SqlAlchemyStore) -> None:
    new_run(store)
    version = store.add_dag_version("etl", {}, "h", None)
    created = store.create_task_instances(
        "etl",
        "manual__1",
        [
            NewTaskInstance(
                task_id="extract",
                max_tries=3,
                pool="io",
                pool_slots=2,
                queue="fast",
                priority_weight=9,
                operator="BashOperator",
                executor="local",
                dag_version_id=version.id,
            ),
            *[NewTaskInstance(task_id="mapped", map_index=i) for i in range(3)],
        ],
    )
    assert [(t.task_id, t.map_index) for t in created] == [
        ("extract", -1),
        ("mapped", 0),
        ("mapped", 1),
        ("mapped", 2),
    ]
    ti = store.get_task_instance(ref("extract"))
    assert ti == created[0]
    assert (ti.state, ti.try_number, ti.max_tries) == (S.NONE, 0, 3)
    assert (ti.pool, ti.pool_slots, ti.queue, ti.priority_weight) == ("io", 2, "fast", 9)
    assert (ti.operator, ti.executor, ti.dag_version_id) == ("BashOperator", "local", version.id)
    assert ti.ref == ref("extract")
    assert store.get_task_instance(ref("mapped", map_index=2)) == created[3]
    assert store.get_task_instances_by_id([created[1].id, created[0].id]) == created[:2]
    with pytest.raises(AlreadyExistsError, match="mapped\\[1\\]"):
        store.create_task_instances(
            "etl",
            "manual__1",
            [NewTaskInstance(task_id="new"), NewTaskInstance(task_id="mapped", map_index=1)],
        )
    assert store.list_task_instances().total == 4  # nothing of the failed batch
    with pytest.raises(NotFoundError):
        store.create_task_instances("etl", "nope", [NewTaskInstance(task_id="x")])


def test_update_fields_round_trip(store: SqlAlchemyStore) -> None:
    new_run(store, tasks=("t",))
    ti = store.get_task_instance(ref("t"))
    assert ti is not None
    start = T0 + timedelta(microseconds=7)
    fields = {
        "try_number": 1,
        "start_date": start,
        "queued_at": T0,
        "scheduled_at": T0,
        "hostname": "worker-1.example",
        "pid": 4242,
        "executor": "local",
        "next_retry_at": T0 + timedelta(minutes=5),
        "reschedule_at": T0 + timedelta(minutes=1),
        "last_heartbeat_at": start,
        "rendered_fields": {"bash_command": "echo 2025-03-01", "env": None},
        "external_executor_id": "celery-uuid",
        "lease_owner": "scheduler-1",
    }
    assert store.update_task_instances(
        [TaskInstanceUpdate(ti_id=ti.id, state=S.SCHEDULED, fields=fields)]
    ) == [True]
    got = store.get_task_instance(ref("t"))
    assert got is not None
    for name, value in fields.items():
        assert getattr(got, name) == value, name
    assert got.state == S.SCHEDULED and got.updated_at >= ti.updated_at
    with pytest.raises(ValueError, match="cannot set state"):
        TaskInstanceUpdate(ti_id=ti.id, fields={"state": "success"})


def test_expected_fields_make_an_update_a_compare_and_set(store: SqlAlchemyStore) -> None:
    """The scheduler queues a task instance only if it still has the DAG version it
    was scheduled with: a clear onto the latest version meanwhile wins."""
    new_run(store, tasks=("t",))
    ti = store.get_task_instance(ref("t"))
    assert ti is not None
    version = ti.dag_version_id
    stale = TaskInstanceUpdate(
        ti_id=ti.id, state=S.SCHEDULED, expected={"dag_version_id": (version or 0) + 1}
    )
    fresh = TaskInstanceUpdate(ti_id=ti.id, state=S.SCHEDULED, expected={"dag_version_id": version})
    assert store.update_task_instances([stale]) == [False]
    assert store.get_task_instance(ref("t")).state == S.NONE  # type: ignore[union-attr]
    assert store.update_task_instances([fresh]) == [True]
    assert store.get_task_instance(ref("t")).state == S.SCHEDULED  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="cannot compare state"):
        TaskInstanceUpdate(ti_id=ti.id, expected={"state": "success"})


def test_a_persons_change_stamps_the_run(store: SqlAlchemyStore) -> None:
    """Updates ``by_user`` set the run's ``tasks_changed_at`` (the scheduler then looks
    at the run again); the scheduler's own updates do not, nor refused ones."""
    new_run(store, tasks=("a", "b"))
    a = store.get_task_instance(ref("a"))
    assert a is not None
    assert store.update_task_instances([TaskInstanceUpdate(ti_id=a.id, state=S.SCHEDULED)])
    run = store.get_dag_run("etl", "manual__1")
    assert run is not None and run.tasks_changed_at is None
    refused = TaskInstanceUpdate(
        ti_id=a.id, state=S.SUCCESS, expected_state=S.RUNNING, by_user=True
    )
    assert store.update_task_instances([refused]) == [False]
    assert store.get_dag_run("etl", "manual__1").tasks_changed_at is None  # type: ignore[union-attr]
    marked = TaskInstanceUpdate(ti_id=a.id, state=S.SUCCESS, by_user=True)
    assert store.update_task_instances([marked]) == [True]
    stamped = store.get_dag_run("etl", "manual__1")
    assert stamped is not None and stamped.tasks_changed_at is not None
    assert stamped.tasks_changed_at >= a.updated_at


def test_illegal_transition_changes_nothing_in_the_batch(store: SqlAlchemyStore) -> None:
    new_run(store, tasks=("a", "b"))
    a = store.get_task_instance(ref("a"))
    b = store.get_task_instance(ref("b"))
    assert a is not None and b is not None
    with pytest.raises(IllegalTransition, match="from none to running"):
        store.update_task_instances(
            [
                TaskInstanceUpdate(ti_id=a.id, state=S.SCHEDULED),
                TaskInstanceUpdate(ti_id=b.id, state=S.RUNNING),
            ]
        )
    assert store.get_task_instance(ref("a")).state == S.NONE  # type: ignore[union-attr]
    # A user may mark anything success.
    assert store.update_task_instances(
        [TaskInstanceUpdate(ti_id=b.id, state=S.SUCCESS, by_user=True)]
    ) == [True]
    with pytest.raises(NotFoundError):
        store.update_task_instances([TaskInstanceUpdate(ti_id=999_999, state=S.SCHEDULED)])


def test_compare_and_set_lets_one_writer_win(store: SqlAlchemyStore) -> None:
    new_run(store, tasks=("t",))
    ti = store.get_task_instance(ref("t"))
    assert ti is not None
    assert store.compare_and_set_task_instance_state(ti.id, S.NONE, S.SCHEDULED)
    assert store.compare_and_set_task_instance_state(ti.id, S.SCHEDULED, S.QUEUED, try_number=1)
    # A second scheduler that read "scheduled" earlier must not queue the try again.
    assert not store.compare_and_set_task_instance_state(ti.id, S.SCHEDULED, S.QUEUED)
    got = store.get_task_instance(ref("t"))
    assert got is not None and (got.state, got.try_number) == (S.QUEUED, 1)


def test_every_finished_try_is_in_the_history(store: SqlAlchemyStore) -> None:
    new_run(store, tasks=("t",))
    ti = store.get_task_instance(ref("t"))
    assert ti is not None

    def go(state: S, **fields: object) -> None:
        store.update_task_instances([TaskInstanceUpdate(ti_id=ti.id, state=state, fields=fields)])

    go(S.QUEUED, try_number=1)
    go(S.RUNNING, start_date=T0, hostname="h1")
    go(S.UP_FOR_RETRY, end_date=T0 + timedelta(seconds=2))
    go(S.QUEUED, try_number=2, start_date=None, end_date=None, duration=None)
    go(S.RUNNING, start_date=T0 + timedelta(seconds=10), hostname="h2")
    tries = store.list_task_instance_tries(ref("t"))
    assert [(t.try_number, t.state, t.hostname) for t in tries] == [
        (1, S.UP_FOR_RETRY, "h1"),
        (2, S.RUNNING, "h2"),
    ]
    assert tries[0].duration == 2.0 and tries[0].id == ti.id
    go(S.SUCCESS, end_date=T0 + timedelta(seconds=13))
    # A user marks the finished try failed.
    store.update_task_instances([TaskInstanceUpdate(ti_id=ti.id, state=S.FAILED, by_user=True)])
    tries = store.list_task_instance_tries(ref("t"))
    # Marking the same try again replaces its copy instead of adding one.
    assert [(t.try_number, t.state) for t in tries] == [(1, S.UP_FOR_RETRY), (2, S.FAILED)]
    assert tries[1].duration == 3.0


def test_list_task_instances_filters_and_pages(store: SqlAlchemyStore) -> None:
    new_run(store, run_id="r1", tasks=tuple(f"t{i}" for i in range(7)))
    new_run(store, run_id="r2", day=1, tasks=("t0", "t1"))
    r1 = store.list_task_instances(
        dag_ids=["etl"], run_ids=["r1"], order_by="-task_id", limit=3, offset=1
    )
    assert r1.total == 7 and [t.task_id for t in r1.items] == ["t5", "t4", "t3"]
    assert store.list_task_instances(task_ids=["t0"]).total == 2
    t0 = store.get_task_instance(ref("t0", "r2"))
    assert t0 is not None
    store.compare_and_set_task_instance_state(t0.id, S.NONE, S.SCHEDULED)
    scheduled = store.list_task_instances(states=[S.SCHEDULED])
    assert [t.id for t in scheduled.items] == [t0.id]
    assert store.list_task_instances(pools=["default_pool"], queues=["default"]).total == 9


def test_list_task_instances_by_map_index_executor_dates_and_duration(
    store: SqlAlchemyStore,
) -> None:
    new_run(store, run_id="r1", tasks=("plain",))
    store.create_task_instances(
        "etl",
        "r1",
        [NewTaskInstance(task_id="m", map_index=i, executor="local") for i in range(3)],
    )
    store.create_task_instances("etl", "r1", [NewTaskInstance(task_id="m", state=S.REMOVED)])
    store.create_task_instances("etl", "r1", [NewTaskInstance(task_id="gone", state=S.REMOVED)])
    assert store.list_task_instances(task_ids=["m", "gone"]).total == 5
    shown = store.list_task_instances(task_ids=["m", "gone"], placeholders=False)
    assert sorted((t.task_id, t.map_index) for t in shown.items) == [
        ("gone", -1),
        ("m", 0),
        ("m", 1),
        ("m", 2),
    ]
    mapped = store.list_task_instances(mapped=True, order_by="-map_index")
    assert [(t.task_id, t.map_index) for t in mapped.items] == [("m", 2), ("m", 1), ("m", 0)]
    unmapped = store.list_task_instances(mapped=False, order_by="task_id").items
    assert [t.task_id for t in unmapped] == ["gone", "m", "plain"]
    assert store.list_task_instances(map_indexes=[0, 2]).total == 2
    assert store.list_task_instances(executors=["local"]).total == 3
    first = store.get_task_instance(ref("m", "r1", 0))
    assert first is not None
    store.update_task_instances(
        [
            TaskInstanceUpdate(
                ti_id=first.id,
                state=S.SUCCESS,
                by_user=True,
                fields={"start_date": T0, "end_date": T0 + timedelta(seconds=30)},
            )
        ]
    )
    started = store.list_task_instances(start_date_gte=T0, start_date_lte=T0)
    assert [t.id for t in started.items] == [first.id]
    assert store.list_task_instances(end_date_gte=T0 + timedelta(seconds=31)).total == 0
    assert store.list_task_instances(duration_gte=30, duration_lte=30).total == 1
    assert store.list_task_instances(duration_lte=29).total == 0
    by_duration = store.list_task_instances(order_by="-duration", limit=1)
    assert by_duration.total == 6
    with pytest.raises(ValueError, match="timezone-aware"):
        store.list_task_instances(start_date_gte=datetime(2025, 1, 1))


def test_task_instance_notes(store: SqlAlchemyStore) -> None:
    new_run(store, run_id="r1", tasks=("a", "b"))
    a, b = (store.get_task_instance(ref(task, "r1")) for task in ("a", "b"))
    assert a is not None and b is not None
    assert store.get_task_instance_notes([a.id, b.id]) == {}
    store.set_task_instance_notes([a.id, b.id], "looked at it ✓", author="ada")
    store.set_task_instance_notes([b.id], "replaced")
    assert store.get_task_instance_notes([a.id, b.id]) == {a.id: "looked at it ✓", b.id: "replaced"}
    store.set_task_instance_notes([a.id], None)
    assert store.get_task_instance_notes([a.id, b.id]) == {b.id: "replaced"}
    with pytest.raises(NotFoundError, match="no task instance with id 999"):
        store.set_task_instance_notes([b.id, 999], "x")
    assert store.get_task_instance_notes([b.id]) == {b.id: "replaced"}  # nothing changed
    store.delete_dag_run("etl", "r1")
    assert store.get_task_instance_notes([b.id]) == {}


def test_claims_take_highest_priority_and_set_the_lease(store: SqlAlchemyStore) -> None:
    new_run(store)
    store.create_task_instances(
        "etl",
        "manual__1",
        [NewTaskInstance(task_id=f"t{i}", priority_weight=i, state=S.SCHEDULED) for i in range(5)],
    )
    claimed = store.claim_task_instances(
        from_state=S.SCHEDULED, to_state=S.QUEUED, limit=2, owner="sched-a"
    )
    assert [t.task_id for t in claimed] == ["t4", "t3"]
    assert all(t.state == S.QUEUED and t.lease_owner == "sched-a" for t in claimed)
    assert all(t.queued_at is not None for t in claimed)
    rest = store.claim_task_instances(
        from_state=S.SCHEDULED, to_state=S.QUEUED, limit=10, owner="sched-b"
    )
    assert [t.task_id for t in rest] == ["t2", "t1", "t0"]
    assert (
        store.claim_task_instances(
            from_state=S.SCHEDULED, to_state=S.QUEUED, limit=10, owner="sched-c"
        )
        == []
    )
    with pytest.raises(IllegalTransition):
        store.claim_task_instances(from_state=S.NONE, to_state=S.RUNNING, limit=1, owner="x")


def test_concurrent_claims_never_overlap(store: SqlAlchemyStore) -> None:
    """Several schedulers claiming at once: every row is claimed exactly once."""
    total, workers = 300, 4
    new_run(store)
    store.create_task_instances(
        "etl",
        "manual__1",
        [NewTaskInstance(task_id=f"t{i:03d}", state=S.SCHEDULED) for i in range(total)],
    )
    claimed: dict[str, list[int]] = {f"w{i}": [] for i in range(workers)}
    errors: list[BaseException] = []
    start = threading.Barrier(workers)

    def claim(owner: str) -> None:
        try:
            start.wait()
            while True:
                got = store.claim_task_instances(
                    from_state=S.SCHEDULED, to_state=S.QUEUED, limit=7, owner=owner
                )
                if not got and not store.list_task_instances(states=[S.SCHEDULED], limit=0).total:
                    return
                claimed[owner].extend(t.id for t in got)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(owner,)) for owner in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    every = [ti_id for ids in claimed.values() for ti_id in ids]
    assert len(every) == total and len(set(every)) == total
    leases = {t.id: t.lease_owner for t in store.list_task_instances().items}
    for owner, ids in claimed.items():
        assert all(leases[ti_id] == owner for ti_id in ids)
    if store.dialect != "sqlite":  # SQLite has one writer at a time: no parallel claims
        assert sum(1 for ids in claimed.values() if ids) >= 2


def test_dag_run_leases(store: SqlAlchemyStore) -> None:
    for day in range(4):
        new_run(store, run_id=f"r{day}", day=day, state=DagRunState.RUNNING)
    new_run(store, run_id="done", day=9, state=DagRunState.SUCCESS)
    running = [DagRunState.RUNNING]
    a = store.claim_dag_runs(states=running, limit=2, owner="a", lease=timedelta(minutes=1))
    assert [r.run_id for r in a] == ["r0", "r1"] and all(r.lease_owner == "a" for r in a)
    b = store.claim_dag_runs(states=running, limit=10, owner="b", lease=timedelta(minutes=1))
    assert [r.run_id for r in b] == ["r2", "r3"]
    # Renewing one's own leases works; nothing is left for a third scheduler.
    assert len(store.claim_dag_runs(states=running, limit=10, owner="a", lease=timedelta(1))) == 2
    assert store.claim_dag_runs(states=running, limit=10, owner="c", lease=timedelta(1)) == []
    store.release_dag_runs("a", [a[0].id])
    c = store.claim_dag_runs(states=running, limit=10, owner="c", lease=timedelta(seconds=-1))
    assert [r.run_id for r in c] == ["r0"]
    # An expired lease is fair game.
    d = store.claim_dag_runs(states=running, limit=10, owner="d", lease=timedelta(minutes=1))
    assert [r.run_id for r in d] == ["r0"]
    store.release_dag_runs("b")
    assert store.get_dag_run("etl", "r2").lease_owner is None  # type: ignore[union-attr]


def test_concurrent_dag_run_claims_never_overlap(store: SqlAlchemyStore) -> None:
    for i in range(40):
        new_run(store, run_id=f"r{i:02d}", day=i, state=DagRunState.RUNNING)
    got: list[list[int]] = [[] for _ in range(4)]
    barrier = threading.Barrier(4)

    def claim(slot: int) -> None:
        barrier.wait()
        runs = store.claim_dag_runs(
            states=[DagRunState.RUNNING], limit=10, owner=f"s{slot}", lease=timedelta(hours=1)
        )
        got[slot].extend(r.id for r in runs)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    every = [run_id for ids in got for run_id in ids]
    assert every and len(every) == len(set(every))
    owners = {r.id: r.lease_owner for r in store.list_dag_runs(limit=None).items}
    for slot, ids in enumerate(got):
        assert all(owners[run_id] == f"s{slot}" for run_id in ids)
    assert sum(1 for owner in owners.values() if owner) == len(every)


def test_a_compare_and_set_can_also_check_the_try_number(store: SqlAlchemyStore) -> None:
    new_run(store, tasks=("t",))
    ti = store.get_task_instance(ref("t"))
    assert ti is not None
    store.update_task_instances([TaskInstanceUpdate(ti_id=ti.id, state=S.SCHEDULED)])
    late = TaskInstanceUpdate(
        ti_id=ti.id, state=S.QUEUED, expected_state=S.SCHEDULED, expected_try_number=3
    )
    on_time = TaskInstanceUpdate(
        ti_id=ti.id,
        state=S.QUEUED,
        expected_state=S.SCHEDULED,
        expected_try_number=0,
        fields={"try_number": 1},
    )
    assert store.update_task_instances([late]) == [False]
    assert store.update_task_instances([on_time]) == [True]


def test_batch_reads_and_counts(store: SqlAlchemyStore) -> None:
    new_run(store, run_id="r1", tasks=("a", "b", "c"))
    new_run(store, run_id="r2", day=1, tasks=("a", "b"))
    tis = {(t.run_id, t.task_id): t for t in store.list_task_instances(limit=None).items}
    found = store.get_task_instances([ref("a", "r1"), ref("b", "r2"), ref("zz", "r1")])
    assert sorted((t.run_id, t.task_id) for t in found) == [("r1", "a"), ("r2", "b")]
    store.update_task_instances(
        [
            TaskInstanceUpdate(ti_id=tis[("r1", "a")].id, state=S.SCHEDULED),
            TaskInstanceUpdate(ti_id=tis[("r2", "a")].id, state=S.SCHEDULED),
            TaskInstanceUpdate(ti_id=tis[("r2", "a")].id, state=S.QUEUED, fields={"try_number": 1}),
        ]
    )
    assert store.count_task_instances_by_dag(states=[S.SCHEDULED, S.QUEUED]) == {
        "etl": {S.SCHEDULED: 1, S.QUEUED: 1}
    }
    assert store.count_task_instances_by_task(states=[S.QUEUED]) == {("etl", "a"): 1}
    assert store.count_task_instance_states("etl", "r1", except_task_ids=["a"]) == {S.NONE: 2}
    assert store.count_task_instance_states_of_runs([("etl", "r1"), ("etl", "r2")], ["a"]) == {
        ("etl", "r1"): {"a": {S.SCHEDULED: 1}},
        ("etl", "r2"): {"a": {S.QUEUED: 1}},
    }
    page = store.list_task_instances(dag_ids=["etl"], limit=2, with_total=False)
    assert len(page.items) == 2 and page.total == 2
    assert store.list_task_instances(dag_ids=["etl"], limit=2).total == 5
    assert [p.scheduled_slots for p in store.list_pools(scheduled=False)] == [0]
