"""Jinja templates: dates, params, macros, Variables and the run's context."""

from __future__ import annotations

from datetime import datetime

from slipstream import DAG
from slipstream.operators.bash import BashOperator

with DAG(
    "example_templating",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "templating"],
    params={"table": "orders"},
    user_defined_macros={"project": "slipstream"},
    doc_md="""
### Templating

Fields listed in an operator's `template_fields` are rendered with Jinja just
before the task runs. The context has Airflow's names: `ds`, `ds_nodash`, `ts`,
`logical_date`, `data_interval_start`, `data_interval_end`, `run_id`, `params`,
`ti`, `macros` (`macros.ds_add(ds, 7)`), `var.value.<name>` and
`var.json.<name>` for Variables, and `conn.<id>` for Connections.
`slipstream tasks render example_templating show_dates` prints the result.
""",
) as dag:
    BashOperator(
        task_id="show_dates",
        bash_command=(
            "echo 'ds={{ ds }} next_week={{ macros.ds_add(ds, 7) }} "
            "interval={{ data_interval_start }}..{{ data_interval_end }} "
            "table={{ params.table }} project={{ project }} "
            'mode={{ var.value.get("mode", "default") }}\''
        ),
    )
