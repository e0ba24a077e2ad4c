"""Serialized DAGs: JSON documents that round-trip, a content hash that names a version,
every authoring feature represented, and (with hypothesis) random DAG shapes."""

from __future__ import annotations

import itertools
import json
import sys
import tempfile
import textwrap
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slipstream import DAG, Param, TaskGroup, dag, task
from slipstream.dag_processing.bag import DagBag
from slipstream.exceptions import DagCycleError
from slipstream.operators.bash import BashOperator
from slipstream.operators.empty import EmptyOperator
from slipstream.operators.python import PythonOperator
from slipstream.serialization import serialize_dag
from slipstream.serialized_dag import SerializedDag, content_hash, deserialize_dag

START = datetime(2024, 1, 1, tzinfo=UTC)


def noop(context: Mapping[str, Any]) -> None:
    return None


def round_trip(d: DAG) -> tuple[dict[str, Any], SerializedDag]:
    """serialize -> JSON text -> deserialize; the document must come back unchanged."""
    text = json.dumps(serialize_dag(d))
    document = json.loads(text)
    back = deserialize_dag(text)
    assert back.to_dict() == document
    assert deserialize_dag(document).to_dict() == document
    return document, back


def kitchen_sink() -> DAG:
    """A DAG that uses every authoring feature the scheduler and UI need to see."""

    @dag(
        schedule="0 6 * * 1-5",
        start_date=datetime(2024, 1, 1, tzinfo=UTC),
        end_date=datetime(2025, 1, 1, tzinfo=UTC),
        catchup=True,
        default_args={"retries": 2, "owner": "data"},
        params={"mode": Param("fast", enum=["fast", "slow"], description="speed")},
        tags=["etl", "nightly"],
        max_active_runs=3,
        max_active_tasks=7,
        description="Everything at once",
        dagrun_timeout=timedelta(hours=2),
        on_success_callback=noop,
        on_failure_callback=noop,
    )
    def kitchen(limit: int = 10) -> None:
        """# Kitchen sink"""

        @task
        def files() -> list[str]:
            return ["a", "b"]

        @task(multiple_outputs=True, retry_exponential_backoff=True, max_retry_delay=600)
        def stats() -> dict[str, int]:
            return {"n": 1}

        @task
        def process(name: str, prefix: str) -> str:
            return prefix + name

        @task.sensor(poke_interval=30, timeout=600, mode="reschedule", exponential_backoff=True)
        def ready() -> bool:
            return True

        @task.branch
        def choose() -> str:
            return "extract.load"

        start = EmptyOperator(
            task_id="start",
            pool="db",
            pool_slots=2,
            priority_weight=5,
            weight_rule="upstream",
            queue="q1",
            executor_config={"cpu": 1},
            execution_timeout=timedelta(minutes=3),
            depends_on_past=True,
            on_execute_callback=noop,
            on_retry_callback=noop,
            doc_md="Starts.",
        )
        with TaskGroup("extract", tooltip="pull data", default_args={"queue": "io"}) as extract:
            load = BashOperator(task_id="load", bash_command="echo {{ ds }} {{ params.mode }}")
            with TaskGroup("inner"):
                (
                    PythonOperator(
                        task_id="py",
                        python_callable=noop,
                        op_kwargs={"when": "{{ ds }}"},
                        params={"own": 1},
                        trigger_rule="none_failed_min_one_success",
                    )
                    << load
                )
        mapped = process.partial(prefix="p-").expand(name=files())
        BashOperator.partial(task_id="echo_each", retries=5).expand(bash_command=["a", "b"])
        start >> ready() >> choose() >> extract >> mapped
        stats()

    return kitchen()


def test_every_feature_round_trips_through_json() -> None:
    document, back = round_trip(kitchen_sink())

    assert back.dag_id == "kitchen"
    assert back.doc_md == "# Kitchen sink"
    assert back.description == "Everything at once"
    assert back.timetable_summary == "0 6 * * 1-5"
    assert (back.start_date_dt, back.end_date_dt) == (START, datetime(2025, 1, 1, tzinfo=UTC))
    assert (back.catchup, back.max_active_runs, back.max_active_tasks) == (True, 3, 7)
    assert back.dagrun_timeout_td == timedelta(hours=2)
    assert back.tags == ["etl", "nightly"]
    assert back.callbacks == {"success": True, "failure": True}
    assert back.params.resolve({}) == {"mode": "fast", "limit": 10}
    assert back.params.get_param("mode").schema == {
        "enum": ["fast", "slow"],
        "description": "speed",
    }
    assert back.task_groups == {
        "extract": {
            "label": "extract",
            "parent": None,
            "tooltip": "pull data",
            "ui_color": "CornflowerBlue",
        },
        "extract.inner": {
            "label": "inner",
            "parent": "extract",
            "tooltip": "",
            "ui_color": "CornflowerBlue",
        },
    }

    start = back.task("start")
    assert (start.pool, start.pool_slots, start.queue, start.executor_config) == (
        "db",
        2,
        "q1",
        {"cpu": 1},
    )
    assert start.execution_timeout_td == timedelta(minutes=3)
    assert start.retry_delay_td == timedelta(minutes=5)
    assert (start.retries, start.owner, start.depends_on_past, start.doc_md) == (
        2,
        "data",
        True,
        "Starts.",
    )
    assert start.callbacks == {
        "execute": True,
        "success": False,
        "failure": False,
        "retry": True,
        "skipped": False,
    }
    stats = back.task("stats")
    assert (stats.multiple_outputs, stats.retry_exponential_backoff) == (True, True)
    assert stats.max_retry_delay_td == timedelta(minutes=10)

    load = back.task("extract.load")
    assert (load.operator, load.label, load.task_group, load.queue) == (
        "BashOperator",
        "load",
        "extract",
        "io",
    )
    assert load.templates["bash_command"] == "echo {{ ds }} {{ params.mode }}"
    assert load.template_fields_renderers == {"bash_command": "bash", "env": "json"}
    py = back.task("extract.inner.py")
    assert py.trigger_rule == "none_failed_min_one_success"
    assert py.params == {
        "own": {"default": 1, "has_default": True, "description": None, "schema": {}}
    }
    assert py.templates["op_kwargs"] == {"when": "{{ ds }}"}
    assert py.task_group == "extract.inner"

    ready = back.task("ready")
    assert ready.custom_operator_name == "@task.sensor"
    assert ready.sensor == {
        "mode": "reschedule",
        "poke_interval": 30.0,
        "timeout": 600.0,
        "exponential_backoff": True,
        "max_wait": None,
        "soft_fail": False,
    }
    assert back.task("choose").custom_operator_name == "@task.branch"

    process = back.task("process")
    assert process.is_mapped is True
    assert process.expand == {
        "kind": "expand",
        "args": {"name": {"type": "xcom", "task_id": "files", "key": "return_value"}},
    }
    echo_each = back.task("echo_each")
    assert echo_each.retries == 5
    assert echo_each.expand == {
        "kind": "expand",
        "args": {"bash_command": {"type": "literal", "length": 2, "value": ["a", "b"]}},
    }
    assert sorted(process.upstream) == ["extract.inner.py", "files"]
    assert {t.task_id for t in back.roots} == {"start", "files", "stats", "echo_each"}
    # Tasks come upstream first.
    order = [t["task_id"] for t in document["tasks"]]
    for t in document["tasks"]:
        assert all(order.index(up) < order.index(t["task_id"]) for up in t["upstream"])


def test_expand_kwargs_sources_are_serialized() -> None:
    with DAG("kwargs") as d:

        @task
        def pairs() -> list[dict[str, int]]:
            return [{"x": 1}]

        @task
        def add(x: int, y: int = 0) -> int:
            return x + y

        add.expand_kwargs(pairs())
        add.override(task_id="literal").expand_kwargs([{"x": 1}, {"x": 2, "y": 3}])

    _, back = round_trip(d)
    assert back.task("add").expand == {
        "kind": "expand_kwargs",
        "args": {"*": {"type": "xcom", "task_id": "pairs", "key": "return_value"}},
    }
    assert back.task("literal").expand["args"]["*"]["length"] == 2


@pytest.mark.parametrize(
    ("rule", "totals"),
    [
        ("downstream", {"a": 1 + 2 + 4 + 8, "b": 2 + 4 + 8, "c": 4 + 8, "d": 8}),
        ("upstream", {"a": 1, "b": 1 + 2, "c": 1 + 2 + 4, "d": 1 + 2 + 4 + 8}),
        ("absolute", {"a": 1, "b": 2, "c": 4, "d": 8}),
    ],
)
def test_priority_weight_total_follows_the_weight_rule(rule: str, totals: dict[str, int]) -> None:
    with DAG("weights", default_args={"weight_rule": rule}) as d:
        a, b, c, e = (
            EmptyOperator(task_id=name, priority_weight=w)
            for name, w in (("a", 1), ("b", 2), ("c", 4), ("d", 8))
        )
        a >> b >> c >> e

    _, back = round_trip(d)
    assert {t.task_id: t.priority_weight_total for t in back.tasks.values()} == totals


def test_a_diamond_counts_each_downstream_task_once() -> None:
    with DAG("diamond") as d:
        top, left, right, bottom = (EmptyOperator(task_id=n) for n in "tlrb")
        top >> [left, right] >> bottom

    _, back = round_trip(d)
    assert back.task("t").priority_weight_total == 4


def test_a_schedule_of_each_kind_round_trips() -> None:
    for schedule in ["@once", "@daily", "*/5 * * * *", timedelta(minutes=90), None]:
        d = DAG("kinds", schedule=schedule, start_date=datetime(2024, 1, 1, tzinfo=UTC))
        _, back = round_trip(d)
        assert back.timetable == d.timetable
        assert back.timetable.summary == d.timetable.summary


def test_the_content_hash_is_stable_and_changes_with_the_dag() -> None:
    def build(retries: int = 0, command: str = "echo {{ ds }}", extra: bool = False) -> DAG:
        with DAG("hashed", schedule="@daily", start_date=START) as d:
            a = BashOperator(task_id="a", bash_command=command, retries=retries)
            b = PythonOperator(task_id="b", python_callable=noop, op_kwargs={"fn": noop})
            a >> b
            if extra:
                EmptyOperator(task_id="c")
        return d

    base = content_hash(serialize_dag(build()))
    assert base == content_hash(serialize_dag(build()))
    assert base == content_hash(json.loads(json.dumps(serialize_dag(build()))))
    assert (
        len(
            {
                base,
                content_hash(serialize_dag(build(retries=1))),
                content_hash(serialize_dag(build(command="echo {{ ds_nodash }}"))),
                content_hash(serialize_dag(build(extra=True))),
            }
        )
        == 4
    )


def test_the_content_hash_is_the_same_in_every_parse(tmp_path: Path) -> None:
    (tmp_path / "helpers_dag.py").write_text(
        textwrap.dedent(
            """
            from slipstream import DAG
            from slipstream.operators.python import PythonOperator

            class Settings:
                pass

            def helper(x):
                return x

            with DAG("stable"):
                PythonOperator(
                    task_id="p",
                    python_callable=helper,
                    op_kwargs={"fn": helper, "settings": Settings()},
                )
            """
        )
    )

    first = DagBag(tmp_path, include_examples=False, timeout=30)
    second = DagBag(tmp_path, include_examples=False, timeout=30)
    assert first.import_errors == {}
    assert first.dags["stable"].content_hash == second.dags["stable"].content_hash


def test_an_unknown_format_version_is_refused() -> None:
    document = serialize_dag(DAG("versioned"))
    document["format_version"] = 999

    with pytest.raises(ValueError, match="serialized DAG format 999 is not supported"):
        deserialize_dag(document)


def test_the_dag_bag_gives_serialized_dags_without_importing_the_dag_file(tmp_path: Path) -> None:
    (tmp_path / "not_here_dag.py").write_text(
        "from slipstream import DAG\nfrom slipstream.operators.empty import EmptyOperator\n"
        "with DAG('isolated'):\n    EmptyOperator(task_id='t')\n"
    )
    before = set(sys.modules)

    bag = DagBag(tmp_path, include_examples=False, timeout=30)

    assert bag.dags["isolated"].task("t").operator == "EmptyOperator"
    assert not [m for m in set(sys.modules) - before if "not_here_dag" in m]


# -- hypothesis: random shapes --------------------------------------------------------------


@st.composite
def dag_shapes(draw: st.DrawFn) -> dict[str, Any]:
    """A random DAG: n tasks, forward edges only (so it is acyclic), random nested groups."""
    n = draw(st.integers(min_value=1, max_value=12))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    edges = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=20)) if pairs else []
    group_count = draw(st.integers(min_value=0, max_value=3))
    # Group k's parent is the root (-1) or an earlier group: groups nest arbitrarily.
    parents = [draw(st.integers(min_value=-1, max_value=k - 1)) for k in range(group_count)]
    membership = [draw(st.integers(min_value=-1, max_value=group_count - 1)) for _ in range(n)]
    return {"n": n, "edges": edges, "parents": parents, "membership": membership}


def build_shape(shape: dict[str, Any]) -> DAG:
    with DAG("shape") as d:
        groups: list[TaskGroup] = []
        for k, parent in enumerate(shape["parents"]):
            groups.append(TaskGroup(f"g{k}", parent_group=groups[parent] if parent >= 0 else None))
        tasks = [
            EmptyOperator(task_id=f"t{i}", task_group=groups[g] if g >= 0 else None)
            for i, g in enumerate(shape["membership"])
        ]
        for i, j in shape["edges"]:
            tasks[i] >> tasks[j]
    return d


def edge_set(d: DAG) -> set[tuple[str, str]]:
    return {(t.task_id, down) for t in d.tasks for down in t.downstream_task_ids}


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(dag_shapes())
def test_random_dag_shapes_round_trip_with_identical_edges(shape: dict[str, Any]) -> None:
    d = build_shape(shape)
    document, back = round_trip(d)

    assert set(back.tasks) == set(d.task_dict)
    serialized_edges = {(t, down) for t, st_ in back.tasks.items() for down in st_.downstream}
    serialized_up = {(up, t) for t, st_ in back.tasks.items() for up in st_.upstream}
    assert serialized_edges == serialized_up == edge_set(d)
    for task_id, original in d.task_dict.items():
        group = original.task_group.group_id if original.task_group else None
        assert back.task(task_id).task_group == group
        assert task_id.endswith(original.label)
    assert set(back.task_groups) == set(d.task_group_dict)
    order = [t["task_id"] for t in document["tasks"]]
    assert all(order.index(u) < order.index(v) for u, v in edge_set(d))
    assert content_hash(document) == content_hash(serialize_dag(build_shape(shape)))


def reachable(d: DAG, start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for down in d.task_dict[todo.pop()].downstream_task_ids:
            if down not in seen:
                seen.add(down)
                todo.append(down)
    return seen


@st.composite
def shapes_with_a_back_edge(draw: st.DrawFn) -> tuple[dict[str, Any], tuple[int, int]]:
    """A random DAG with at least one edge, and a back edge from a task to one of its
    ancestors (direct or not), which closes a cycle."""
    shape = draw(dag_shapes().filter(lambda s: s["edges"]))
    d = build_shape(shape)
    closing = [
        (int(down[1:]), int(t.task_id.split(".")[-1][1:]))
        for t in d.tasks
        for down in (x.split(".")[-1] for x in reachable(d, t.task_id))
    ]
    return shape, draw(st.sampled_from(sorted(closing)))


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(shapes_with_a_back_edge())
def test_any_back_edge_that_closes_a_cycle_is_caught(
    case: tuple[dict[str, Any], tuple[int, int]],
) -> None:
    shape, (source, target) = case
    d = build_shape(shape)
    by_index = {int(t.task_id.split(".")[-1][1:]): t for t in d.tasks}
    by_index[source] >> by_index[target]

    with pytest.raises(DagCycleError) as caught:
        d.validate()
    # The message names a real cycle: every step is an edge, and it ends where it began.
    path = str(caught.value).split("has a cycle: ", 1)[1].split(" >> ")
    assert path[0] == path[-1]
    assert all((u, v) in edge_set(d) for u, v in itertools.pairwise(path))
    with pytest.raises(DagCycleError):
        serialize_dag(d)


def dag_file_text(shape: dict[str, Any], back_edge: tuple[int, int]) -> str:
    lines = [
        "from slipstream import DAG",
        "from slipstream.operators.empty import EmptyOperator",
        "",
        "with DAG('cyclic_file'):",
        f"    tasks = [EmptyOperator(task_id=f't{{i}}') for i in range({shape['n']})]",
    ]
    lines += [f"    tasks[{i}] >> tasks[{j}]" for i, j in [*shape["edges"], back_edge]]
    return "\n".join(lines) + "\n"


@settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(shapes_with_a_back_edge())
def test_a_cycle_in_a_dag_file_is_an_import_error(
    case: tuple[dict[str, Any], tuple[int, int]],
) -> None:
    shape, back_edge = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cyclic_dag.py"
        path.write_text(dag_file_text(shape, back_edge))

        bag = DagBag(folder, include_examples=False, timeout=30)

    assert bag.dags == {}
    error = bag.import_errors[str(path.resolve())]
    assert error.startswith(f"{path.resolve()}:4: DagCycleError: DAG 'cyclic_file' has a cycle: ")
