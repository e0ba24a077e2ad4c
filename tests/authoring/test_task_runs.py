"""Running single tasks with ``run_task``: final states, retries, timeouts, callbacks,
context, Variables and Connections, branching and short-circuiting."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from authoring_runner import run_dag, run_info

from slipstream import DAG, Connection, TaskGroup, Variable, get_current_context, task
from slipstream.exceptions import (
    AirflowFailException,
    AirflowSkipException,
    FailTask,
    SkipTask,
)
from slipstream.execution.runner import TaskOutcome, run_task
from slipstream.operators.bash import BashOperator
from slipstream.operators.empty import EmptyOperator
from slipstream.operators.python import (
    BranchPythonOperator,
    PythonOperator,
    ShortCircuitOperator,
)
from slipstream.sensors.base import PokeReturnValue
from slipstream.testing import MemoryTaskClient


def run_one(
    d: DAG,
    task_id: str,
    *,
    client: MemoryTaskClient | None = None,
    try_number: int = 1,
    conf: Mapping[str, Any] | None = None,
) -> TaskOutcome:
    return run_task(
        dag=d,
        task_id=task_id,
        run=run_info(d, conf=conf),
        client=client or MemoryTaskClient(),
        try_number=try_number,
    )


def raise_(exc: BaseException) -> Any:
    raise exc


# -- final states ---------------------------------------------------------------------------


def test_success_failure_and_skip() -> None:
    with DAG("states") as d:
        PythonOperator(task_id="ok", python_callable=lambda: "done")
        PythonOperator(task_id="boom", python_callable=lambda: raise_(RuntimeError("broken")))
        PythonOperator(task_id="skip", python_callable=lambda: raise_(SkipTask("not today")))
        PythonOperator(
            task_id="airflow_skip",
            python_callable=lambda: raise_(AirflowSkipException("old name")),
        )

    ok = run_one(d, "ok")
    assert (ok.state, ok.error) == ("success", None)
    boom = run_one(d, "boom")
    assert (boom.state, boom.error) == ("failed", "RuntimeError: broken")
    skip = run_one(d, "skip")
    assert (skip.state, skip.error) == ("skipped", "not today")
    assert run_one(d, "airflow_skip").state == "skipped"
    assert ok.started_at <= ok.ended_at


def test_errors_are_retried_while_tries_remain_but_fail_task_is_not() -> None:
    with DAG("retries") as d:
        PythonOperator(
            task_id="flaky", retries=2, python_callable=lambda: raise_(ValueError("try again"))
        )
        PythonOperator(
            task_id="fatal", retries=2, python_callable=lambda: raise_(FailTask("bad input"))
        )
        PythonOperator(
            task_id="fatal_airflow",
            retries=2,
            python_callable=lambda: raise_(AirflowFailException("old name")),
        )

    assert [run_one(d, "flaky", try_number=n).state for n in (1, 2, 3)] == [
        "up_for_retry",
        "up_for_retry",
        "failed",
    ]
    fatal = run_one(d, "fatal")
    assert (fatal.state, fatal.error) == ("failed", "FailTask: bad input")
    assert run_one(d, "fatal_airflow").state == "failed"


def test_execution_timeout_stops_a_sleeping_task() -> None:
    with DAG("timeouts") as d:
        PythonOperator(
            task_id="sleepy",
            python_callable=lambda: time.sleep(10),
            execution_timeout=timedelta(seconds=0.2),
        )
        PythonOperator(
            task_id="sleepy_retry",
            python_callable=lambda: time.sleep(10),
            execution_timeout=0.2,
            retries=1,
        )
        BashOperator(task_id="bash_sleep", bash_command="sleep 10", execution_timeout=0.3)

    started = time.monotonic()
    outcome = run_one(d, "sleepy")
    assert (outcome.state, outcome.error) == (
        "failed",
        "TaskTimeout: task ran longer than its execution_timeout (0.2s)",
    )
    assert run_one(d, "sleepy_retry").state == "up_for_retry"
    bash = run_one(d, "bash_sleep")
    assert bash.state == "failed"
    assert "TaskTimeout" in (bash.error or "")
    assert time.monotonic() - started < 5


def test_a_task_returning_a_non_json_value_fails_with_a_clear_message() -> None:
    with DAG("xcom_json") as d:
        PythonOperator(task_id="setty", python_callable=lambda: {1, 2})

    outcome = run_one(d, "setty")
    assert outcome.state == "failed"
    assert outcome.error is not None
    assert outcome.error.startswith(
        "TypeError: XCom 'return_value' of task 'setty' must be JSON-serializable"
    )


def test_conf_that_breaks_a_param_schema_fails_the_task() -> None:
    from slipstream import Param

    with DAG("conf_check", params={"n": Param(1, type="integer")}) as d:
        EmptyOperator(task_id="t")

    assert run_one(d, "t", conf={"n": 2}).state == "success"
    outcome = run_one(d, "t", conf={"n": "two"})
    assert outcome.state == "failed"
    assert outcome.error == (
        "ParamValidationError: param 'n': value 'two' is invalid: 'two' is not of type 'integer'"
    )


# -- callbacks ------------------------------------------------------------------------------


def test_callbacks_are_called_with_the_context_and_a_raising_one_changes_nothing() -> None:
    calls: list[tuple[str, str, Any]] = []

    def record(kind: str) -> Any:
        def callback(context: Mapping[str, Any]) -> None:
            calls.append((kind, context["ti"].task_id, context.get("exception")))

        return callback

    def broken(context: Mapping[str, Any]) -> None:
        raise RuntimeError("callback bug")

    with DAG("callbacks") as d:
        PythonOperator(
            task_id="ok",
            python_callable=lambda: 1,
            on_execute_callback=record("execute"),
            on_success_callback=[broken, record("success")],
        )
        PythonOperator(
            task_id="retry",
            python_callable=lambda: raise_(ValueError("x")),
            retries=1,
            on_retry_callback=[record("retry"), broken],
            on_failure_callback=record("failure"),
        )
        PythonOperator(
            task_id="fail",
            python_callable=lambda: raise_(ValueError("y")),
            on_failure_callback=[broken, record("failure")],
        )
        PythonOperator(
            task_id="skip",
            python_callable=lambda: raise_(SkipTask()),
            on_skipped_callback=record("skipped"),
        )

    assert run_one(d, "ok").state == "success"
    assert run_one(d, "retry").state == "up_for_retry"
    assert run_one(d, "retry", try_number=2).state == "failed"
    assert run_one(d, "fail").state == "failed"
    assert run_one(d, "skip").state == "skipped"
    assert calls == [
        ("execute", "ok", None),
        ("success", "ok", None),
        ("retry", "retry", "ValueError: x"),
        ("failure", "retry", "ValueError: x"),
        ("failure", "fail", "ValueError: y"),
        ("skipped", "skip", None),
    ]


def test_default_args_callbacks_reach_tasks() -> None:
    seen: list[str] = []
    with DAG(
        "dag_callbacks", default_args={"on_success_callback": lambda c: seen.append("ok")}
    ) as d:
        EmptyOperator(task_id="a")
        EmptyOperator(task_id="b")

    run_dag(d)
    assert seen == ["ok", "ok"]


# -- context --------------------------------------------------------------------------------


def test_get_current_context_inside_a_taskflow_task() -> None:
    with DAG("current_context", params={"who": "ada"}) as d:

        @task
        def inspect_context() -> dict[str, Any]:
            context = get_current_context()
            return {
                "ds": context["ds"],
                "run_id": context["run_id"],
                "task_id": context["ti"].task_id,
                "dag_id": context["dag"].dag_id,
                "who": context["params"]["who"],
                "try": context["ti"].try_number,
            }

        @task
        def by_name(ds: str | None = None, ti: Any = None, params: Any = None) -> list[Any]:
            return [ds, ti.task_id, params["who"]]

        inspect_context()
        by_name()

    result = run_dag(d, conf={"who": "alan"})
    assert result.xcom("inspect_context") == {
        "ds": "2024-01-02",
        "run_id": "scheduled__2024-01-02T00:00:00+00:00",
        "task_id": "inspect_context",
        "dag_id": "current_context",
        "who": "alan",
        "try": 1,
    }
    assert result.xcom("by_name") == ["2024-01-02", "by_name", "alan"]


def test_get_current_context_outside_a_task_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="works only while a task runs"):
        get_current_context()


def test_xcom_push_and_pull_through_ti() -> None:
    with DAG("ti_xcom") as d:

        def push(ti: Any) -> None:
            ti.xcom_push("greeting", "hi")

        def pull(ti: Any) -> list[Any]:
            return [
                ti.xcom_pull(task_ids="push", key="greeting"),
                ti.xcom_pull(task_ids=["push"], key="greeting"),
                ti.xcom_pull(task_ids="push", key="missing", default="dflt"),
            ]

        PythonOperator(task_id="push", python_callable=push) >> PythonOperator(
            task_id="pull", python_callable=pull
        )

    assert run_dag(d).xcom("pull") == ["hi", ["hi"], "dflt"]


# -- Variables and Connections -------------------------------------------------------------


def test_variables_from_environment_and_from_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLIPSTREAM_VAR_REGION", "eu-west-1")
    monkeypatch.setenv("SLIPSTREAM_VAR_SETTINGS", '{"batch": 100}')
    client = MemoryTaskClient(variables={"owner": "ada", "limits": json.dumps({"max": 5})})

    with DAG("variables") as d:

        @task
        def read() -> list[Any]:
            return [
                Variable.get("region"),
                Variable.get("settings", deserialize_json=True)["batch"],
                Variable.get("owner"),
                Variable.get("limits", deserialize_json=True),
                Variable.get("absent", default_var="fallback"),
            ]

        @task
        def write() -> str:
            Variable.set("written", {"a": 1}, serialize_json=True)
            return Variable.get("written")

        @task
        def missing() -> str:
            return Variable.get("absent")

        read()
        write()
        missing()

    result = run_dag(d, client=client)
    assert result.xcom("read") == ["eu-west-1", 100, "ada", {"max": 5}, "fallback"]
    assert result.xcom("write") == '{"a": 1}'
    assert client.variables["written"] == '{"a": 1}'
    assert result.states["missing"] == "failed"
    assert result.errors("missing") == ["KeyError: 'Variable absent does not exist'"]


def test_variable_set_outside_a_task_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match=r"Variable\.set\(\) needs a running task"):
        Variable.set("k", "v")


def test_connections_from_environment_and_from_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "SLIPSTREAM_CONN_WAREHOUSE",
        "postgresql://etl:s%40cret@db.example:5432/sales?sslmode=require",
    )
    monkeypatch.setenv(
        "SLIPSTREAM_CONN_API", json.dumps({"conn_type": "http", "host": "api.example", "port": 443})
    )
    client = MemoryTaskClient(
        connections={"crm": {"conn_type": "http", "host": "crm.example", "login": "bot"}}
    )

    with DAG("connections") as d:

        @task
        def read() -> list[Any]:
            wh, api, crm = Connection.get("warehouse"), Connection.get("api"), Connection.get("crm")
            return [
                wh.conn_type,
                wh.host,
                wh.port,
                wh.login,
                wh.password,
                wh.schema,
                wh.extra_dejson,
                api.host,
                api.port,
                crm.host,
                crm.login,
            ]

        @task
        def missing() -> str:
            return Connection.get("nowhere").host or ""

        read()
        missing()

    result = run_dag(d, client=client)
    assert result.xcom("read") == [
        "postgresql",
        "db.example",
        5432,
        "etl",
        "s@cret",
        "sales",
        {"sslmode": "require"},
        "api.example",
        443,
        "crm.example",
        "bot",
    ]
    assert result.errors("missing") == ['KeyError: "The conn_id `nowhere` isn\'t defined"']


# -- branching and short-circuiting ---------------------------------------------------------


def test_branch_operators_skip_the_direct_downstreams_not_chosen() -> None:
    with DAG("branches") as d:
        classic = BranchPythonOperator(task_id="classic", python_callable=lambda: "left")
        classic >> [EmptyOperator(task_id="left"), EmptyOperator(task_id="right")]

        @task.branch
        def several() -> list[str]:
            return ["a", "grp"]

        with TaskGroup("grp") as grp:
            EmptyOperator(task_id="inner")
        several() >> [EmptyOperator(task_id="a"), EmptyOperator(task_id="b"), grp]

        @task.branch
        def nowhere() -> str:
            return "left"

        nowhere() >> EmptyOperator(task_id="c")

    classic_outcome = run_one(d, "classic")
    assert classic_outcome.state == "success"
    assert classic_outcome.skip_downstream == ("right",)
    several_outcome = run_one(d, "several")
    assert several_outcome.skip_downstream == ("b",)
    bad = run_one(d, "nowhere")
    assert bad.state == "failed"
    assert bad.error == (
        "ValueError: branch task 'nowhere' returned ['left'], which are not directly "
        "downstream of it"
    )


def test_short_circuit_skips_everything_downstream_or_only_direct_downstreams() -> None:
    with DAG("short_circuits") as d:
        stop = ShortCircuitOperator(task_id="stop", python_callable=lambda: [])
        stop >> EmptyOperator(task_id="s1") >> EmptyOperator(task_id="s2")
        go = ShortCircuitOperator(task_id="go", python_callable=lambda: "yes")
        go >> EmptyOperator(task_id="g1")

        @task.short_circuit(ignore_downstream_trigger_rules=False)
        def gentle() -> bool:
            return False

        (
            gentle()
            >> EmptyOperator(task_id="h1")
            >> EmptyOperator(task_id="h2", trigger_rule="all_done")
        )

    stop_outcome = run_one(d, "stop")
    assert (stop_outcome.skip_downstream, stop_outcome.skip_recursive) == (("s1",), True)
    assert run_one(d, "go").skip_downstream == ()
    gentle_outcome = run_one(d, "gentle")
    assert (gentle_outcome.skip_downstream, gentle_outcome.skip_recursive) == (("h1",), False)

    states = run_dag(d).states
    assert (states["s1"], states["s2"], states["g1"]) == ("skipped", "skipped", "success")
    # Without ignore_downstream_trigger_rules, h2's all_done still lets it run.
    assert (states["h1"], states["h2"]) == ("skipped", "success")


# -- @task.bash and @task.sensor ------------------------------------------------------------


def test_task_bash_runs_the_returned_command() -> None:
    with DAG("bash_decorator", params={"name": "ada"}) as d:

        @task.bash
        def hello(greeting: str) -> str:
            return f"echo {greeting} {{{{ params.name }}}} {{{{ ds }}}}"

        @task.bash
        def skipper() -> str:
            return "exit 99"

        @task.bash
        def failer() -> str:
            return "exit 3"

        @task.bash
        def empty() -> str:
            return ""

        hello("hi")
        skipper()
        failer()
        empty()

    result = run_dag(d)
    assert result.xcom("hello") == "hi ada 2024-01-02"
    assert result.states["skipper"] == "skipped"
    assert result.errors("failer") == ["SlipstreamException: bash command failed: exit code 3"]
    assert result.errors("empty") == [
        "TypeError: @task.bash function empty must return a non-empty command string, got ''"
    ]


def test_task_sensor_pokes_until_done_and_can_push_a_value() -> None:
    pokes: list[int] = []

    with DAG("sensors") as d:

        @task.sensor(poke_interval=0.01, timeout=5)
        def ready() -> bool:
            pokes.append(1)
            return len(pokes) >= 3

        @task.sensor(poke_interval=0.01, timeout=5)
        def with_value() -> PokeReturnValue:
            return PokeReturnValue(is_done=True, xcom_value={"rows": 3})

        @task.sensor(poke_interval=60, timeout=3600, mode="reschedule")
        def later() -> bool:
            return False

        @task.sensor(poke_interval=0.01, timeout=0, soft_fail=True)
        def never_soft() -> bool:
            return False

        @task.sensor(poke_interval=0.01, timeout=0, retries=3)
        def never() -> bool:
            return False

        ready()
        with_value()
        later()
        never_soft()
        never()

    assert run_one(d, "ready").state == "success"
    assert len(pokes) == 3
    client = MemoryTaskClient()
    run_one(d, "with_value", client=client)
    assert client.xcoms[("sensors", run_info(d).run_id, "with_value", "return_value")] == {
        -1: {"rows": 3}
    }
    later = run_one(d, "later")
    assert later.state == "up_for_reschedule"
    assert later.reschedule_at is not None
    assert timedelta(seconds=50) < later.reschedule_at - later.started_at < timedelta(seconds=70)
    assert run_one(d, "never_soft").state == "skipped"
    never = run_one(d, "never")
    # A sensor timeout fails without using its retries.
    assert never.state == "failed"
    assert (never.error or "").startswith("SensorTimeout: sensor timed out")
