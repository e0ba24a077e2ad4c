"""What the scheduler does with DAGs, run end to end on each store: states reached,
values passed, runs created, limits honoured."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from slipstream import DAG, Param, TaskGroup, TriggerRule, task
from slipstream.errors import NotFoundError
from slipstream.exceptions import FailTask, SkipTask
from slipstream.metadata.records import TaskInstanceRef
from slipstream.operators.bash import BashOperator
from slipstream.operators.empty import EmptyOperator
from slipstream.plugins import hookimpl
from slipstream.scheduler.clearing import clear_task_instances
from slipstream.scheduler.triggering import TriggerError
from slipstream.sensors.base import BaseSensorOperator
from slipstream.state import TaskInstanceState

if TYPE_CHECKING:
    from conftest import MakeApp

START = datetime(2024, 1, 1, tzinfo=UTC)


def test_a_chain_passes_values_and_succeeds(make_app: MakeApp) -> None:
    with DAG("chain", start_date=START) as dag:

        @task
        def extract() -> list[int]:
            return [1, 2, 3]

        @task
        def double(values: list[int]) -> list[int]:
            return [v * 2 for v in values]

        @task
        def total(values: list[int]) -> int:
            return sum(values)

        total(double(extract()))

    app = make_app(dag)
    run = app.wait(app.trigger("chain"))

    assert run.state == "success"
    assert app.task_states(run) == {"extract": "success", "double": "success", "total": "success"}
    assert app.xcom(run, "total") == 12
    assert run.start_date is not None and run.end_date is not None


def test_a_failure_fails_downstream_and_the_run_by_its_leaves(make_app: MakeApp) -> None:
    with DAG("fails", start_date=START) as dag:

        @task
        def boom() -> None:
            raise ValueError("bad data")

        after = EmptyOperator(task_id="after")
        cleanup = EmptyOperator(task_id="cleanup", trigger_rule=TriggerRule.ALL_DONE)
        boom() >> after >> cleanup

    app = make_app(dag)
    run = app.wait(app.trigger("fails"))

    assert app.task_states(run) == {
        "boom": "failed",
        "after": "upstream_failed",
        "cleanup": "success",
    }
    # As in Airflow, the leaves decide: the only leaf (an all_done cleanup) succeeded.
    assert run.state == "success"


def test_a_leaf_success_after_a_handled_failure_is_a_successful_run(make_app: MakeApp) -> None:
    with DAG("handled", start_date=START) as dag:
        fails = BashOperator(task_id="fails", bash_command="exit 1")
        recover = EmptyOperator(task_id="recover", trigger_rule=TriggerRule.ONE_FAILED)
        fails >> recover

    app = make_app(dag)
    run = app.wait(app.trigger("handled"))

    assert app.task_states(run) == {"fails": "failed", "recover": "success"}
    assert run.state == "success"


def test_branching_skips_the_other_path_and_the_join_runs(make_app: MakeApp) -> None:
    with DAG("branching", start_date=START) as dag:

        @task.branch
        def choose() -> str:
            return "left"

        left = EmptyOperator(task_id="left")
        right = EmptyOperator(task_id="right")
        right_next = EmptyOperator(task_id="right_next")
        join = EmptyOperator(task_id="join", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
        choose() >> [left, right]
        right >> right_next
        [left, right_next] >> join

    app = make_app(dag)
    run = app.wait(app.trigger("branching"))

    assert run.state == "success"
    assert app.task_states(run) == {
        "choose": "success",
        "left": "success",
        "right": "skipped",
        "right_next": "skipped",
        "join": "success",
    }


@pytest.mark.parametrize(("ignore_rules", "expected_join"), [(True, "skipped"), (False, "success")])
def test_short_circuit(make_app: MakeApp, ignore_rules: bool, expected_join: str) -> None:
    with DAG("short", start_date=START) as dag:

        @task.short_circuit(ignore_downstream_trigger_rules=ignore_rules)
        def is_weekday() -> bool:
            return False

        nxt = EmptyOperator(task_id="next")
        join = EmptyOperator(task_id="join", trigger_rule=TriggerRule.ALL_DONE)
        is_weekday() >> nxt >> join

    app = make_app(dag)
    run = app.wait(app.trigger("short"))

    assert app.task_states(run) == {
        "is_weekday": "success",
        "next": "skipped",
        "join": expected_join,
    }


def test_mapping_over_a_runtime_list(make_app: MakeApp) -> None:
    with DAG("mapped", start_date=START) as dag:

        @task
        def files() -> list[str]:
            return ["a", "bb", "ccc"]

        @task
        def size(name: str, factor: int) -> int:
            return len(name) * factor

        @task
        def total(sizes: list[int]) -> int:
            return sum(sizes)

        total(size.partial(factor=10).expand(name=files()))
        EmptyOperator.partial(task_id="static").expand(doc=["x", "y"])

    app = make_app(dag)
    run = app.wait(app.trigger("mapped"))

    assert run.state == "success"
    states = app.task_states(run)
    assert states == {
        "files": "success",
        "size[0]": "success",
        "size[1]": "success",
        "size[2]": "success",
        "total": "success",
        "static[0]": "success",
        "static[1]": "success",
    }
    assert [app.xcom(run, "size", map_index=i) for i in range(3)] == [10, 20, 30]
    assert app.xcom(run, "total") == 60


def test_a_mapped_leaf_finishes_before_the_run_does(make_app: MakeApp) -> None:
    with DAG("mapped_leaf", start_date=START) as dag:

        @task
        def numbers() -> list[int]:
            return [1, 2, 3]

        @task
        def double(x: int) -> int:
            return 2 * x

        double.expand(x=numbers())

    app = make_app(dag)
    run = app.wait(app.trigger("mapped_leaf"))

    assert run.state == "success"
    assert app.task_states(run) == {
        "numbers": "success",
        "double[0]": "success",
        "double[1]": "success",
        "double[2]": "success",
    }


def test_mapping_over_an_empty_list_skips(make_app: MakeApp) -> None:
    with DAG("mapped_empty", start_date=START) as dag:

        @task
        def nothing() -> list[int]:
            return []

        @task
        def each(x: int) -> int:
            return x

        each.expand(x=nothing()) >> EmptyOperator(task_id="after")

    app = make_app(dag)
    run = app.wait(app.trigger("mapped_empty"))

    assert app.task_states(run) == {"nothing": "success", "each": "skipped", "after": "skipped"}
    assert run.state == "success"


def test_mapping_with_expand_kwargs_and_a_cross_product(make_app: MakeApp) -> None:
    with DAG("mapped_kwargs", start_date=START) as dag:

        @task
        def pairs() -> list[dict[str, int]]:
            return [{"a": 1, "b": 2}, {"a": 3, "b": 4}]

        @task
        def add(a: int, b: int) -> int:
            return a + b

        @task
        def mul(x: int, y: int) -> int:
            return x * y

        add.expand_kwargs(pairs())
        mul.expand(x=[1, 2], y=[10, 100])

    app = make_app(dag)
    run = app.wait(app.trigger("mapped_kwargs"))

    assert run.state == "success"
    assert [app.xcom(run, "add", map_index=i) for i in range(2)] == [3, 7]
    assert sorted(app.xcom(run, "mul", map_index=i) for i in range(4)) == [10, 20, 100, 200]


def test_retries_until_success_keep_every_try(make_app: MakeApp, tmp_path: Path) -> None:
    counter = tmp_path / "attempts"

    with DAG("retries", start_date=START) as dag:

        @task(retries=3, retry_delay=0)
        def flaky() -> str:
            attempts = int(counter.read_text()) if counter.exists() else 0
            counter.write_text(str(attempts + 1))
            if attempts < 2:
                raise RuntimeError(f"transient #{attempts + 1}")
            return "ok"

        flaky()

    app = make_app(dag)
    run = app.wait(app.trigger("retries"))

    assert run.state == "success"
    ref = TaskInstanceRef(dag_id="retries", run_id=run.run_id, task_id="flaky")
    tries = app.store.list_task_instance_tries(ref)
    assert [(t.try_number, t.state) for t in tries] == [
        (1, TaskInstanceState.UP_FOR_RETRY),
        (2, TaskInstanceState.UP_FOR_RETRY),
        (3, TaskInstanceState.SUCCESS),
    ]
    logs = sorted((tmp_path / "home" / "logs").rglob("attempt=*.log"))
    assert [p.name for p in logs] == ["attempt=1.log", "attempt=2.log", "attempt=3.log"]
    assert "RuntimeError: transient #1" in logs[0].read_text()


def test_retry_waits_for_its_delay_with_exponential_backoff(make_app: MakeApp) -> None:
    with DAG("backoff", start_date=START) as dag:

        @task(retries=5, retry_delay=timedelta(minutes=10), retry_exponential_backoff=True)
        def fails() -> None:
            raise RuntimeError("down")

        fails()

    app = make_app(dag)
    run = app.trigger("backoff")
    app.start()
    app.scheduler.start_run(run)
    for _ in range(5):
        app.scheduler.tick()
    ti = app.store.get_task_instance(
        TaskInstanceRef(dag_id="backoff", run_id=run.run_id, task_id="fails")
    )

    assert ti is not None and ti.state == TaskInstanceState.UP_FOR_RETRY
    assert ti.try_number == 1
    assert ti.next_retry_at is not None and ti.end_date is not None
    assert timedelta(minutes=9) < ti.next_retry_at - ti.end_date <= timedelta(minutes=10)


def test_fail_task_and_timeouts_fail_without_using_retries(make_app: MakeApp) -> None:
    with DAG("no_retry", start_date=START) as dag:

        @task(retries=3)
        def refuse() -> None:
            raise FailTask("input is wrong; retrying will not help")

        @task(retries=0, execution_timeout=timedelta(seconds=0.5))
        def slow() -> None:
            import time

            time.sleep(10)

        @task
        def skip_me() -> None:
            raise SkipTask("nothing to do today")

        refuse()
        slow()
        skip_me()

    app = make_app(dag)
    run = app.wait(app.trigger("no_retry"))

    assert app.task_states(run) == {"refuse": "failed", "slow": "failed", "skip_me": "skipped"}
    ti = app.store.get_task_instance(
        TaskInstanceRef(dag_id="no_retry", run_id=run.run_id, task_id="refuse")
    )
    assert ti is not None and ti.try_number == 1


def test_priority_weight_orders_the_queue(make_app: MakeApp, tmp_path: Path) -> None:
    order = tmp_path / "order"

    def record(name: str) -> Any:
        def run() -> None:
            with order.open("a") as fh:
                fh.write(name + "\n")

        return run

    with DAG("priorities", start_date=START) as dag:
        for name, weight in (("low", 1), ("high", 10), ("mid", 5)):
            task(record(name), task_id=name, priority_weight=weight)()

    app = make_app(dag)
    run = app.wait(app.trigger("priorities"))

    assert run.state == "success"
    assert order.read_text().split() == ["high", "mid", "low"]


def test_params_reach_tasks_and_bad_conf_is_refused(make_app: MakeApp) -> None:
    with DAG(
        "params",
        start_date=START,
        params={"n": Param(2, type="integer", minimum=1), "name": "x"},
    ) as dag:

        @task
        def show(params: dict[str, Any] | None = None) -> str:
            assert params is not None
            return f"{params['name']}*{params['n']}"

        show()

    app = make_app(dag)
    run = app.wait(app.trigger("params", conf={"n": 5}))
    assert app.xcom(run, "show") == "x*5"
    assert run.conf == {"n": 5}

    with pytest.raises(TriggerError, match="param 'n': value 0 is invalid"):
        app.trigger("params", conf={"n": 0})
    with pytest.raises(NotFoundError, match="DAG 'nope' not found"):
        app.trigger("nope")
    assert app.store.list_dag_runs(dag_ids=["params"]).total == 1


def test_templates_render_with_the_run(make_app: MakeApp) -> None:
    with DAG("templated", start_date=START, schedule="@daily", params={"x": "v"}) as dag:
        BashOperator(task_id="echo", bash_command="echo {{ ds }} {{ run_id }} {{ params.x }}")

    app = make_app(dag)
    run = app.wait(
        app.trigger("templated", logical_date=datetime(2024, 3, 5, tzinfo=UTC), run_id="r1")
    )

    assert app.xcom(run, "echo") == "2024-03-05 r1 v"
    ti = app.store.get_task_instance(
        TaskInstanceRef(dag_id="templated", run_id="r1", task_id="echo")
    )
    assert ti is not None and ti.rendered_fields is not None
    assert ti.rendered_fields["bash_command"] == "echo 2024-03-05 r1 v"


def test_sensor_in_reschedule_mode_gives_its_slot_back(make_app: MakeApp, tmp_path: Path) -> None:
    flag = tmp_path / "ready"

    class FlagSensor(BaseSensorOperator):
        def poke(self, context: Any) -> bool:
            return flag.exists()

    with DAG("sensing", start_date=START) as dag:
        FlagSensor(task_id="wait", mode="reschedule", poke_interval=0.05, timeout=30) >> (
            EmptyOperator(task_id="after")
        )

    app = make_app(dag)
    run = app.trigger("sensing")
    app.start()
    app.scheduler.start_run(run)
    seen = set()
    for _ in range(6):
        app.scheduler.tick()
        ti = app.store.get_task_instance(
            TaskInstanceRef(dag_id="sensing", run_id=run.run_id, task_id="wait")
        )
        assert ti is not None
        seen.add(ti.state)
    assert TaskInstanceState.UP_FOR_RESCHEDULE in seen
    flag.write_text("go")
    final = app.wait(run)

    assert final.state == "success"
    assert app.task_states(final) == {"wait": "success", "after": "success"}
    assert ti.try_number == 1  # reschedules are pokes of one try, not new tries


def test_depends_on_past_waits_for_the_previous_run(make_app: MakeApp, tmp_path: Path) -> None:
    switch = tmp_path / "fail"
    switch.write_text("1")

    with DAG("past", start_date=START, schedule="@daily") as dag:

        @task(depends_on_past=True)
        def step() -> None:
            if switch.exists():
                raise RuntimeError("first run fails")

        step()

    app = make_app(dag)
    first = app.wait(app.trigger("past", logical_date=START))
    assert first.state == "failed"
    switch.unlink()
    second = app.trigger("past", logical_date=START + timedelta(days=1))
    app.scheduler.start_run(second)
    for _ in range(5):
        app.scheduler.tick()

    assert app.task_states(second) == {"step": "none"}

    clear_task_instances(app.store, "past", run_ids=[first.run_id])
    assert app.wait(first).state == "success"
    assert app.wait(second).state == "success"


def test_pools_limit_concurrent_tries(make_app: MakeApp, tmp_path: Path) -> None:
    with DAG("pooled", start_date=START) as dag:
        for i in range(4):
            BashOperator(
                task_id=f"t{i}",
                pool="single",
                bash_command=(
                    f"echo start >> {tmp_path}/events; sleep 0.2; echo end >> {tmp_path}/events"
                ),
            )

    app = make_app(dag, executor="local", **{"core.parallelism": 4})
    app.store.set_pool("single", 1)
    run = app.wait(app.trigger("pooled"), timeout=60)

    assert run.state == "success"
    events = (tmp_path / "events").read_text().split()
    assert events == ["start", "end"] * 4  # never two at once


def test_max_active_tasks_limits_a_dag(make_app: MakeApp, tmp_path: Path) -> None:
    with DAG("limited", start_date=START, max_active_tasks=2) as dag:
        for i in range(4):
            BashOperator(
                task_id=f"t{i}",
                bash_command=f"echo + >> {tmp_path}/e; sleep 0.3; echo - >> {tmp_path}/e",
            )

    app = make_app(dag, executor="local", **{"core.parallelism": 4})
    run = app.wait(app.trigger("limited"), timeout=60)

    assert run.state == "success"
    running, peak = 0, 0
    for mark in (tmp_path / "e").read_text().split():
        running += 1 if mark == "+" else -1
        peak = max(peak, running)
    assert peak == 2


def test_schedules_create_runs_with_catchup_and_max_active_runs(make_app: MakeApp) -> None:
    now = datetime.now(UTC)
    start = (now - timedelta(days=5)).replace(hour=0, minute=0, second=0, microsecond=0)
    with DAG("daily", schedule="@daily", start_date=start, catchup=True, max_active_runs=2) as d1:
        EmptyOperator(task_id="t")
    with DAG("latest_only", schedule="@daily", start_date=start, catchup=False) as d2:
        EmptyOperator(task_id="t")

    app = make_app(d1, d2)
    app.start()
    app.scheduler.create_scheduled_runs(now)
    runs = app.store.list_dag_runs(dag_ids=["daily"], order_by="logical_date").items
    assert [r.logical_date for r in runs] == [start, start + timedelta(days=1)]
    assert all(r.run_type == "scheduled" and r.state == "queued" for r in runs)
    latest = app.store.list_dag_runs(dag_ids=["latest_only"]).items
    assert len(latest) == 1
    yesterday = (now - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert latest[0].logical_date == yesterday
    assert latest[0].data_interval_end == yesterday + timedelta(days=1)

    # Runs finish, and catch-up continues up to the last complete day.
    app.scheduler.run(
        until=lambda: app.store.list_dag_runs(dag_ids=["daily"], states=["success"]).total == 5,
        timeout=60,
    )
    assert app.store.list_dag_runs(dag_ids=["daily"]).total == 5


def test_runs_of_a_paused_dag_wait(make_app: MakeApp) -> None:
    with DAG("paused", start_date=START) as dag:
        EmptyOperator(task_id="t")

    app = make_app(dag)
    app.store.set_dag_paused("paused", True)
    run = app.trigger("paused")
    app.start()
    for _ in range(3):
        app.scheduler.tick()
    assert app.store.get_dag_run("paused", run.run_id).state == "queued"  # type: ignore[union-attr]

    app.store.set_dag_paused("paused", False)
    app.scheduler.run(
        until=lambda: app.store.get_dag_run("paused", run.run_id).state == "success",  # type: ignore[union-attr]
        timeout=30,
    )


def test_dagrun_timeout_fails_the_run(make_app: MakeApp) -> None:
    with DAG("too_long", start_date=START, dagrun_timeout=timedelta(seconds=0.3)) as dag:
        BashOperator(task_id="sleep", bash_command="sleep 5")
        EmptyOperator(task_id="later", trigger_rule=TriggerRule.ALL_DONE)

    app = make_app(dag, executor="local")
    run = app.wait(app.trigger("too_long"), timeout=30)

    assert run.state == "failed"


def test_clearing_a_failed_task_runs_it_again(make_app: MakeApp, tmp_path: Path) -> None:
    switch = tmp_path / "broken"
    switch.write_text("yes")

    with DAG("clearable", start_date=START) as dag:

        @task
        def step() -> str:
            if switch.exists():
                raise RuntimeError("broken")
            return "fixed"

        step() >> EmptyOperator(task_id="after")

    app = make_app(dag)
    run = app.wait(app.trigger("clearable"))
    assert app.task_states(run) == {"step": "failed", "after": "upstream_failed"}

    switch.unlink()
    result = clear_task_instances(
        app.store, "clearable", task_regex="^step$", include_downstream=True
    )
    assert sorted(ti.task_id for ti in result.cleared) == ["after", "step"]
    assert app.store.get_dag_run("clearable", run.run_id).state == "queued"  # type: ignore[union-attr]

    rerun = app.wait(run)
    assert rerun.state == "success"
    assert app.xcom(rerun, "step") == "fixed"
    ti = app.store.get_task_instance(
        TaskInstanceRef(dag_id="clearable", run_id=run.run_id, task_id="step")
    )
    assert ti is not None and ti.try_number == 2


def test_task_groups_run_with_prefixed_ids(make_app: MakeApp) -> None:
    with DAG("grouped", start_date=START) as dag:
        start = EmptyOperator(task_id="start")
        with TaskGroup("etl") as etl:

            @task
            def a() -> int:
                return 1

            @task
            def b(x: int) -> int:
                return x + 1

            b(a())
        start >> etl >> EmptyOperator(task_id="end")

    app = make_app(dag)
    run = app.wait(app.trigger("grouped"))

    assert app.task_states(run) == {
        "start": "success",
        "etl.a": "success",
        "etl.b": "success",
        "end": "success",
    }
    assert app.xcom(run, "etl.b") == 2


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    @hookimpl
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        self.events.append(("success", task_instance.task_id))

    @hookimpl
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
        self.events.append(("failed", f"{task_instance.task_id}: {error}"))

    @hookimpl
    def on_dag_run_failed(self, dag_run: Any, msg: str) -> None:
        self.events.append(("run_failed", msg))


class Broken:
    @hookimpl
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        raise RuntimeError("listener bug")


def test_listeners_hear_events_and_a_broken_one_changes_nothing(
    store_url: str, tmp_path: Path
) -> None:
    from slipstream.runtime import Slipstream

    with DAG("heard", start_date=START) as dag:
        ok = EmptyOperator(task_id="ok")

        @task
        def bad() -> None:
            raise ValueError("nope")

        ok >> bad()

    recorder = Recorder()
    with Slipstream(
        {
            "core.metadata": store_url,
            "core.executor": "sequential",
            "core.load_examples": False,
            "logging.base_log_folder": str(tmp_path / "logs"),
        },
        dags=[dag],
        plugins=[Broken(), recorder],
        environ={"SLIPSTREAM_HOME": str(tmp_path)},
    ) as app:
        run = app.wait(app.trigger("heard"))

    assert app.task_states(run) == {"ok": "success", "bad": "failed"}
    assert ("success", "ok") in recorder.events
    assert ("failed", "bad: ValueError: nope") in recorder.events
    assert ("run_failed", "task failed: bad") in recorder.events


@pytest.mark.parametrize("executor", ["sequential", "local"])
def test_dag_callbacks_run_when_the_run_ends(
    make_app: MakeApp, tmp_path: Path, executor: str
) -> None:
    record = tmp_path / "callbacks"

    def on_success(context: Any) -> None:
        with record.open("a") as fh:
            fh.write(f"success {context['dag_run'].run_id} {context['reason']}\n")

    def on_failure(context: Any) -> None:
        with record.open("a") as fh:
            fh.write(f"failure {context['dag_run'].run_id} {context['reason']}\n")

    def broken(context: Any) -> None:
        raise RuntimeError("callback bug")

    with DAG(
        "called_back",
        start_date=START,
        on_success_callback=[broken, on_success],
        on_failure_callback=on_failure,
        params={"fail": False},
    ) as dag:

        @task
        def work(params: dict[str, Any] | None = None) -> None:
            assert params is not None
            if params["fail"]:
                raise ValueError("asked to fail")

        work()

    app = make_app(dag, executor=executor)
    ok = app.wait(app.trigger("called_back", run_id="ok"))
    bad = app.wait(app.trigger("called_back", run_id="bad", conf={"fail": True}))
    deadline = time.monotonic() + 20
    while len(record.read_text().splitlines() if record.exists() else []) < 2:
        app.scheduler.tick()
        assert time.monotonic() < deadline, "the callbacks never ran"
        time.sleep(0.05)

    assert (ok.state, bad.state) == ("success", "failed")
    assert sorted(record.read_text().splitlines()) == [
        "failure bad task failed: work",
        "success ok success",
    ]
    log = tmp_path / "home" / "logs" / "dag_id=called_back" / "run_id=ok" / "dag_callbacks.log"
    assert "RuntimeError: callback bug" in log.read_text()
