"""BaseSensorOperator's behaviour, seen through a sensor run the way a worker runs it:
poke and reschedule modes, timeout, soft_fail, silent_fail, exponential backoff."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from slipstream import DAG
from slipstream.exceptions import DagDefinitionError, FailTask, SkipTask
from slipstream.sensors.base import BaseSensorOperator, PokeReturnValue
from slipstream.state import TaskInstanceState as TIS
from slipstream.testing import MemoryTaskClient


class CountingSensor(BaseSensorOperator):
    """Done on poke number ``done_on`` (never, if 0); may raise ``raises`` on the first poke."""

    def __init__(self, *, done_on: int = 0, raises: Exception | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.done_on = done_on
        self.raises = raises
        self.poked: list[datetime] = []  # shared with the copy the runner executes

    @property
    def pokes(self) -> int:
        return len(self.poked)

    def poke(self, context: Mapping[str, Any]) -> bool | PokeReturnValue:
        self.poked.append(datetime.now(UTC))
        if self.raises is not None and self.pokes == 1:
            raise self.raises
        return PokeReturnValue(self.pokes == self.done_on, xcom_value={"pokes": self.pokes})


def sensor_dag(**kwargs: Any) -> tuple[DAG, CountingSensor]:
    with DAG("sensing") as dag:
        sensor = CountingSensor(task_id="wait", **kwargs)
    return dag, sensor


def elapsed(outcome: Any) -> float:
    return float((outcome.ended_at - outcome.started_at).total_seconds())


def test_poke_mode_pokes_until_done_and_pushes_the_poke_value(
    run: Callable[..., Any], xcom: Callable[..., Any]
) -> None:
    dag, sensor = sensor_dag(done_on=3, poke_interval=0.05, timeout=5)
    client = MemoryTaskClient()

    outcome = run(dag, "wait", client)

    assert outcome.state == TIS.SUCCESS
    assert sensor.pokes == 3
    assert xcom(client, dag, "wait") == {"pokes": 3}
    assert 0.1 <= elapsed(outcome) < 1


def test_timeout_fails_without_retry(run: Callable[..., Any]) -> None:
    dag, sensor = sensor_dag(poke_interval=0.05, timeout=0.3, retries=3)

    outcome = run(dag, "wait", MemoryTaskClient())

    assert outcome.state == TIS.FAILED  # not up_for_retry: a timeout is final
    assert (outcome.error or "").startswith("SensorTimeout: sensor timed out after 0.3")
    assert sensor.pokes >= 4
    assert 0.3 <= elapsed(outcome) < 1


def test_soft_fail_skips_on_timeout(run: Callable[..., Any]) -> None:
    dag, _ = sensor_dag(poke_interval=0.05, timeout=0.3, soft_fail=True)

    outcome = run(dag, "wait", MemoryTaskClient())

    assert outcome.state == TIS.SKIPPED
    assert "timed out" in (outcome.error or "")


def test_a_long_poke_interval_does_not_overshoot_the_timeout(run: Callable[..., Any]) -> None:
    dag, sensor = sensor_dag(poke_interval=30, timeout=0.3)

    outcome = run(dag, "wait", MemoryTaskClient())

    assert outcome.state == TIS.FAILED
    assert sensor.pokes == 2  # one at the start, one at the deadline
    assert elapsed(outcome) < 1


def test_reschedule_mode_gives_the_slot_back(run: Callable[..., Any]) -> None:
    dag, sensor = sensor_dag(poke_interval=2, timeout=60, mode="reschedule")

    before = datetime.now(UTC)
    outcome = run(dag, "wait", MemoryTaskClient())

    assert outcome.state == TIS.UP_FOR_RESCHEDULE
    assert sensor.pokes == 1
    assert outcome.reschedule_at is not None
    assert before + timedelta(seconds=2) <= outcome.reschedule_at
    assert outcome.reschedule_at <= datetime.now(UTC) + timedelta(seconds=2)


def test_reschedule_mode_times_out_from_the_first_try(run: Callable[..., Any]) -> None:
    dag, _ = sensor_dag(poke_interval=0.05, timeout=0.3, mode="reschedule")
    dag_soft, _ = sensor_dag(poke_interval=0.05, timeout=0.3, mode="reschedule", soft_fail=True)
    long_ago = datetime.now(UTC) - timedelta(seconds=1)

    hard = run(dag, "wait", MemoryTaskClient(), first_attempt_started_at=long_ago)
    soft = run(dag_soft, "wait", MemoryTaskClient(), first_attempt_started_at=long_ago)

    assert hard.state == TIS.FAILED
    assert "SensorTimeout" in (hard.error or "")
    assert soft.state == TIS.SKIPPED


def test_reschedule_is_capped_at_the_deadline(run: Callable[..., Any]) -> None:
    dag, _ = sensor_dag(poke_interval=30, timeout=1, mode="reschedule")
    first = datetime.now(UTC) - timedelta(seconds=0.5)

    outcome = run(dag, "wait", MemoryTaskClient(), first_attempt_started_at=first)

    assert outcome.state == TIS.UP_FOR_RESCHEDULE
    assert outcome.reschedule_at is not None
    assert abs((outcome.reschedule_at - (first + timedelta(seconds=1))).total_seconds()) < 0.05


def test_exponential_backoff_doubles_up_to_max_wait() -> None:
    _, sensor = sensor_dag(poke_interval=1, exponential_backoff=True, max_wait=5)
    waits = [sensor.next_poke_interval(n) for n in range(1, 6)]

    for wait, expected in zip(waits, [1, 2, 4, 5, 5], strict=True):
        assert expected * 0.9 <= wait <= expected * 1.1 or wait == 5


def test_exponential_backoff_keeps_growing_in_reschedule_mode(run: Callable[..., Any]) -> None:
    dag, _ = sensor_dag(poke_interval=1, timeout=600, mode="reschedule", exponential_backoff=True)
    # Pokes at 0, 1, 3 and 7 seconds: this is the fourth, so the next wait is about 8s.
    first = datetime.now(UTC) - timedelta(seconds=7)

    outcome = run(dag, "wait", MemoryTaskClient(), first_attempt_started_at=first)

    assert outcome.reschedule_at is not None
    wait = (outcome.reschedule_at - datetime.now(UTC)).total_seconds()
    assert 8 * 0.9 - 0.1 <= wait <= 8 * 1.1


def test_silent_fail_pokes_again_after_an_error(run: Callable[..., Any]) -> None:
    dag, sensor = sensor_dag(
        done_on=2, raises=ConnectionError("flaky"), silent_fail=True, poke_interval=0.05
    )

    outcome = run(dag, "wait", MemoryTaskClient())

    assert outcome.state == TIS.SUCCESS
    assert sensor.pokes == 2


def test_without_silent_fail_an_error_fails_the_try(run: Callable[..., Any]) -> None:
    dag, _ = sensor_dag(done_on=2, raises=ConnectionError("flaky"), poke_interval=0.05, retries=1)

    outcome = run(dag, "wait", MemoryTaskClient())

    assert outcome.state == TIS.UP_FOR_RETRY
    assert outcome.error == "ConnectionError: flaky"


@pytest.mark.parametrize(
    ("raised", "state"), [(SkipTask("not today"), TIS.SKIPPED), (FailTask("broken"), TIS.FAILED)]
)
def test_silent_fail_does_not_hide_a_decision(
    raised: Exception, state: TIS, run: Callable[..., Any]
) -> None:
    dag, sensor = sensor_dag(done_on=2, raises=raised, silent_fail=True, poke_interval=0.05)

    outcome = run(dag, "wait", MemoryTaskClient())

    assert outcome.state == state
    assert sensor.pokes == 1


class SlowSensor(BaseSensorOperator):
    def poke(self, context: Mapping[str, Any]) -> bool:
        time.sleep(2)
        return False


def test_execution_timeout_is_not_swallowed_by_silent_fail(run: Callable[..., Any]) -> None:
    with DAG("slow_sensing") as dag:
        SlowSensor(task_id="wait", poke_interval=0.05, silent_fail=True, execution_timeout=0.2)

    outcome = run(dag, "wait", MemoryTaskClient())

    assert outcome.state == TIS.FAILED
    assert (outcome.error or "").startswith("TaskTimeout")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "sleep"}, "mode must be 'poke' or 'reschedule'"),
        ({"poke_interval": -1}, "must not be negative"),
        ({"timeout": "soon"}, "timeout must be a timedelta or a number of seconds"),
    ],
)
def test_bad_sensor_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DagDefinitionError, match=message):
        sensor_dag(**kwargs)
