"""Dynamic task mapping: ``.partial()``, ``.expand()`` and ``.expand_kwargs()``, run map index
by map index with ``run_task``, over literal lists and over upstream results."""

from __future__ import annotations

from typing import Any

import pytest
from authoring_runner import run_dag, run_info

from slipstream import DAG, TaskGroup, task
from slipstream.exceptions import DagDefinitionError
from slipstream.execution.runner import run_task
from slipstream.operators.bash import BashOperator
from slipstream.operators.python import PythonOperator
from slipstream.testing import MemoryTaskClient


def test_expand_over_an_upstream_result_runs_one_instance_per_item() -> None:
    with DAG("mapped_upstream") as d:

        @task
        def files() -> list[str]:
            return ["a.csv", "bb.csv", "ccc.csv"]

        @task
        def size(name: str, prefix: str) -> str:
            return f"{prefix}{len(name)}"

        @task
        def collect(sizes: list[str]) -> str:
            return ",".join(sizes)

        collect(size.partial(prefix="n=").expand(name=files()))

    assert d.get_task("size").is_mapped
    assert {(t.task_id, down) for t in d.tasks for down in t.downstream_task_ids} == {
        ("files", "size"),
        ("size", "collect"),
    }

    # Run upstream, then each map index by hand: each instance sees its own item.
    client = MemoryTaskClient()
    run = run_info(d)
    assert run_task(dag=d, task_id="files", run=run, client=client).state == "success"
    outcomes = [
        run_task(dag=d, task_id="size", run=run, client=client, map_index=i) for i in range(3)
    ]
    assert [o.state for o in outcomes] == ["success"] * 3
    assert run_task(dag=d, task_id="collect", run=run, client=client).state == "success"
    pulled = client.xcom_pull(
        dag_id=d.dag_id, run_id=run.run_id, task_id="collect", key="return_value", map_index=-1
    )
    assert pulled == "n=5,n=6,n=7"


def test_a_map_index_beyond_the_list_fails_with_a_clear_error() -> None:
    with DAG("mapped_range") as d:

        @task
        def double(x: int) -> int:
            return 2 * x

        double.expand(x=[1, 2])

    outcome = run_task(
        dag=d, task_id="double", run=run_info(d), client=MemoryTaskClient(), map_index=2
    )
    assert outcome.state == "failed"
    assert outcome.error == "IndexError: 'double' has 2 mapped instances; no map_index 2"


def test_expand_over_a_literal_list_and_a_literal_dict() -> None:
    with DAG("mapped_literal") as d:

        @task
        def double(x: int) -> int:
            return 2 * x

        @task
        def pair(item: Any) -> str:
            key, value = item
            return f"{key}={value}"

        double.expand(x=[1, 2, 3])
        pair.expand(item={"a": 1, "b": 2})

    result = run_dag(d)
    assert result.xcom("double") == [2, 4, 6]
    assert result.xcom("pair") == ["a=1", "b=2"]


def test_expanding_several_arguments_runs_their_cross_product() -> None:
    with DAG("mapped_product") as d:

        @task
        def combine(letter: str, number: int) -> str:
            return f"{letter}{number}"

        combine.expand(letter=["a", "b"], number=[1, 2, 3])

    result = run_dag(d)
    assert result.map_states["combine"] == ["success"] * 6
    assert result.xcom("combine") == ["a1", "a2", "a3", "b1", "b2", "b3"]


def test_expand_kwargs_over_a_literal_list_and_over_an_upstream_result() -> None:
    with DAG("mapped_kwargs") as d:

        @task
        def greet(name: str, greeting: str = "hello") -> str:
            return f"{greeting} {name}"

        @task
        def people() -> list[dict[str, str]]:
            return [{"name": "ada"}, {"name": "alan", "greeting": "hi"}]

        greet.expand_kwargs([{"name": "x", "greeting": "yo"}, {"name": "y"}])
        greet.override(task_id="greet_people").expand_kwargs(people())

    result = run_dag(d)
    assert result.xcom("greet") == ["yo x", "hello y"]
    assert result.xcom("greet_people") == ["hello ada", "hi alan"]


def test_classic_operators_map_with_partial_and_expand() -> None:
    with DAG("mapped_classic", default_args={"retries": 2}) as d:
        echo = BashOperator.partial(task_id="echo", env={"WHO": "world"}).expand(
            bash_command=["echo one $WHO", "echo {{ ds }}"]
        )
        PythonOperator.partial(task_id="py", python_callable=lambda x, y: x * y).expand_kwargs(
            [{"op_args": [2, 3]}, {"op_args": [4, 5]}]
        )

    assert echo.retries == 2
    result = run_dag(d)
    assert result.xcom("echo") == ["one world", "2024-01-02"]
    assert result.xcom("py") == [6, 20]


def test_mapping_over_the_result_of_a_mapped_task() -> None:
    with DAG("mapped_twice") as d:

        @task
        def numbers() -> list[int]:
            return [1, 2]

        @task
        def square(x: int) -> int:
            return x * x

        @task
        def add_one(x: int) -> int:
            return x + 1

        add_one.expand(x=square.expand(x=numbers()))

    assert run_dag(d).xcom("add_one") == [2, 5]


def test_an_empty_list_makes_zero_instances() -> None:
    with DAG("mapped_empty") as d:

        @task
        def nothing() -> list[int]:
            return []

        @task
        def each(x: int) -> int:
            return x

        each.expand(x=nothing())

    result = run_dag(d)
    assert result.map_states["each"] == []


def test_mapped_tasks_in_a_group_get_the_prefixed_id() -> None:
    with DAG("mapped_group") as d:

        @task
        def one(x: int) -> int:
            return x

        with TaskGroup("g"):
            one.expand(x=[1])

    assert d.task_ids == ["g.one"]
    assert run_dag(d).xcom("g.one") == [1]


def test_an_upstream_that_pushed_nothing_cannot_be_expanded() -> None:
    with DAG("mapped_none") as d:

        @task
        def quiet() -> None:
            return None

        @task
        def each(x: int) -> int:
            return x

        each.expand(x=quiet())

    client = MemoryTaskClient()
    run = run_info(d)
    run_task(dag=d, task_id="quiet", run=run, client=client)
    outcome = run_task(dag=d, task_id="each", run=run, client=client, map_index=0)
    assert outcome.state == "failed"
    assert outcome.error == (
        "ValueError: cannot expand 'each': upstream 'quiet' pushed no value to map over"
    )


def test_iterating_a_result_at_definition_time_points_to_expand() -> None:
    with DAG("mapped_iter"):

        @task
        def items() -> list[int]:
            return [1]

        with pytest.raises(TypeError, match=r"to run a task once per item, use \.expand\(\)"):
            for _ in items():
                pass


def test_mapping_definition_errors() -> None:
    with DAG("mapped_errors"):

        @task
        def one(x: int, y: int = 0) -> int:
            return x + y

        with pytest.raises(DagDefinitionError, match="@task one has no argument 'z' to expand"):
            one.expand(z=[1])
        with pytest.raises(DagDefinitionError, match="must be a list, a dict, or a task's output"):
            one.expand(x=5)
        with pytest.raises(DagDefinitionError, match="'x' is given to both partial"):
            one.partial(x=1).expand(x=[2])
        with pytest.raises(DagDefinitionError, match="expand\\(\\) needs at least one argument"):
            one.partial(y=1).expand()
        with pytest.raises(DagDefinitionError, match=r"BashOperator\.partial\(\) needs task_id="):
            BashOperator.partial(env={}).expand(bash_command=["true"])
        with pytest.raises(DagDefinitionError, match="BashOperator has no argument 'colour'"):
            BashOperator.partial(task_id="b").expand(colour=["red"])
        with pytest.raises(DagDefinitionError, match="expand_kwargs\\(\\) takes a list of dicts"):
            BashOperator.partial(task_id="c").expand_kwargs("bash_command=true")  # type: ignore[arg-type]
        partial = BashOperator.partial(task_id="d")
        partial.expand(bash_command=["true"])
        with pytest.raises(DagDefinitionError, match="this partial\\(\\) was already expanded"):
            partial.expand(bash_command=["false"])
