"""PythonSensor, FileSensor and TimeDeltaSensor, run the way a worker runs them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from slipstream import DAG
from slipstream.exceptions import DagDefinitionError
from slipstream.sensors.base import PokeReturnValue
from slipstream.sensors.filesystem import FileSensor
from slipstream.sensors.python import PythonSensor
from slipstream.sensors.time_delta import TimeDeltaSensor
from slipstream.state import TaskInstanceState as TIS
from slipstream.testing import MemoryTaskClient

FAST = {"poke_interval": 0.05, "timeout": 0.3}


def elapsed(outcome: Any) -> float:
    return float((outcome.ended_at - outcome.started_at).total_seconds())


def later(seconds: float, action: Callable[[], Any]) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


# -- PythonSensor -------------------------------------------------------------------------


def test_python_sensor_gets_templated_arguments_and_context(
    run: Callable[..., Any], xcom: Callable[..., Any]
) -> None:
    calls: list[tuple[str, str, str, dict[str, Any] | None]] = []

    def ready(prefix: str, *, day: str, ds: str, templates_dict: dict[str, Any] | None) -> bool:
        calls.append((prefix, day, ds, templates_dict))
        return len(calls) >= 3

    with DAG("py_sensor") as dag:
        PythonSensor(
            task_id="wait",
            python_callable=ready,
            op_args=["{{ dag.dag_id }}"],
            op_kwargs={"day": "{{ ds_nodash }}"},
            templates_dict={"run": "{{ run_id }}"},
            **FAST,
        )
    client = MemoryTaskClient()

    outcome = run(dag, "wait", client)

    assert outcome.state == TIS.SUCCESS, outcome.error
    assert len(calls) == 3
    assert calls[0] == (
        "py_sensor",
        "20240102",
        "2024-01-02",
        {"run": "scheduled__2024-01-02T00:00:00+00:00"},
    )
    assert xcom(client, dag, "wait") is None


def test_python_sensor_poke_return_value_is_the_xcom(
    run: Callable[..., Any], xcom: Callable[..., Any]
) -> None:
    with DAG("py_sensor_xcom") as dag:
        PythonSensor(
            task_id="wait",
            python_callable=lambda: PokeReturnValue(is_done=True, xcom_value={"rows": 5}),
            **FAST,
        )
    client = MemoryTaskClient()

    assert run(dag, "wait", client).state == TIS.SUCCESS
    assert xcom(client, dag, "wait") == {"rows": 5}


@pytest.mark.parametrize(("soft_fail", "state"), [(False, TIS.FAILED), (True, TIS.SKIPPED)])
def test_python_sensor_times_out(soft_fail: bool, state: TIS, run: Callable[..., Any]) -> None:
    with DAG("py_sensor_timeout") as dag:
        PythonSensor(task_id="wait", python_callable=lambda: 0, soft_fail=soft_fail, **FAST)

    outcome = run(dag, "wait", MemoryTaskClient())

    assert outcome.state == state
    assert elapsed(outcome) < 1


def test_python_sensor_rejects_a_non_callable() -> None:
    with DAG("py_sensor_bad"), pytest.raises(DagDefinitionError, match="must be callable"):
        PythonSensor(task_id="wait", python_callable="ready")  # type: ignore[arg-type]


# -- FileSensor ---------------------------------------------------------------------------


def test_file_sensor_waits_for_a_file_to_appear(tmp_path: Path, run: Callable[..., Any]) -> None:
    target = tmp_path / "incoming" / "data_20240102.csv"
    target.parent.mkdir()
    with DAG("file_sensor") as dag:
        FileSensor(
            task_id="wait",
            filepath=str(tmp_path / "incoming" / "data_{{ ds_nodash }}.csv"),
            poke_interval=0.05,
            timeout=5,
        )
    timer = later(0.15, lambda: target.write_text("a,b\n"))

    outcome = run(dag, "wait", MemoryTaskClient())

    timer.join()
    assert outcome.state == TIS.SUCCESS, outcome.error
    assert outcome.rendered_fields["filepath"] == str(target)
    assert 0.1 <= elapsed(outcome) < 2


def test_file_sensor_globs_and_recursion(tmp_path: Path, run: Callable[..., Any]) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "part-0001.parquet").write_text("x")
    with DAG("file_sensor_glob") as dag:
        FileSensor(task_id="flat", filepath=str(tmp_path / "*.parquet"), **FAST)
        FileSensor(
            task_id="deep", filepath=str(tmp_path / "**" / "*.parquet"), recursive=True, **FAST
        )
        FileSensor(task_id="folder", filepath=str(tmp_path / "a"), **FAST)

    assert run(dag, "flat", MemoryTaskClient()).state == TIS.FAILED
    assert run(dag, "deep", MemoryTaskClient()).state == TIS.SUCCESS
    assert run(dag, "folder", MemoryTaskClient()).state == TIS.SUCCESS  # a file somewhere inside


def test_an_empty_folder_is_not_enough(tmp_path: Path, run: Callable[..., Any]) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with DAG("file_sensor_empty") as dag:
        FileSensor(task_id="wait", filepath=tmp_path / "empty", soft_fail=True, **FAST)

    assert run(dag, "wait", MemoryTaskClient()).state == TIS.SKIPPED


def test_file_sensor_base_path_from_a_connection(tmp_path: Path, run: Callable[..., Any]) -> None:
    (tmp_path / "ready.flag").write_text("")
    client = MemoryTaskClient(
        connections={
            "landing": {"conn_type": "fs", "extra": {"path": str(tmp_path)}},
            "fs_default": {"conn_type": "fs", "extra": {"path": str(tmp_path)}},
        }
    )
    with DAG("file_sensor_conn") as dag:
        FileSensor(task_id="named", filepath="ready.flag", fs_conn_id="landing", **FAST)
        FileSensor(task_id="default", filepath="ready.flag", **FAST)
        FileSensor(task_id="missing", filepath="ready.flag", fs_conn_id="nope", **FAST)

    assert run(dag, "named", client).state == TIS.SUCCESS
    assert run(dag, "default", client).state == TIS.SUCCESS
    outcome = run(dag, "missing", client)
    assert outcome.state == TIS.FAILED
    assert "connection 'nope' is not defined" in (outcome.error or "")


def test_file_sensor_without_fs_default_uses_the_path_as_is(
    tmp_path: Path, run: Callable[..., Any]
) -> None:
    (tmp_path / "x.txt").write_text("")
    with DAG("file_sensor_nodefault") as dag:
        FileSensor(task_id="wait", filepath=str(tmp_path / "x.txt"), **FAST)

    assert run(dag, "wait", MemoryTaskClient()).state == TIS.SUCCESS


def test_file_sensor_in_reschedule_mode(tmp_path: Path, run: Callable[..., Any]) -> None:
    with DAG("file_sensor_reschedule") as dag:
        FileSensor(
            task_id="wait",
            filepath=str(tmp_path / "later.csv"),
            mode="reschedule",
            poke_interval=30,
            timeout=600,
        )

    outcome = run(dag, "wait", MemoryTaskClient())

    assert outcome.state == TIS.UP_FOR_RESCHEDULE
    assert outcome.reschedule_at is not None
    delay = (outcome.reschedule_at - datetime.now(UTC)).total_seconds()
    assert 29 < delay <= 30


@pytest.mark.parametrize("filepath", [None, "", 3])
def test_file_sensor_needs_a_path(filepath: Any) -> None:
    with DAG("file_sensor_bad"), pytest.raises(DagDefinitionError, match="filepath"):
        FileSensor(task_id="wait", filepath=filepath)


# -- TimeDeltaSensor ----------------------------------------------------------------------


def test_time_delta_sensor_is_done_when_the_time_has_passed(run: Callable[..., Any]) -> None:
    with DAG("td_past") as dag:
        TimeDeltaSensor(task_id="wait", delta=timedelta(hours=1), **FAST)

    outcome = run(dag, "wait", MemoryTaskClient())  # interval ended 2024-01-03

    assert outcome.state == TIS.SUCCESS


def test_time_delta_sensor_wakes_exactly_at_the_target_in_poke_mode(
    run: Callable[..., Any],
) -> None:
    with DAG("td_poke") as dag:
        TimeDeltaSensor(task_id="wait", delta=timedelta(seconds=0.25), poke_interval=60, timeout=5)
    # data_interval_end = logical_date + 1 day = now, so the target is now + 0.25s
    logical_date = datetime.now(UTC) - timedelta(days=1)

    outcome = run(dag, "wait", MemoryTaskClient(), logical_date=logical_date)

    assert outcome.state == TIS.SUCCESS
    assert 0.2 <= elapsed(outcome) < 1  # not the 60 s poke_interval


def test_time_delta_sensor_reschedules_to_the_exact_target(run: Callable[..., Any]) -> None:
    with DAG("td_reschedule") as dag:
        TimeDeltaSensor(task_id="wait", delta=timedelta(hours=2), mode="reschedule", timeout=86400)
    # data_interval_end is an hour from now, so the target is three hours from now.
    logical_date = (datetime.now(UTC) + timedelta(hours=1) - timedelta(days=1)).replace(
        microsecond=123456
    )
    first = datetime.now(UTC)

    outcome = run(dag, "wait", MemoryTaskClient(), logical_date=logical_date)
    capped = run(
        dag,
        "wait",
        MemoryTaskClient(),
        logical_date=datetime.now(UTC) + timedelta(days=30),
        first_attempt_started_at=first,
    )

    assert outcome.state == TIS.UP_FOR_RESCHEDULE
    assert outcome.reschedule_at == logical_date + timedelta(days=1, hours=2)
    # A target past the timeout: come back at the deadline, to time out there.
    assert capped.reschedule_at is not None
    assert abs((capped.reschedule_at - (first + timedelta(days=1))).total_seconds()) < 1


def test_time_delta_sensor_needs_a_date(run: Callable[..., Any]) -> None:
    with DAG("td_nodate") as dag:
        TimeDeltaSensor(task_id="wait", delta=timedelta(0), **FAST)

    outcome = run(dag, "wait", MemoryTaskClient(), logical_date=None)

    assert outcome.state == TIS.FAILED
    assert "needs a run with a data interval or a logical date" in (outcome.error or "")


def test_time_delta_sensor_needs_a_timedelta() -> None:
    with DAG("td_bad"), pytest.raises(DagDefinitionError, match="delta must be a timedelta"):
        TimeDeltaSensor(task_id="wait", delta=3600)  # type: ignore[arg-type]


def test_time_delta_sensor_delay_is_the_time_left() -> None:
    with DAG("td_hook"):
        sensor = TimeDeltaSensor(task_id="wait", delta=timedelta(seconds=10))
    now = datetime.now(UTC)
    context = {"data_interval_end": now, "logical_date": now - timedelta(days=1)}
    assert sensor.next_poke_delay(context, 1, now) == 10
    context = {"data_interval_end": now - timedelta(hours=1), "logical_date": None}
    assert sensor.next_poke_delay(context, 1, now) == 0
