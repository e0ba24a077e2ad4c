"""Marking a run success/failed/queued by hand (Airflow's rules for each task-instance
state), and triggering without a logical date or with a given interval."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from slipstream import DAG
from slipstream.metadata.records import TaskInstanceUpdate
from slipstream.operators.empty import EmptyOperator
from slipstream.plugins import hookimpl
from slipstream.runtime import Slipstream
from slipstream.scheduler.marking import mark_dag_run
from slipstream.scheduler.triggering import TriggerError, trigger_dag_run
from slipstream.state import DagRunState
from slipstream.state import TaskInstanceState as TIS

if TYPE_CHECKING:
    from conftest import MakeApp

START = datetime(2026, 1, 1, tzinfo=UTC)
# The task-instance states a run can hold, and how each gets there from "none".
PATHS: dict[str, tuple[TIS, ...]] = {
    "none": (),
    "scheduled": (TIS.SCHEDULED,),
    "queued": (TIS.SCHEDULED, TIS.QUEUED),
    "running": (TIS.SCHEDULED, TIS.QUEUED, TIS.RUNNING),
    "up_for_retry": (TIS.SCHEDULED, TIS.QUEUED, TIS.RUNNING, TIS.UP_FOR_RETRY),
    "up_for_reschedule": (TIS.SCHEDULED, TIS.QUEUED, TIS.RUNNING, TIS.UP_FOR_RESCHEDULE),
    "restarting": (TIS.SCHEDULED, TIS.QUEUED, TIS.RUNNING, TIS.RESTARTING),
    "success": (TIS.SCHEDULED, TIS.QUEUED, TIS.RUNNING, TIS.SUCCESS),
    "failed": (TIS.SCHEDULED, TIS.QUEUED, TIS.RUNNING, TIS.FAILED),
    "skipped": (TIS.SKIPPED,),
    "upstream_failed": (TIS.UPSTREAM_FAILED,),
    "removed": (TIS.REMOVED,),
}
AFTER_SUCCESS = {state: "success" for state in PATHS} | {"removed": "removed"}
AFTER_FAILED = {
    "none": "skipped",
    "scheduled": "skipped",
    "queued": "skipped",
    "running": "failed",
    "up_for_retry": "skipped",
    "up_for_reschedule": "failed",
    "restarting": "skipped",
    "success": "success",
    "failed": "failed",
    "skipped": "skipped",
    "upstream_failed": "upstream_failed",
    "removed": "removed",
}


class _Listener:
    def __init__(self) -> None:
        self.heard: list[tuple[str, str, str]] = []

    @hookimpl
    def on_dag_run_success(self, dag_run: Any, msg: str) -> None:
        self.heard.append(("success", dag_run.run_id, dag_run.state))

    @hookimpl
    def on_dag_run_failed(self, dag_run: Any, msg: str) -> None:
        self.heard.append(("failed", dag_run.run_id, dag_run.state))


def _states(app: Slipstream) -> dict[str, str]:
    """Every task instance's state, "removed" ones included (``task_states`` hides them)."""
    tis = app.store.list_task_instances(dag_ids=["every"], run_ids=["r1"]).items
    return {ti.task_id: ti.state.value for ti in tis}


def _run_with_every_state(app: Slipstream) -> None:
    """Run r1 of "every", running, with a task instance in each state of ``PATHS``
    (task id = state)."""
    with DAG("every", schedule=None, start_date=START) as dag:
        for state in PATHS:
            EmptyOperator(task_id=state)
    app.register(dag, paused=True)
    app.scheduler.start_run(app.trigger("every", run_id="r1"))
    for ti in app.store.list_task_instances(dag_ids=["every"], run_ids=["r1"]).items:
        for state in PATHS[ti.task_id]:
            app.store.update_task_instances([TaskInstanceUpdate(ti_id=ti.id, state=state)])
    assert _states(app) == {state: state for state in PATHS}


@pytest.mark.parametrize(
    ("target", "expected"),
    [(DagRunState.SUCCESS, AFTER_SUCCESS), (DagRunState.FAILED, AFTER_FAILED)],
)
def test_marking_follows_airflows_rules_for_every_state(
    make_app: MakeApp, target: DagRunState, expected: dict[str, str]
) -> None:
    app = make_app()
    listener = _Listener()
    app.plugins.register(listener, name="listener")
    _run_with_every_state(app)
    would = mark_dag_run(app.store, "every", "r1", target, dry_run=True)
    assert _states(app) == {state: state for state in PATHS}  # the dry run wrote nothing
    changed = mark_dag_run(app.store, "every", "r1", target, plugins=app.plugins)
    assert sorted(ti.task_id for ti in changed) == sorted(ti.task_id for ti in would)
    assert sorted(ti.task_id for ti in changed) == sorted(
        state for state, after in expected.items() if after != state
    )
    assert _states(app) == expected
    marked = app.store.get_dag_run("every", "r1")
    assert marked is not None and marked.state == target
    assert listener.heard == [(target.value, "r1", target.value)]
    ended = {
        ti.task_id: ti
        for ti in app.store.list_task_instances(dag_ids=["every"], run_ids=["r1"]).items
    }
    for task_id in (ti.task_id for ti in changed):
        assert ended[task_id].end_date is not None and ended[task_id].start_date is not None


def test_marking_queued_changes_only_the_run(make_app: MakeApp) -> None:
    app = make_app()
    _run_with_every_state(app)
    assert mark_dag_run(app.store, "every", "r1", DagRunState.QUEUED) == []
    assert _states(app) == {state: state for state in PATHS}
    assert app.store.get_dag_run("every", "r1").state == DagRunState.QUEUED  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="not running"):
        mark_dag_run(app.store, "every", "r1", DagRunState.RUNNING)


def test_trigger_without_a_logical_date_or_with_an_interval(make_app: MakeApp) -> None:
    with DAG("daily", schedule="@daily", start_date=START) as dag:
        EmptyOperator(task_id="t")
    app = make_app(dag)
    later = datetime(2026, 5, 1, 12, tzinfo=UTC)
    dateless = trigger_dag_run(
        app.store, "daily", without_logical_date=True, run_after=later, note="n", run_id="a"
    )
    assert dateless.logical_date is None and dateless.data_interval_start is None
    assert (dateless.run_after, dateless.note) == (later, "n")
    given = trigger_dag_run(
        app.store,
        "daily",
        logical_date=later,
        data_interval=(later - timedelta(days=7), later),
        triggering_user_name="ada",
    )
    week = (later - timedelta(days=7), later)
    assert (given.data_interval_start, given.data_interval_end) == week
    assert given.triggering_user_name == "ada"
    with pytest.raises(TriggerError, match="after data_interval_end"):
        trigger_dag_run(app.store, "daily", logical_date=START, data_interval=(later, START))
    with pytest.raises(TriggerError, match="time zone"):
        trigger_dag_run(app.store, "daily", run_after=datetime(2026, 1, 1))
    with pytest.raises(TriggerError, match="cannot be given one"):
        trigger_dag_run(app.store, "daily", logical_date=START, without_logical_date=True)
    assert app.store.list_dag_runs(dag_ids=["daily"]).total == 2


def _fails() -> None:
    raise RuntimeError("not yet")


def test_a_task_marked_elsewhere_is_acted_on_at_the_next_pass(make_app: MakeApp) -> None:
    """A person marks a task waiting an hour for its retry success (from the API, say:
    not through this scheduler). The scheduler evaluated the run a moment ago, yet
    its next pass runs the downstream task: it does not wait for its periodic sweep."""
    from slipstream.operators.python import PythonOperator
    from slipstream.scheduler.marking import mark_task_instances

    with DAG("marked", schedule=None, start_date=START) as dag:
        first = PythonOperator(
            task_id="first", python_callable=_fails, retries=1, retry_delay=timedelta(hours=1)
        )
        first >> EmptyOperator(task_id="second")
    app = make_app(dag, **{"scheduler.poll_interval": 0.01})
    run = app.trigger("marked")
    app.start()
    app.scheduler.run(until=lambda: app.task_states(run)["first"] == "up_for_retry", timeout=30)
    assert app.task_states(run) == {"first": "up_for_retry", "second": "none"}

    marked = mark_task_instances(app.store, "marked", run.run_id, "first", TIS.SUCCESS)
    assert [ti.task_id for ti in marked] == ["first"]
    stamped = app.store.get_dag_run("marked", run.run_id)
    assert stamped is not None and stamped.tasks_changed_at is not None

    for _ in range(3):  # a few full passes, well within the sweep's 5 seconds
        time.sleep(0.02)
        app.scheduler.tick()
    assert app.task_states(run) == {"first": "success", "second": "success"}
    assert app.wait(run).state == "success"
