"""
### Branching with trigger rules

A branch picks one path; the others are skipped; the join still runs thanks to
its trigger rule. A task that skips itself, a clean-up that always runs, and an
alert that runs only when something failed.
"""

from datetime import datetime

from airflow import DAG
from airflow.decorators import task
from airflow.exceptions import AirflowSkipException
from airflow.operators.empty import EmptyOperator
from airflow.operators.python import BranchPythonOperator
from airflow.utils.task_group import TaskGroup
from airflow.utils.trigger_rule import TriggerRule


def choose_branch(logical_date, **_):
    return "weekday_path.start" if logical_date.weekday() < 5 else "weekend"


with DAG(
    dag_id="branching_rules",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example"],
    doc_md=__doc__,
) as dag:
    run_this_first = EmptyOperator(task_id="run_this_first")
    branching = BranchPythonOperator(task_id="branching", python_callable=choose_branch)

    with TaskGroup("weekday_path") as weekday_path:
        start = EmptyOperator(task_id="start")
        work = EmptyOperator(task_id="work")
        start >> work

    weekend = EmptyOperator(task_id="weekend")
    follow_weekend = EmptyOperator(task_id="follow_weekend")

    join = EmptyOperator(task_id="join", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)

    run_this_first >> branching >> [weekday_path, weekend]
    weekend >> follow_weekend
    [weekday_path, follow_weekend] >> join

    @task
    def fetch_new_rows():
        raise AirflowSkipException("no new rows today")

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def cleanup():
        return "cleaned"

    @task(trigger_rule="one_failed")
    def alert():
        return "something failed"

    @task.branch
    def pick_report(rows_skipped: bool = True):
        return ["summary"]

    rows = fetch_new_rows()
    join >> rows >> cleanup() >> alert()
    report = pick_report()
    join >> report >> [EmptyOperator(task_id="summary"), EmptyOperator(task_id="full_report")]
