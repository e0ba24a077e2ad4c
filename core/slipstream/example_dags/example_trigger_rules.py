"""Trigger rules: when a task runs, given how its upstream tasks ended."""

from __future__ import annotations

from datetime import datetime

from slipstream import DAG, TriggerRule
from slipstream.operators.bash import BashOperator
from slipstream.operators.empty import EmptyOperator

with DAG(
    "example_trigger_rules",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    tags=["example", "trigger_rules"],
    doc_md="""
### Trigger rules

`fails` always fails and `succeeds` succeeds. Downstream of both:

* `all_success` (the default) ends `upstream_failed`;
* `one_success`, `all_done`, `one_failed` and `none_skipped` run;
* `cleanup` uses `all_done`: it runs whatever happened, like a `finally`.

The run as a whole fails, because a leaf task (`notify_all_success`) did not
succeed.
""",
) as dag:
    fails = BashOperator(task_id="fails", bash_command="exit 1")
    succeeds = EmptyOperator(task_id="succeeds")
    for rule in (
        TriggerRule.ALL_SUCCESS,
        TriggerRule.ONE_SUCCESS,
        TriggerRule.ALL_DONE,
        TriggerRule.ONE_FAILED,
        TriggerRule.NONE_SKIPPED,
    ):
        [fails, succeeds] >> EmptyOperator(task_id=f"notify_{rule.value}", trigger_rule=rule)
    [fails, succeeds] >> EmptyOperator(task_id="cleanup", trigger_rule=TriggerRule.ALL_DONE)
