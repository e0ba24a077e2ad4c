"""
### Tutorial ETL

Airflow's classic tutorial shape: default_args for every task, a templated
BashOperator, PythonOperators talking through XCom, and a fan-out.
"""

from datetime import datetime, timedelta
from textwrap import dedent

from airflow import DAG
from airflow.models.baseoperator import chain
from airflow.operators.bash import BashOperator
from airflow.operators.python import PythonOperator

default_args = {
    "owner": "data-eng",
    "depends_on_past": False,
    "email": ["airflow@example.com"],
    "email_on_failure": False,
    "email_on_retry": False,
    "retries": 1,
    "retry_delay": timedelta(minutes=5),
}


def extract(**context):
    orders = [{"id": 1, "amount": 12.5}, {"id": 2, "amount": 7.5}, {"id": 3, "amount": 30.0}]
    context["ti"].xcom_push(key="orders", value=orders)


def transform(ti, ds):
    orders = ti.xcom_pull(task_ids="extract", key="orders")
    return {"day": ds, "total": sum(order["amount"] for order in orders), "count": len(orders)}


def load(**kwargs):
    summary = kwargs["ti"].xcom_pull(task_ids="transform")
    return f"{summary['day']}: {summary['count']} orders, {summary['total']:.2f}"


with DAG(
    "tutorial_etl",
    default_args=default_args,
    description="A simple tutorial DAG",
    schedule=timedelta(days=1),
    start_date=datetime(2021, 1, 1),
    catchup=False,
    tags=["example"],
) as dag:
    dag.doc_md = __doc__

    print_date = BashOperator(task_id="print_date", bash_command='date -d "{{ ds }}" +%A')
    print_date.doc_md = dedent(
        """\
        #### Task documentation
        Prints the day of the week.
        """
    )
    sleep = BashOperator(task_id="sleep", depends_on_past=False, bash_command="sleep 0", retries=3)
    templated_command = dedent(
        """
        {% for i in range(3) %}
            echo "{{ ds }} + {{ i }} week(s) = {{ macros.ds_add(ds, 7 * i) }}"
        {% endfor %}
        echo "{{ params.my_param }}"
        """
    )
    templated = BashOperator(
        task_id="templated",
        depends_on_past=False,
        bash_command=templated_command,
        params={"my_param": "Parameter I passed in"},
    )

    extract_task = PythonOperator(task_id="extract", python_callable=extract)
    transform_task = PythonOperator(task_id="transform", python_callable=transform)
    load_task = PythonOperator(task_id="load", python_callable=load)

    print_date >> [sleep, templated]
    chain([sleep, templated], extract_task, transform_task, load_task)
