"""Shell commands with templates, retries and a join."""

from __future__ import annotations

from datetime import datetime, timedelta

from slipstream import DAG
from slipstream.operators.bash import BashOperator
from slipstream.operators.empty import EmptyOperator

with DAG(
    "example_bash_operator",
    schedule="0 0 * * *",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    dagrun_timeout=timedelta(minutes=60),
    tags=["example", "bash"],
    params={"greeting": "hello"},
    default_args={"retries": 1, "retry_delay": timedelta(seconds=5)},
    doc_md="""
### Bash operator

`BashOperator` runs a command with `bash -c`. Its `bash_command` is a Jinja
template: `{{ ds }}` is the run's logical date, `{{ params.greeting }}` a param
you can change in the trigger form. The last line the command prints becomes the
task's XCom. Each `runme_i` task runs in parallel; `run_after_loop` waits for all.
""",
) as dag:
    run_this_last = EmptyOperator(task_id="run_this_last")
    run_after_loop = BashOperator(task_id="run_after_loop", bash_command="echo 'all looped'")
    for i in range(3):
        (
            BashOperator(
                task_id=f"runme_{i}",
                bash_command='echo "{{ params.greeting }} from {{ task_instance_key_str }}"',
            )
            >> run_after_loop
        )
    also_run_this = BashOperator(
        task_id="also_run_this",
        bash_command='echo "ti_key={{ ti.task_id }} ds={{ ds }} ds_nodash={{ ds_nodash }}"',
    )
    run_after_loop >> run_this_last
    also_run_this >> run_this_last
