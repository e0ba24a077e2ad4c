"""The operators and sensors that ship with the core."""

from __future__ import annotations

from collections.abc import Iterator

from slipstream.plugins import OperatorSpec, hookimpl

#: (name, "module:Class", description): listing them imports none of the modules.
BUILTIN_OPERATORS: tuple[tuple[str, str, str], ...] = (
    ("empty", "slipstream.operators.empty:EmptyOperator", "Does nothing: a join or fork point."),
    ("python", "slipstream.operators.python:PythonOperator", "Calls a Python function."),
    (
        "branch_python",
        "slipstream.operators.python:BranchPythonOperator",
        "A function picks the downstream tasks to follow; the others are skipped.",
    ),
    (
        "short_circuit",
        "slipstream.operators.python:ShortCircuitOperator",
        "Skips everything downstream when a function returns something falsy.",
    ),
    ("bash", "slipstream.operators.bash:BashOperator", "Runs a shell command with bash."),
    (
        "http",
        "slipstream.operators.http:HttpOperator",
        "Sends an HTTP request through a connection; the response goes to XCom.",
    ),
    (
        "sql",
        "slipstream.operators.sql:SQLExecuteQueryOperator",
        "Runs SQL through a connection with SQLAlchemy; the rows go to XCom.",
    ),
    (
        "generic_transfer",
        "slipstream.operators.transfer:GenericTransfer",
        "Copies a query's rows into a table of another database, page by page.",
    ),
    (
        "sql_to_file",
        "slipstream.operators.transfer:SqlToFileOperator",
        "Writes a query's rows to CSV, JSON lines or Parquet, locally or at an fsspec URL.",
    ),
    (
        "file_to_sql",
        "slipstream.operators.transfer:FileToSqlOperator",
        "Loads a CSV, JSON lines or Parquet file into a table, page by page.",
    ),
    (
        "trigger_dagrun",
        "slipstream.operators.trigger_dagrun:TriggerDagRunOperator",
        "Starts a run of another DAG and can wait for it to finish.",
    ),
    (
        "python_sensor",
        "slipstream.sensors.python:PythonSensor",
        "Waits until a Python function returns something truthy.",
    ),
    (
        "file_sensor",
        "slipstream.sensors.filesystem:FileSensor",
        "Waits for a file or glob match to appear.",
    ),
    (
        "time_delta_sensor",
        "slipstream.sensors.time_delta:TimeDeltaSensor",
        "Waits until a time span after the end of the run's data interval.",
    ),
    (
        "external_task_sensor",
        "slipstream.sensors.external_task:ExternalTaskSensor",
        "Waits for tasks, a task group or a run of another DAG.",
    ),
)


@hookimpl
def slipstream_operators() -> Iterator[OperatorSpec]:
    for name, import_path, description in BUILTIN_OPERATORS:
        yield OperatorSpec(name=name, import_path=import_path, description=description)
