"""
### Templated Bash

Jinja in bash commands: params, Variables, Connections, macros, a user macro,
a script file next to the DAG file, and a custom operator's template field.
"""

from datetime import datetime

from airflow import DAG
from airflow.models.baseoperator import BaseOperator
from airflow.models.param import Param
from airflow.operators.bash import BashOperator


class GreetOperator(BaseOperator):
    template_fields = ("name",)

    def __init__(self, name: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.name = name

    def execute(self, context):
        message = f"Hello {self.name}"
        self.log.info(message)
        return message


with DAG(
    "templated_bash",
    schedule="0 6 * * *",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params={"env": Param("dev", type="string", enum=["dev", "prod"])},
    user_defined_macros={"project": "shop"},
    tags=["example"],
    doc_md=__doc__,
) as dag:
    inline = BashOperator(
        task_id="inline",
        bash_command=(
            'echo "{{ project }} {{ params.env }} {{ var.value.region }} '
            '{{ conn.warehouse.host }} {{ ds_nodash }} {{ macros.ds_add(ds, -1) }} $RUN"'
        ),
        env={"RUN": "{{ run_id }}"},
        append_env=True,
    )
    script = BashOperator(task_id="script", bash_command="templated_bash_report.sh")
    greet = GreetOperator(task_id="greet", name="{{ params.env }} team")

    inline >> script >> greet
