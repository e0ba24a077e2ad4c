"""Sensors: wait for a condition, in poke or reschedule mode, with a timeout."""

from __future__ import annotations

from datetime import datetime, timedelta

from slipstream import DAG, task
from slipstream.operators.empty import EmptyOperator
from slipstream.sensors.filesystem import FileSensor
from slipstream.sensors.python import PythonSensor
from slipstream.sensors.time_delta import TimeDeltaSensor

with DAG(
    "example_sensors",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    tags=["example", "sensors"],
    doc_md="""
### Sensors

A sensor checks a condition (`poke`) until it holds or its `timeout` passes.
In `poke` mode it keeps its worker slot and sleeps between checks; in
`reschedule` mode it gives the slot back and the scheduler runs it again after
`poke_interval` (meanwhile its state is `up_for_reschedule`).
`exponential_backoff` makes the waits grow. With `soft_fail=True` a timeout
skips the task instead of failing it: `wait_for_file` does that here, since
`/tmp/slipstream-example-ready` usually does not exist.
""",
) as dag:
    start = EmptyOperator(task_id="start")

    def counter_reached(ti=None) -> bool:
        return ti is not None and ti.try_number >= 1

    ready = PythonSensor(
        task_id="python_condition", python_callable=counter_reached, poke_interval=1, timeout=60
    )
    later = TimeDeltaSensor(
        task_id="a_few_seconds_later",
        delta=timedelta(seconds=2),
        mode="reschedule",
        poke_interval=1,
    )
    file_there = FileSensor(
        task_id="wait_for_file",
        filepath="/tmp/slipstream-example-ready",
        poke_interval=1,
        timeout=5,
        soft_fail=True,
    )

    @task.sensor(poke_interval=1, timeout=30, mode="reschedule")
    def decorated_sensor() -> bool:
        return True

    start >> [ready, later, file_there, decorated_sensor()]
