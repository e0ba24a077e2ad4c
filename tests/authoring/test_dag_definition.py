"""Defining DAGs: every DAG argument, dependencies, task groups, TaskFlow and task arguments.

What a DAG author notices when writing a DAG file: the objects they get back, the
ids, the dependencies, the defaults that reach each task, and the error message
when they write something wrong.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from authoring_runner import run_dag

from slipstream import DAG, Param, TaskGroup, TriggerRule, chain, cross_downstream, dag, task
from slipstream.exceptions import (
    DagCycleError,
    DagDefinitionError,
    DuplicateTaskIdError,
    ParamValidationError,
)
from slipstream.models import BaseOperator
from slipstream.operators.bash import BashOperator
from slipstream.operators.empty import EmptyOperator
from slipstream.operators.python import PythonOperator
from slipstream.serialization import serialize_dag

START = datetime(2024, 1, 1, tzinfo=UTC)

ALL_TRIGGER_RULES = [
    "all_success",
    "all_failed",
    "all_done",
    "all_done_min_one_success",
    "all_skipped",
    "one_success",
    "one_failed",
    "one_done",
    "none_failed",
    "none_failed_min_one_success",
    "none_skipped",
    "always",
]


def edges(d: DAG) -> set[tuple[str, str]]:
    return {(t.task_id, down) for t in d.tasks for down in t.downstream_task_ids}


def noop(context: object) -> None:
    return None


# -- schedules and DAG arguments ------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "summary"),
    [
        ("0 6 * * 1-5", "0 6 * * 1-5"),
        ("*/15 * * * *", "*/15 * * * *"),
        ("@once", "@once"),
        ("@hourly", "@hourly"),
        ("@daily", "@daily"),
        ("@weekly", "@weekly"),
        ("@monthly", "@monthly"),
        ("@yearly", "@yearly"),
        (timedelta(hours=6), "6:00:00"),
        (None, "None"),
    ],
)
def test_every_schedule_form_is_accepted(schedule: object, summary: str) -> None:
    d = DAG("scheduled", schedule=schedule, start_date=START)

    assert d.timetable.summary == summary
    assert serialize_dag(d)["timetable_summary"] == summary


def test_a_time_zone_aware_start_date_sets_the_dags_time_zone() -> None:
    paris = ZoneInfo("Europe/Paris")
    d = DAG("tz", schedule="0 6 * * *", start_date=datetime(2024, 1, 1, tzinfo=paris))

    assert d.timezone == "Europe/Paris"
    assert d.start_date == datetime(2023, 12, 31, 23, 0, tzinfo=UTC)
    first = d.timetable.next_dagrun_info(
        last_interval=None,
        start_date=d.start_date,
        end_date=None,
        catchup=True,
        now=datetime(2024, 6, 1, tzinfo=UTC),
    )
    assert first is not None
    # 06:00 in Paris in winter is 05:00 UTC.
    assert first.logical_date == datetime(2024, 1, 1, 5, 0, tzinfo=UTC)


def test_a_naive_start_date_is_utc() -> None:
    d = DAG("naive", schedule="@daily", start_date=datetime(2024, 1, 1))

    assert d.timezone == "UTC"
    assert d.start_date == START


def test_start_end_dates_catchup_and_limits_are_kept() -> None:
    d = DAG(
        "limits",
        schedule="@daily",
        start_date=START,
        end_date=datetime(2024, 2, 1, tzinfo=UTC),
        catchup=True,
        max_active_runs=2,
        max_active_tasks=5,
        description="short",
        doc_md="# Long\n\ntext",
        tags=["b", "a", "b"],
        dagrun_timeout=timedelta(hours=1),
    )

    assert (d.start_date, d.end_date) == (START, datetime(2024, 2, 1, tzinfo=UTC))
    assert d.catchup is True
    assert (d.max_active_runs, d.max_active_tasks) == (2, 5)
    assert (d.description, d.doc_md) == ("short", "# Long\n\ntext")
    assert d.tags == ["a", "b"]
    assert d.dagrun_timeout == timedelta(hours=1)


def test_catchup_defaults_to_false_as_in_airflow_3() -> None:
    assert DAG("c", schedule="@daily", start_date=START).catchup is False


def test_start_date_may_come_from_default_args() -> None:
    d = DAG("from_defaults", schedule="@daily", default_args={"start_date": START})

    assert d.start_date == START


def test_schedule_interval_is_accepted_with_a_deprecation_warning() -> None:
    with pytest.warns(DeprecationWarning, match="schedule_interval is Airflow 2's name"):
        d = DAG("old", schedule_interval="@hourly", start_date=START)

    assert d.timetable.summary == "@hourly"


def test_schedule_and_schedule_interval_together_are_an_error() -> None:
    with (
        warnings.catch_warnings(),
        pytest.raises(DagDefinitionError, match="give schedule= or schedule_interval=, not both"),
    ):
        warnings.simplefilter("ignore", DeprecationWarning)
        DAG("both", schedule="@daily", schedule_interval="@daily", start_date=START)


def test_default_args_reach_every_task_and_explicit_arguments_win() -> None:
    default_args = {
        "owner": "data-team",
        "retries": 3,
        "retry_delay": timedelta(minutes=1),
        "queue": "etl",
        "pool": "db",
        "email": ["a@example.com"],
        "sla": timedelta(hours=1),  # an Airflow 2 argument slipstream ignores in default_args
    }
    with DAG("defaults", default_args=default_args) as d:
        a = EmptyOperator(task_id="a")
        b = BashOperator(task_id="b", bash_command="true", retries=0)

    assert (a.owner, a.retries, a.retry_delay, a.queue, a.pool) == (
        "data-team",
        3,
        timedelta(minutes=1),
        "etl",
        "db",
    )
    assert a.email == ["a@example.com"]
    assert b.retries == 0
    assert b.queue == "etl"
    assert d.owner == "data-team"


def test_default_args_are_copied_per_task() -> None:
    shared = {"executor_config": {"cpu": 1}}
    with DAG("copies", default_args=shared):
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")

    a.executor_config["cpu"] = 2
    assert b.executor_config == {"cpu": 1}
    assert shared["executor_config"] == {"cpu": 1}


def test_task_group_default_args_override_the_dags_and_nest() -> None:
    with DAG("group_defaults", default_args={"retries": 1, "queue": "default_q"}):
        outside = EmptyOperator(task_id="outside")
        with TaskGroup("outer", default_args={"retries": 5}):
            in_outer = EmptyOperator(task_id="t")
            with TaskGroup("inner", default_args={"queue": "inner_q"}):
                in_inner = EmptyOperator(task_id="t")

    assert (outside.retries, outside.queue) == (1, "default_q")
    assert (in_outer.retries, in_outer.queue) == (5, "default_q")
    assert (in_inner.retries, in_inner.queue) == (5, "inner_q")


def test_params_plain_values_and_param_schemas() -> None:
    d = DAG(
        "params",
        params={
            "limit": 10,
            "mode": Param("fast", enum=["fast", "slow"], description="how"),
            "when": Param(None, type=["null", "string"]),
        },
    )

    assert dict(d.params) == {"limit": 10, "mode": "fast", "when": None}
    assert d.params.resolve({"mode": "slow"}) == {"limit": 10, "mode": "slow", "when": None}
    with pytest.raises(ParamValidationError, match=r"param 'mode': value 'medium' is invalid"):
        d.params.resolve({"mode": "medium"})


def test_a_param_default_that_breaks_its_own_schema_is_an_error() -> None:
    with pytest.raises(ParamValidationError, match=r"default 'x' is invalid: 'x' is not of type"):
        Param("x", type="integer")


def test_dag_callbacks_accept_one_callable_or_a_list() -> None:
    d = DAG("callbacks", on_success_callback=noop, on_failure_callback=[noop, noop])

    assert d.on_success_callback == [noop]
    assert d.on_failure_callback == [noop, noop]
    with pytest.raises(DagDefinitionError, match="on_failure_callback must be a callable"):
        DAG("bad_callbacks", on_failure_callback="notify")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_active_runs": 0}, "max_active_runs must be an integer >= 1"),
        ({"max_active_tasks": "4"}, "max_active_tasks must be an integer >= 1"),
        ({"tags": ["ok", 3]}, "tag 3 must be a short string"),
        ({"tags": "etl"}, "tags must be a list of strings"),
        ({"schedule": "not a cron"}, "invalid cron expression 'not a cron'"),
        ({"schedule": "61 * * * *"}, "invalid cron expression '61 \\* \\* \\* \\*'"),
        ({"schedule": "@fortnightly"}, "unknown schedule preset '@fortnightly'"),
        ({"schedule": 5}, "schedule must be None, a cron string"),
        ({"schedule": timedelta(0)}, "schedule timedelta must be positive"),
        (
            {"schedule": "@daily", "start_date": None},
            "has a schedule \\(@daily\\) but no start_date",
        ),
        ({"end_date": datetime(2023, 1, 1, tzinfo=UTC)}, "end_date is before start_date"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_bad_dag_arguments_are_clear_errors(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"start_date": START, **kwargs}
    with pytest.raises(DagDefinitionError, match=message):
        DAG("bad", **arguments)  # type: ignore[arg-type]


def test_a_dag_id_with_spaces_is_rejected() -> None:
    with pytest.raises(DagDefinitionError, match="dag_id 'my dag' may contain only letters"):
        DAG("my dag")


# -- context manager and @dag -------------------------------------------------------------


def test_tasks_created_inside_the_context_manager_join_the_dag() -> None:
    with DAG("ctx") as d:
        a = EmptyOperator(task_id="a")
    outside = EmptyOperator(task_id="outside")

    assert d.task_ids == ["a"]
    assert a.dag is d
    assert outside.dag is None
    d.add_task(outside)
    assert d.task_ids == ["a", "outside"]


def test_dag_decorator_arguments_become_params_and_docstring_becomes_doc_md() -> None:
    @dag(schedule=None, params={"extra": 1})
    def pipeline(table: str = "orders", limit: int = 5) -> None:
        """Loads a table.

        Long description.
        """

        @task
        def show(table: str, limit: int) -> str:
            return f"{table}:{limit}"

        show(table, limit)

    d = pipeline()

    assert d.dag_id == "pipeline"
    assert dict(d.params) == {"extra": 1, "table": "orders", "limit": 5}
    assert d.doc_md == "Loads a table.\n\nLong description."
    assert pipeline(limit=50).params["limit"] == 50

    # At run time the arguments are the run's param values (conf overrides them).
    assert run_dag(d).xcom("show") == "orders:5"
    assert run_dag(d, conf={"table": "users"}).xcom("show") == "users:5"


def test_dag_decorator_with_an_explicit_id_and_doc_md() -> None:
    @dag("custom_id", doc_md="given", schedule="@daily", start_date=START)
    def ignored_name() -> None:
        """Not used: doc_md was given."""
        EmptyOperator(task_id="only")

    d = ignored_name()
    assert (d.dag_id, d.doc_md, d.task_ids) == ("custom_id", "given", ["only"])
    assert d.timetable.summary == "@daily"


# -- dependencies ---------------------------------------------------------------------------


def test_shift_operators_with_tasks_and_lists_on_either_side() -> None:
    with DAG("deps") as d:
        a, b, c, e, f, g = (EmptyOperator(task_id=x) for x in "abcefg")
        a >> [b, c]
        [b, c] >> e
        f << [e]
        g.set_upstream(f)
        b.set_downstream([g])

    assert edges(d) == {
        ("a", "b"),
        ("a", "c"),
        ("b", "e"),
        ("c", "e"),
        ("e", "f"),
        ("f", "g"),
        ("b", "g"),
    }


def test_shift_returns_the_right_hand_side_so_chains_read_left_to_right() -> None:
    with DAG("rshift") as d:
        a, b, c = (EmptyOperator(task_id=x) for x in "abc")
        result = a >> b >> c
        a2, b2 = EmptyOperator(task_id="a2"), EmptyOperator(task_id="b2")
        c << b2 << a2

    assert result is c
    assert edges(d) == {("a", "b"), ("b", "c"), ("a2", "b2"), ("b2", "c")}


def test_list_on_the_left_of_lshift() -> None:
    with DAG("lshift_list") as d:
        a, b, c = (EmptyOperator(task_id=x) for x in "abc")
        [a, b] << c

    assert edges(d) == {("c", "a"), ("c", "b")}


def test_chain_links_items_in_order_and_adjacent_lists_pairwise() -> None:
    with DAG("chained") as d:
        a, b, c, x, y, z = (EmptyOperator(task_id=n) for n in "abcxyz")
        chain(a, [b, c], [x, y], z)

    assert edges(d) == {("a", "b"), ("a", "c"), ("b", "x"), ("c", "y"), ("x", "z"), ("y", "z")}


def test_chain_with_lists_of_different_lengths_is_an_error() -> None:
    with DAG("bad_chain"):
        a, b, c = (EmptyOperator(task_id=n) for n in "abc")
        with pytest.raises(ValueError, match="got lengths 2 and 1"):
            chain([a, b], [c])


def test_cross_downstream_links_every_pair() -> None:
    with DAG("cross") as d:
        a, b, c, e = (EmptyOperator(task_id=n) for n in "abce")
        cross_downstream([a, b], [c, e])

    assert edges(d) == {("a", "c"), ("a", "e"), ("b", "c"), ("b", "e")}


def test_a_task_cannot_depend_on_itself() -> None:
    with DAG("selfdep"):
        a = EmptyOperator(task_id="a")
        with pytest.raises(DagDefinitionError, match="task 'a' cannot depend on itself"):
            a >> a


def test_tasks_of_different_dags_cannot_be_linked() -> None:
    with DAG("one"):
        a = EmptyOperator(task_id="a")
    with DAG("two"):
        b = EmptyOperator(task_id="b")

    with pytest.raises(
        DagDefinitionError,
        match=r"task 'a' \(DAG 'one'\) and task 'b' \(DAG 'two'\) are in different DAGs",
    ):
        a >> b


def test_tasks_outside_any_dag_cannot_be_linked() -> None:
    a, b = EmptyOperator(task_id="a"), EmptyOperator(task_id="b")

    with pytest.raises(DagDefinitionError, match="belong to no DAG"):
        a >> b


def test_a_task_outside_the_dag_joins_it_when_linked() -> None:
    with DAG("joins") as d:
        a = EmptyOperator(task_id="a")
    late = EmptyOperator(task_id="late")
    a >> late

    assert late.dag is d
    assert edges(d) == {("a", "late")}


def test_a_cycle_is_reported_with_its_path() -> None:
    with DAG("cyclic") as d:
        a, b, c = (EmptyOperator(task_id=n) for n in "abc")
        a >> b >> c >> a

    with pytest.raises(DagCycleError, match=r"DAG 'cyclic' has a cycle: (\w >> ){3}\w"):
        d.validate()
    with pytest.raises(DagCycleError):
        serialize_dag(d)


def test_duplicate_task_ids_are_an_error() -> None:
    with DAG("dups"):
        EmptyOperator(task_id="same")
        with pytest.raises(
            DuplicateTaskIdError,
            match="task id 'same' has already been added to the DAG 'dups'",
        ):
            EmptyOperator(task_id="same")


# -- task groups ----------------------------------------------------------------------------


def test_task_group_ids_are_prefixed_and_nest() -> None:
    with DAG("groups") as d:
        with TaskGroup("extract") as extract:
            one = EmptyOperator(task_id="one")
            with TaskGroup("deep"):
                two = EmptyOperator(task_id="two")
        with TaskGroup("flat", prefix_group_id=False):
            EmptyOperator(task_id="three")

    assert d.task_ids == ["extract.one", "extract.deep.two", "three"]
    assert (one.label, two.label) == ("one", "two")
    assert extract.group_id == "extract"
    assert set(d.task_group_dict) == {"extract", "extract.deep", "flat"}


def test_group_downstream_of_a_task_links_to_its_roots_and_upstream_of_a_task_from_its_leaves() -> (
    None
):
    with DAG("group_edges") as d:
        start = EmptyOperator(task_id="start")
        with TaskGroup("work") as work:
            first = EmptyOperator(task_id="first")
            second_a = EmptyOperator(task_id="second_a")
            second_b = EmptyOperator(task_id="second_b")
            first >> [second_a, second_b]
        end = EmptyOperator(task_id="end")
        start >> work >> end

    assert edges(d) == {
        ("start", "work.first"),
        ("work.first", "work.second_a"),
        ("work.first", "work.second_b"),
        ("work.second_a", "end"),
        ("work.second_b", "end"),
    }


def test_group_to_group_links_leaves_to_roots() -> None:
    with DAG("group_to_group") as d:
        with TaskGroup("a") as a:
            EmptyOperator(task_id="x") >> EmptyOperator(task_id="y")
        with TaskGroup("b") as b:
            EmptyOperator(task_id="p")
            EmptyOperator(task_id="q")
        a >> b

    assert edges(d) == {("a.x", "a.y"), ("a.y", "b.p"), ("a.y", "b.q")}


def test_task_group_errors() -> None:
    with pytest.raises(DagDefinitionError, match="TaskGroup 'lonely' must be created inside a DAG"):
        TaskGroup("lonely")
    with DAG("group_errors"):
        TaskGroup("g")
        with pytest.raises(DagDefinitionError, match="group_id 'g' is already used"):
            TaskGroup("g")
        empty = TaskGroup("empty")
        t = EmptyOperator(task_id="t")
        with pytest.raises(DagDefinitionError, match="task group 'empty' has no tasks"):
            t >> empty


# -- TaskFlow -------------------------------------------------------------------------------


def test_passing_a_result_wires_the_dependency_and_the_value() -> None:
    @dag(schedule=None)
    def flow() -> None:
        @task
        def extract() -> list[int]:
            return [1, 2, 3]

        @task
        def total(values: list[int], factor: int = 1) -> int:
            return sum(values) * factor

        total(extract(), factor=10)

    d = flow()
    assert edges(d) == {("extract", "total")}
    result = run_dag(d)
    assert result.states == {"extract": "success", "total": "success"}
    assert result.xcom("total") == 60


def test_a_classic_operators_output_feeds_a_taskflow_task() -> None:
    with DAG("mixed") as d:
        echo = BashOperator(task_id="echo", bash_command="echo hello")

        @task
        def shout(text: str) -> str:
            return text.upper()

        shout(echo.output)

    assert edges(d) == {("echo", "shout")}
    assert run_dag(d).xcom("shout") == "HELLO"


def test_multiple_outputs_pushes_each_key() -> None:
    with DAG("multi") as d:

        @task(multiple_outputs=True)
        def split():  # type: ignore[no-untyped-def]
            return {"name": "ada", "age": 36}

        @task
        def inferred() -> dict[str, int]:
            return {"x": 1}

        @task
        def describe(name: str, age: int) -> str:
            return f"{name} is {age}"

        parts = split()
        describe(parts["name"], parts["age"])
        inferred()

    result = run_dag(d)
    assert result.xcom("split", "name") == "ada"
    assert result.xcom("split", "age") == 36
    assert result.xcom("split") == {"name": "ada", "age": 36}
    assert result.xcom("inferred", "x") == 1
    assert result.xcom("describe") == "ada is 36"
    assert edges(d) == {("split", "describe")}


def test_calling_the_same_task_again_gives_numbered_ids() -> None:
    with DAG("repeat") as d:

        @task
        def step(n: int) -> int:
            return n

        step(1)
        step(2)
        step(3)
        with TaskGroup("g"):
            step(4)
            step(5)

    assert d.task_ids == ["step", "step__1", "step__2", "g.step", "g.step__1"]


def test_override_changes_task_arguments() -> None:
    with DAG("overrides") as d:

        @task(retries=1)
        def step() -> None:
            """Does one step."""

        step.override(task_id="first", retries=4, queue="fast")()
        step()

    first, plain = d.get_task("first"), d.get_task("step")
    assert (first.retries, first.queue) == (4, "fast")
    assert (plain.retries, plain.queue) == (1, "default")
    assert plain.doc_md == "Does one step."


def test_wrong_call_of_a_task_function_is_an_error() -> None:
    with DAG("bad_call"):

        @task
        def one(x: int) -> int:
            return x

        with pytest.raises(DagDefinitionError, match=r"@task one\(\): too many positional"):
            one(1, 2)


def test_taskflow_variants_build_the_matching_operators() -> None:
    with DAG("variants") as d:

        @task.branch
        def pick() -> str:
            return "a"

        @task.short_circuit
        def check() -> bool:
            return True

        @task.bash
        def command() -> str:
            return "echo hi"

        @task.sensor(poke_interval=5, timeout=60, mode="reschedule")
        def wait() -> bool:
            return True

        @task.python
        def plain() -> None:
            return None

        pick(), check(), command(), wait(), plain()

    names = {t["task_id"]: t["custom_operator_name"] for t in serialize_dag(d)["tasks"]}
    assert names == {
        "pick": "@task.branch",
        "check": "@task.short_circuit",
        "command": "@task.bash",
        "wait": "@task.sensor",
        "plain": "@task",
    }
    sensor = d.get_task("wait")
    assert (sensor.poke_interval, sensor.timeout, sensor.mode) == (  # type: ignore[attr-defined]
        timedelta(seconds=5),
        timedelta(seconds=60),
        "reschedule",
    )


# -- per-task arguments ---------------------------------------------------------------------


def test_every_per_task_argument_is_kept() -> None:
    with DAG("args") as d:
        t = PythonOperator(
            task_id="t",
            python_callable=lambda: None,
            retries=2,
            retry_delay=30,
            retry_exponential_backoff=True,
            max_retry_delay=timedelta(minutes=10),
            execution_timeout=timedelta(minutes=5),
            trigger_rule=TriggerRule.ONE_FAILED,
            depends_on_past=True,
            pool="db",
            pool_slots=2,
            priority_weight=7,
            weight_rule="absolute",
            queue="gpu",
            executor_config={"memory": "2Gi"},
            on_execute_callback=noop,
            on_success_callback=noop,
            on_failure_callback=[noop],
            on_retry_callback=noop,
            on_skipped_callback=noop,
            doc_md="Does **t**.",
        )

    assert t.retries == 2
    assert t.retry_delay == timedelta(seconds=30)
    assert t.retry_exponential_backoff is True
    assert t.max_retry_delay == timedelta(minutes=10)
    assert t.execution_timeout == timedelta(minutes=5)
    assert t.trigger_rule == "one_failed"
    assert t.depends_on_past is True
    assert (t.pool, t.pool_slots, t.priority_weight, t.weight_rule) == ("db", 2, 7, "absolute")
    assert (t.queue, t.executor_config) == ("gpu", {"memory": "2Gi"})
    assert t.on_failure_callback == [noop]
    assert t.doc_md == "Does **t**."
    data = serialize_dag(d)["tasks"][0]
    assert data["callbacks"] == {
        "execute": True,
        "success": True,
        "failure": True,
        "retry": True,
        "skipped": True,
    }


@pytest.mark.parametrize("rule", ALL_TRIGGER_RULES)
def test_all_twelve_trigger_rules_are_accepted(rule: str) -> None:
    with DAG("rules"):
        by_name = EmptyOperator(task_id="by_name", trigger_rule=rule)
        by_enum = EmptyOperator(task_id="by_enum", trigger_rule=TriggerRule(rule))

    assert by_name.trigger_rule == by_enum.trigger_rule == rule


def test_the_trigger_rule_enum_has_exactly_airflows_rules() -> None:
    assert sorted(r.value for r in TriggerRule) == sorted(ALL_TRIGGER_RULES)


def test_wait_for_downstream_implies_depends_on_past() -> None:
    with DAG("past"):
        t = EmptyOperator(task_id="t", wait_for_downstream=True)
    assert t.depends_on_past is True


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"trigger_rule": "all_good"},
            "trigger_rule 'all_good' is not one of: all_success, all_failed, all_done",
        ),
        (
            {"bogus": 1, "other": 2},
            r"invalid arguments were passed to EmptyOperator \(task_id: t\): bogus, other",
        ),
        ({"retries": -1}, "retries must be a whole number >= 0, got -1"),
        ({"retries": 1.5}, "retries must be a whole number >= 0, got 1.5"),
        ({"pool_slots": 0}, "pool_slots must be an integer >= 1, got 0"),
        ({"priority_weight": "high"}, "priority_weight must be an integer, got 'high'"),
        ({"weight_rule": "sideways"}, "weight_rule must be one of downstream, upstream, absolute"),
        ({"retry_delay": "5m"}, "retry_delay must be a timedelta or a number of seconds"),
        ({"execution_timeout": "1h"}, "execution_timeout must be a timedelta or a number"),
        ({"on_success_callback": "x"}, "on_success_callback must be a callable"),
        ({"task_id": "has space"}, "task_id 'has space' may contain only letters"),
        ({"task_id": "x" * 251}, "is longer than 250 characters"),
    ],
)
def test_bad_task_arguments_are_clear_errors(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"task_id": "t", **kwargs}
    with DAG("bad_task"), pytest.raises(DagDefinitionError, match=message):
        EmptyOperator(**arguments)  # type: ignore[arg-type]


def test_operators_take_keyword_arguments_only() -> None:
    with pytest.raises(DagDefinitionError, match="EmptyOperator takes keyword arguments only"):
        EmptyOperator("t")  # type: ignore[misc]


def test_non_json_executor_config_is_an_error_when_the_dag_is_serialized() -> None:
    with DAG("exec_config") as d:
        EmptyOperator(task_id="t", executor_config={"when": datetime(2024, 1, 1)})

    with pytest.raises(
        DagDefinitionError, match="task t: executor_config must be JSON-serializable"
    ):
        serialize_dag(d)


def test_non_json_param_default_is_an_error_when_the_dag_is_serialized() -> None:
    d = DAG("param_default", params={"since": datetime(2024, 1, 1)})

    with pytest.raises(DagDefinitionError, match="DAG param_default: params must be JSON"):
        serialize_dag(d)


def test_a_custom_operator_declares_template_fields_and_gets_default_args() -> None:
    class Greet(BaseOperator):
        template_fields = ("greeting",)

        def __init__(self, *, greeting: str, **kwargs: object) -> None:
            super().__init__(**kwargs)  # type: ignore[arg-type]
            self.greeting = greeting

        def execute(self, context: object) -> str:
            return self.greeting

    with DAG("custom", default_args={"retries": 2}) as d:
        g = Greet(task_id="greet", greeting="hello {{ ds }}")

    assert g.retries == 2
    assert run_dag(d).xcom("greet") == "hello 2024-01-02"
    with DAG("custom_bad"), pytest.raises(DagDefinitionError, match="invalid arguments"):
        Greet(task_id="g", greeting="x", colour="red")
