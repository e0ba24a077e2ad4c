"""Moving data: a small ETL from a shop's SQLite database into a warehouse's, and a CSV."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path

from slipstream import DAG, task
from slipstream.operators.sql import SQLExecuteQueryOperator
from slipstream.operators.transfer import GenericTransfer, SqlToFileOperator

# The example's two SQLite files, and connections that name them unless you defined
# example_shop / example_warehouse yourself. Your own DAGs name connections added with
# `slipstream connections add`; these defaults only let the example run on a fresh install.
DATA = Path(tempfile.gettempdir()) / "slipstream_example_transfer"
for conn_id, file_name in (("example_shop", "shop.db"), ("example_warehouse", "warehouse.db")):
    if f"SLIPSTREAM_CONN_{conn_id.upper()}" not in os.environ:
        DATA.mkdir(parents=True, exist_ok=True)
        os.environ[f"SLIPSTREAM_CONN_{conn_id.upper()}"] = f"sqlite:///{DATA / file_name}"

with DAG(
    "example_transfer",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "sql", "transfer"],
    doc_md=f"""
### Moving data

A day's orders go from the shop's database into the warehouse's, the day's revenue per
customer is computed on the way, and the result is exported as CSV. Both databases are
SQLite files in `{DATA}` (the connections `example_shop` and `example_warehouse`);
`postgres://...` or `mysql://...` connections work the same way.

- `GenericTransfer` streams a query's rows into a table a page at a time; its
  `preoperator` creates the table, and `write_mode="upsert"` makes a rerun of the same
  day update rows instead of adding them twice.
- `SqlToFileOperator` writes a query to CSV, JSON lines or Parquet (local or any fsspec
  URL); `FileToSqlOperator` loads such a file.

Each task logs one line per page and pushes its totals (rows, bytes, rows/s) to XCom.
See docs/moving-data.md.
""",
) as dag:
    seed_shop = SQLExecuteQueryOperator(
        task_id="seed_shop",
        conn_id="example_shop",
        split_statements=True,
        sql="""
            CREATE TABLE IF NOT EXISTS orders (
                id TEXT PRIMARY KEY, day TEXT, customer TEXT, amount_cents INTEGER,
                placed_at TEXT
            );
            INSERT OR REPLACE INTO orders VALUES
                ('{{ ds }}-1', '{{ ds }}', 'Zoë', 1250, '{{ ds }} 09:15:00+00:00'),
                ('{{ ds }}-2', '{{ ds }}', 'Ana', 799, '{{ ds }} 11:02:30+00:00'),
                ('{{ ds }}-3', '{{ ds }}', 'Zoë', 4100, '{{ ds }} 16:45:10+00:00');
        """,
    )
    copy_orders = GenericTransfer(
        task_id="copy_orders",
        source_conn_id="example_shop",
        destination_conn_id="example_warehouse",
        sql="SELECT id, customer, amount_cents, placed_at FROM orders WHERE day = '{{ ds }}'",
        destination_table="orders",
        preoperator="""
            CREATE TABLE IF NOT EXISTS orders (
                id TEXT PRIMARY KEY, customer TEXT, amount_cents INTEGER,
                placed_at TIMESTAMPTZ
            )
        """,
        write_mode="upsert",
    )
    daily_revenue = GenericTransfer(
        task_id="daily_revenue",
        source_conn_id="example_shop",
        destination_conn_id="example_warehouse",
        sql="""
            SELECT day, customer, SUM(amount_cents) AS revenue_cents, COUNT(*) AS orders
            FROM orders WHERE day = '{{ ds }}' GROUP BY day, customer
        """,
        destination_table="daily_revenue",
        preoperator="""
            CREATE TABLE IF NOT EXISTS daily_revenue (
                day TEXT, customer TEXT, revenue_cents INTEGER, orders INTEGER,
                PRIMARY KEY (day, customer)
            )
        """,
        write_mode="upsert",
    )
    export = SqlToFileOperator(
        task_id="export_revenue",
        conn_id="example_warehouse",
        sql="SELECT * FROM daily_revenue WHERE day = '{{ ds }}' ORDER BY customer",
        path=str(DATA / "revenue_{{ ds }}.csv"),
    )

    @task
    def report(copied: dict[str, object], exported: dict[str, object]) -> str:
        line = f"copied {copied['rows']} orders; {exported['rows']} rows in {exported['path']}"
        print(line)
        return line

    # One writer at a time: SQLite locks the whole file for a write.
    seed_shop >> copy_orders >> daily_revenue >> export
    report(copy_orders.output, export.output)
