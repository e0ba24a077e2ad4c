"""A DAG using every built-in operator and sensor serializes for the scheduler and UI."""

from __future__ import annotations

import json
from datetime import timedelta

from slipstream import DAG
from slipstream.operators.http import HttpOperator
from slipstream.operators.sql import SQLExecuteQueryOperator
from slipstream.operators.transfer import FileToSqlOperator, GenericTransfer, SqlToFileOperator
from slipstream.operators.trigger_dagrun import TriggerDagRunOperator
from slipstream.sensors.external_task import ExternalTaskSensor
from slipstream.sensors.filesystem import FileSensor
from slipstream.sensors.python import PythonSensor
from slipstream.sensors.time_delta import TimeDeltaSensor
from slipstream.serialization import serialize_dag
from slipstream.serialized_dag import deserialize_dag


def test_every_builtin_serializes_and_round_trips() -> None:
    with DAG("everything") as dag:
        http = HttpOperator(
            task_id="http", endpoint="x/{{ ds }}", method="GET", response_check=bool
        )
        sql = SQLExecuteQueryOperator(task_id="sql", conn_id="db", sql="SELECT '{{ ds }}'")
        trigger = TriggerDagRunOperator(
            task_id="trigger", trigger_dag_id="other", conf={"x": "{{ ds }}"}, poke_interval=5
        )
        python = PythonSensor(task_id="py", python_callable=bool, mode="reschedule")
        file = FileSensor(task_id="file", filepath="/tmp/{{ ds }}", poke_interval=30)
        delta = TimeDeltaSensor(task_id="delta", delta=timedelta(hours=1))
        external = ExternalTaskSensor(
            task_id="external", external_dag_id="other", external_task_id="t", timeout=600
        )
        copy = GenericTransfer(
            task_id="copy",
            source_conn_id="a",
            destination_conn_id="b",
            sql="SELECT * FROM t WHERE day = '{{ ds }}'",
            destination_table="t",
            preoperator=["DELETE FROM t WHERE day = '{{ ds }}'"],
            insert_args={"target_fields": ["day"]},
        )
        export = SqlToFileOperator(
            task_id="export", conn_id="a", sql="SELECT 1", path="/tmp/{{ ds }}.csv"
        )
        load = FileToSqlOperator(
            task_id="load", conn_id="b", table="t", path="/tmp/{{ ds }}.jsonl", page_size=500
        )
        http >> sql >> trigger >> [python, file, delta, external]
        sql >> copy >> export >> load

    document = json.loads(json.dumps(serialize_dag(dag)))
    tasks = {t["task_id"]: t for t in document["tasks"]}

    assert tasks["http"]["templates"] == {"endpoint": "x/{{ ds }}", "data": None, "headers": {}}
    assert tasks["sql"]["templates"]["sql"] == "SELECT '{{ ds }}'"
    assert tasks["trigger"]["templates"]["conf"] == {"x": "{{ ds }}"}
    assert tasks["trigger"]["sensor"] is None
    assert tasks["copy"]["templates"]["preoperator"] == ["DELETE FROM t WHERE day = '{{ ds }}'"]
    assert tasks["copy"]["templates"]["insert_args"] == {"target_fields": ["day"]}
    assert tasks["export"]["templates"]["path"] == "/tmp/{{ ds }}.csv"
    assert tasks["load"]["operator_module"] == "slipstream.operators.transfer"
    assert tasks["py"]["sensor"]["mode"] == "reschedule"
    assert tasks["file"]["sensor"]["poke_interval"] == 30
    assert tasks["external"]["sensor"]["timeout"] == 600
    assert tasks["delta"]["operator_module"] == "slipstream.sensors.time_delta"
    assert set(deserialize_dag(document).tasks) == set(tasks)
