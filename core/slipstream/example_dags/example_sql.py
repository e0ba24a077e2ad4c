"""SQL through a Connection: create, load and query a SQLite table; rows become XComs."""

from __future__ import annotations

from datetime import datetime

from slipstream import DAG, task
from slipstream.operators.sql import SQLExecuteQueryOperator

with DAG(
    "example_sql",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    tags=["example", "sql"],
    doc_md="""
### SQL

`SQLExecuteQueryOperator` runs SQL on the database a Connection names and pushes the
rows of the last statement as its XCom. This example needs a connection named
`example_sqlite` first:

    slipstream connections add example_sqlite --conn-uri sqlite:////tmp/slipstream_example.db

(`postgres://...` or `mysql://...` work the same way, with the matching extra
installed.) `sql` is templated; with `split_statements=True` several statements in
one string run in order.
""",
) as dag:
    create = SQLExecuteQueryOperator(
        task_id="create_and_load",
        conn_id="example_sqlite",
        split_statements=True,
        sql="""
            CREATE TABLE IF NOT EXISTS orders (day TEXT, amount REAL);
            DELETE FROM orders WHERE day = '{{ ds }}';
            INSERT INTO orders VALUES ('{{ ds }}', 12.5), ('{{ ds }}', 7.5);
        """,
    )
    total = SQLExecuteQueryOperator(
        task_id="daily_total",
        conn_id="example_sqlite",
        sql="SELECT day, SUM(amount) FROM orders WHERE day = '{{ ds }}' GROUP BY day",
    )

    @task
    def report(rows: list[list[object]]) -> str:
        day, amount = rows[0]
        return f"{day}: {amount}"

    create >> total
    report(total.output)
