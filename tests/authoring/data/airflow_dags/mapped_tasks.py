"""
### Dynamic task mapping

One task instance per item of a list that is known only at run time.
"""

from datetime import datetime

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, task

with DAG(
    dag_id="mapped_tasks",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    tags=["example"],
    doc_md=__doc__,
) as dag:

    @task
    def make_list():
        return [1, 2, 3]

    @task
    def add(x: int, y: int):
        return x + y

    @task
    def total(values):
        return sum(values)

    added = add.partial(y=10).expand(x=make_list())
    total(added)

    BashOperator.partial(task_id="echo", env={"PREFIX": "item"}).expand(
        bash_command=["echo $PREFIX-a", "echo $PREFIX-b"]
    )

    @task
    def pairs():
        return [{"a": 1, "b": 2}, {"a": 3, "b": 4}]

    @task
    def multiply(a, b):
        return a * b

    multiply.expand_kwargs(pairs())

    PythonOperator.partial(task_id="power", python_callable=lambda base, exp: base**exp).expand(
        op_kwargs=[{"base": 2, "exp": 3}, {"base": 3, "exp": 2}]
    )
