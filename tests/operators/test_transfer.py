"""The transfer operators on SQLite files and local, in-memory (fsspec) and Parquet files,
run the way a worker runs a try."""

from __future__ import annotations

import builtins
import json
import logging
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from tests.worker_fixtures import RUN_ID

from slipstream import DAG
from slipstream.exceptions import DagDefinitionError
from slipstream.operators.transfer import FileToSqlOperator, GenericTransfer, SqlToFileOperator
from slipstream.state import TaskInstanceState as TIS
from slipstream.testing import MemoryTaskClient

Run = Callable[..., Any]

ORDERS = """
    CREATE TABLE orders (
        id INTEGER PRIMARY KEY,
        customer TEXT NOT NULL,
        amount TEXT,               -- a decimal: TEXT keeps every digit in SQLite
        paid BOOLEAN,
        placed_at TIMESTAMPTZ,
        details JSON
    )
"""
ROWS = [
    (1, "Zoë", "12.50", 1, "2024-01-02 03:04:05.123456+00:00", '{"items": [1, 2]}'),
    (2, 'Jürgen, "the" buyer', "0.01", 0, "2024-01-02 23:59:59+00:00", '{"note": "a\\nb"}'),
    (3, "李雷 🚀", "-99999999999.999999", None, None, None),
    (4, "line\nbreak", None, 1, "2023-12-31 00:00:00+00:00", "[]"),
]


def sqlite_file(path: Path, *statements: str, rows: Sequence[tuple[Any, ...]] = ()) -> Path:
    with sqlite3.connect(path) as conn:
        for statement in statements:
            conn.executescript(statement)
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            conn.executemany(f"INSERT INTO orders VALUES ({marks})", rows)
    return path


def select(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return list(conn.execute(sql))


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return sqlite_file(tmp_path / "source.db", ORDERS, rows=ROWS)


@pytest.fixture
def target(tmp_path: Path) -> Path:
    return sqlite_file(tmp_path / "target.db", ORDERS)


@pytest.fixture
def client(source: Path, target: Path) -> MemoryTaskClient:
    return MemoryTaskClient(
        connections={
            "src": {"conn_type": "sqlite", "host": str(source)},
            "dst": {"conn_type": "sqlite", "host": str(target)},
        }
    )


@pytest.fixture
def task_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.INFO, logger="slipstream.task"):
        yield caplog


def ok(outcome: Any) -> None:
    assert outcome.state == TIS.SUCCESS, outcome.error


def failed(outcome: Any) -> str:
    assert outcome.state == TIS.FAILED
    return str(outcome.error)


# -- GenericTransfer ---------------------------------------------------------------------------


def test_copies_every_row_page_by_page_and_reports_totals(
    client: MemoryTaskClient,
    target: Path,
    run: Run,
    xcom: Callable[..., Any],
    task_log: pytest.LogCaptureFixture,
) -> None:
    with DAG("copy") as dag:
        GenericTransfer(
            task_id="copy",
            source_conn_id="src",
            destination_conn_id="dst",
            sql="SELECT * FROM orders WHERE customer LIKE '%' ORDER BY id",
            destination_table="orders",
            page_size=3,
        )

    ok(run(dag, "copy", client))

    assert select(target, "SELECT * FROM orders ORDER BY id") == ROWS
    totals = xcom(client, dag, "copy")
    assert (totals["rows"], totals["pages"]) == (4, 2)
    assert totals["bytes"] > 0 and totals["rows_per_second"] > 0
    pages = [m for m in task_log.messages if m.startswith("Page ")]
    assert len(pages) == 2  # one line per page, not per row
    assert pages[0].startswith("Page 1: 3 rows, ")
    assert "; 4 rows, " in pages[1] and "in all" in pages[1] and pages[1].endswith("rows/s")
    assert any(m.startswith("Moved 4 rows") for m in task_log.messages)


def test_templated_query_and_preoperator_make_a_daily_load_repeatable(
    client: MemoryTaskClient, target: Path, run: Run
) -> None:
    with DAG("daily") as dag:
        GenericTransfer(
            task_id="copy",
            source_conn_id="src",
            destination_conn_id="dst",
            sql="SELECT id, customer, '{{ ds }}' AS amount FROM orders WHERE id <= 2",
            destination_table="orders",
            preoperator="DELETE FROM orders; -- empty it, so a retry starts clean",
        )

    ok(run(dag, "copy", client))
    ok(run(dag, "copy", client))

    assert select(target, "SELECT id, customer, amount, paid FROM orders ORDER BY id") == [
        (1, "Zoë", "2024-01-02", None),
        (2, 'Jürgen, "the" buyer', "2024-01-02", None),
    ]


def test_columns_match_by_position_or_by_target_fields(
    client: MemoryTaskClient, target: Path, run: Run
) -> None:
    with DAG("columns") as dag:
        GenericTransfer(
            task_id="by_position",
            source_conn_id="src",
            destination_conn_id="dst",
            sql="SELECT id + 10 AS a, 'x' AS b, amount AS c, paid AS d, NULL AS e, NULL AS f "
            "FROM orders WHERE id = 1",
            destination_table="orders",
        )
        GenericTransfer(
            task_id="by_fields",
            source_conn_id="src",
            destination_conn_id="dst",
            sql="SELECT id + 20, customer FROM orders WHERE id = 1",
            destination_table="orders",
            insert_args={"target_fields": ["id", "customer"]},
        )

    ok(run(dag, "by_position", client))
    ok(run(dag, "by_fields", client))

    assert select(target, "SELECT id, customer, amount, paid FROM orders ORDER BY id") == [
        (11, "x", "12.50", 1),
        (21, "Zoë", None, None),
    ]


def test_upsert_updates_existing_rows_on_sqlite(
    client: MemoryTaskClient, source: Path, target: Path, run: Run
) -> None:
    with DAG("upsert") as dag:
        GenericTransfer(
            task_id="copy",
            source_conn_id="src",
            destination_conn_id="dst",
            sql="SELECT id, customer, amount FROM orders",
            destination_table="orders",
            write_mode="upsert",
            page_size=2,
        )
        GenericTransfer(
            task_id="airflow_style",
            source_conn_id="src",
            destination_conn_id="dst",
            sql="SELECT id, customer FROM orders",
            destination_table="orders",
            insert_args={"replace": True, "replace_index": ["id"]},
        )

    ok(run(dag, "copy", client))
    with sqlite3.connect(source) as conn:
        conn.execute("UPDATE orders SET amount = '13.00', customer = 'Zoe' WHERE id = 1")
    ok(run(dag, "copy", client))
    ok(run(dag, "airflow_style", client))

    assert select(target, "SELECT id, customer, amount FROM orders ORDER BY id") == [
        (1, "Zoe", "13.00"),
        (2, 'Jürgen, "the" buyer', "0.01"),
        (3, "李雷 🚀", "-99999999999.999999"),
        (4, "line\nbreak", None),
    ]


def test_an_empty_result_moves_nothing(
    client: MemoryTaskClient, target: Path, run: Run, xcom: Callable[..., Any]
) -> None:
    with DAG("empty") as dag:
        GenericTransfer(
            task_id="copy",
            source_conn_id="src",
            destination_conn_id="dst",
            sql="SELECT * FROM orders WHERE id < 0",
            destination_table="orders",
        )

    ok(run(dag, "copy", client))
    assert xcom(client, dag, "copy")["rows"] == 0
    assert select(target, "SELECT COUNT(*) FROM orders") == [(0,)]


# -- errors a user can act on ------------------------------------------------------------------


def transfer_dag(**kwargs: Any) -> DAG:
    arguments = {
        "task_id": "copy",
        "source_conn_id": "src",
        "destination_conn_id": "dst",
        "sql": "SELECT * FROM orders",
        "destination_table": "orders",
        **kwargs,
    }
    with DAG("errors") as dag:
        GenericTransfer(**arguments)
    return dag


def test_a_missing_connection_is_named(client: MemoryTaskClient, run: Run) -> None:
    error = failed(run(transfer_dag(destination_conn_id="warehouse"), "copy", client))

    assert "connection 'warehouse' is not defined" in error
    assert "SLIPSTREAM_CONN_WAREHOUSE" in error


def test_a_missing_table_is_named_with_the_tables_that_exist(
    client: MemoryTaskClient, run: Run
) -> None:
    error = failed(run(transfer_dag(destination_table="order"), "copy", client))

    assert "table 'order' does not exist on connection 'dst': tables there: orders" in error


def test_a_column_count_that_does_not_match_says_what_each_side_has(
    client: MemoryTaskClient, target: Path, run: Run
) -> None:
    dag = transfer_dag(sql="SELECT id AS a, customer AS b FROM orders")
    error = failed(run(dag, "copy", client))

    assert "the query has 2 columns (a, b) but orders has 6 (id, customer, amount, paid, " in error
    assert "target_fields" in error
    assert select(target, "SELECT COUNT(*) FROM orders") == [(0,)]

    dag = transfer_dag(insert_args={"target_fields": ["id"]})
    assert "the query has 6 columns but target_fields names 1" in failed(run(dag, "copy", client))
    dag = transfer_dag(sql="SELECT 1 AS id", insert_args={"target_fields": ["ident"]})
    assert "target_fields 'ident' are not columns of orders" in failed(run(dag, "copy", client))


def test_a_value_the_column_cannot_take_names_its_row_and_commits_nothing_of_its_page(
    client: MemoryTaskClient, source: Path, target: Path, run: Run
) -> None:
    with sqlite3.connect(source) as conn:  # rows 5.. : page 2 holds rows 5-8, row 7 is bad
        conn.executemany(
            "INSERT INTO orders (id, customer, paid) VALUES (?, ?, ?)",
            [(5, "e", 1), (6, "f", 0), (7, "g", "perhaps"), (8, "h", 1), (9, "i", 1)],
        )
    error = failed(
        run(transfer_dag(sql="SELECT * FROM orders ORDER BY id", page_size=4), "copy", client)
    )

    assert "row 7, column 'paid' (BOOLEAN) of orders: 'perhaps' is not a boolean" in error
    assert "Nothing of page 2 was written" in error
    assert "the 4 rows of the 1 page(s) before it were committed" in error
    assert select(target, "SELECT id FROM orders ORDER BY id") == [(1,), (2,), (3,), (4,)]


def test_a_row_the_database_refuses_is_named_and_its_page_rolled_back(
    client: MemoryTaskClient, target: Path, run: Run
) -> None:
    dag = transfer_dag(
        sql="SELECT id, CASE WHEN id = 3 THEN NULL ELSE customer END AS customer FROM orders "
        "ORDER BY id",
        page_size=2,
    )
    error = failed(run(dag, "copy", client))

    assert "orders on connection 'dst' refused row 3: NOT NULL constraint failed" in error
    assert "the row: id=3, customer=None" in error
    assert "Nothing of page 2 (rows 3-4) was committed" in error
    assert select(target, "SELECT id FROM orders ORDER BY id") == [(1,), (2,)]


def test_a_query_that_fails_is_reported_before_the_preoperator_empties_anything(
    client: MemoryTaskClient, target: Path, run: Run
) -> None:
    sqlite_file(target, "INSERT INTO orders (id, customer) VALUES (1, 'kept')")
    dag = transfer_dag(sql="SELECT * FROM ordres", preoperator="DELETE FROM orders")

    error = failed(run(dag, "copy", client))

    assert "the query failed on connection 'src': no such table: ordres" in error
    assert select(target, "SELECT customer FROM orders") == [("kept",)]


def test_upsert_without_a_key_says_what_it_needs(
    client: MemoryTaskClient, target: Path, run: Run
) -> None:
    sqlite_file(target, "CREATE TABLE nokey (a INTEGER, b TEXT)")
    dag = transfer_dag(sql="SELECT 1 AS a", destination_table="nokey", write_mode="upsert")
    assert "write_mode 'upsert' needs conflict_columns: nokey has no primary key" in failed(
        run(dag, "copy", client)
    )
    dag = transfer_dag(
        sql="SELECT 1 AS a", destination_table="nokey", conflict_columns=["b"], write_mode="upsert"
    )
    assert "conflict column(s) 'b' are not among the columns written to nokey (a)" in failed(
        run(dag, "copy", client)
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"write_mode": "merge"}, "write_mode must be one of insert, upsert, got 'merge'"),
        ({"page_size": 0}, "page_size must be a whole number >= 1, got 0"),
        ({"insert_args": {"commit": 5}}, "insert_args has unknown key(s) commit"),
        ({"conflict_columns": "id"}, None),  # one name is a list of one
        ({"conflict_columns": [1]}, "conflict_columns must be a list of column names"),
        ({"preoperator": 5}, "preoperator must be SQL text or a list of statements"),
        ({"sql": ""}, "sql must be a non-empty string"),
    ],
)
def test_wrong_arguments_fail_when_the_dag_is_defined(
    arguments: dict[str, Any], message: str | None
) -> None:
    if message is None:
        transfer_dag(**arguments)
        return
    with pytest.raises(DagDefinitionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        transfer_dag(**arguments)


# -- files -----------------------------------------------------------------------------------


def round_trip(
    client: MemoryTaskClient, run: Run, path: str, **file_arguments: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    with DAG("files") as dag:
        SqlToFileOperator(
            task_id="export",
            conn_id="src",
            sql="SELECT * FROM orders ORDER BY id",
            path=path,
            page_size=3,
            **file_arguments,
        )
        FileToSqlOperator(
            task_id="load", conn_id="dst", table="orders", path=path, page_size=3, **file_arguments
        )
    ok(run(dag, "export", client))
    ok(run(dag, "load", client))
    exported, loaded = (
        client.xcom_pull(dag_id="files", run_id=RUN_ID, task_id=t, key="return_value", map_index=-1)
        for t in ("export", "load")
    )
    return exported, loaded


@pytest.mark.parametrize("extension", ["csv", "jsonl", "parquet"])
def test_file_round_trips_are_exact(
    client: MemoryTaskClient, target: Path, tmp_path: Path, run: Run, extension: str
) -> None:
    path = tmp_path / "out" / f"orders.{extension}"

    exported, loaded = round_trip(client, run, str(path))

    assert select(target, "SELECT * FROM orders ORDER BY id") == ROWS
    assert (exported["rows"], exported["pages"], loaded["rows"]) == (4, 2, 4)
    assert exported["bytes"] == path.stat().st_size == loaded["bytes"]
    assert exported["path"] == str(path)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left


def test_csv_is_plain_text_with_a_header(
    client: MemoryTaskClient, tmp_path: Path, run: Run
) -> None:
    path = tmp_path / "orders.csv"
    round_trip(client, run, str(path))

    assert path.read_text(encoding="utf-8").splitlines()[:3] == [
        "id,customer,amount,paid,placed_at,details",
        '1,Zoë,12.50,1,2024-01-02 03:04:05.123456+00:00,"{""items"": [1, 2]}"',
        '2,"Jürgen, ""the"" buyer",0.01,0,2024-01-02 23:59:59+00:00,"{""note"": ""a\\nb""}"',
    ]


def test_csv_null_value_keeps_empty_strings_apart_from_null(
    client: MemoryTaskClient, source: Path, target: Path, tmp_path: Path, run: Run
) -> None:
    with sqlite3.connect(source) as conn:
        conn.execute("INSERT INTO orders (id, customer, amount) VALUES (5, '', NULL)")
    path = tmp_path / "orders.csv"

    round_trip(client, run, str(path), null_value=r"\N")

    assert select(target, "SELECT customer, amount FROM orders WHERE id = 5") == [("", None)]
    assert r"5,,\N," in path.read_text(encoding="utf-8")


def test_json_lines_hold_typed_values(client: MemoryTaskClient, tmp_path: Path, run: Run) -> None:
    path = tmp_path / "orders.jsonl"
    round_trip(client, run, str(path))

    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert first == {
        "id": 1,
        "customer": "Zoë",
        "amount": "12.50",
        "paid": 1,
        "placed_at": "2024-01-02 03:04:05.123456+00:00",
        "details": '{"items": [1, 2]}',  # SQLite's JSON is text: the file keeps it so
    }


def test_a_file_loads_with_declared_columns_and_converts_text(
    client: MemoryTaskClient, target: Path, tmp_path: Path, run: Run
) -> None:
    path = tmp_path / "in.csv"
    path.write_text("7;Ann;true;2024-05-01T10:00:00+02:00\n8;Bo;f;2024-05-01 08:00:00\n")
    with DAG("declared") as dag:
        FileToSqlOperator(
            task_id="load",
            conn_id="dst",
            table="orders",
            path=str(path),
            header=False,
            delimiter=";",
            columns=["id", "customer", "paid", "placed_at"],
        )

    ok(run(dag, "load", client))

    assert select(target, "SELECT id, customer, paid, placed_at FROM orders ORDER BY id") == [
        (7, "Ann", 1, "2024-05-01 08:00:00+00:00"),  # the instant, in UTC
        (8, "Bo", 0, "2024-05-01 08:00:00+00:00"),  # no offset: taken as UTC
    ]


def test_fsspec_urls_work_for_both_directions(
    client: MemoryTaskClient, target: Path, run: Run
) -> None:
    import fsspec

    exported, _ = round_trip(client, run, "memory://exports/orders.jsonl")

    assert select(target, "SELECT * FROM orders ORDER BY id") == ROWS
    assert fsspec.filesystem("memory").size("/exports/orders.jsonl") == exported["bytes"]


def test_file_errors_name_the_line_or_field(
    client: MemoryTaskClient, tmp_path: Path, run: Run
) -> None:
    ragged, extra, odd = tmp_path / "ragged.csv", tmp_path / "extra.jsonl", tmp_path / "x.dat"
    ragged.write_text("id,customer\n1,a\n2,b,c\n")
    extra.write_text('{"id": 1}\n{"id": 2, "colour": "red"}\n')
    odd.write_text("")
    with DAG("bad_files") as dag:
        for name, path in (
            ("ragged", ragged),
            ("extra", extra),
            ("odd", odd),
            ("none", "/nope.csv"),
        ):
            FileToSqlOperator(task_id=name, conn_id="dst", table="orders", path=str(path))

    assert "row 2 of the CSV file has 3 fields, where the header has 2" in failed(
        run(dag, "ragged", client)
    )
    assert "line 2 of the JSON lines file has key(s) 'colour' that the first line has not" in (
        failed(run(dag, "extra", client))
    )
    assert "cannot tell the format of" in failed(run(dag, "odd", client))
    assert "there is no file '/nope.csv' to read" in failed(run(dag, "none", client))


@pytest.fixture
def without(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """``without("pyarrow")``: importing it fails, as if it were not installed."""

    def hide(module: str) -> None:
        real_import = builtins.__import__

        def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
            if name == module or name.startswith(module + "."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return real_import(name, *args, **kwargs)

        for loaded in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
            monkeypatch.delitem(sys.modules, loaded)
        monkeypatch.setattr(builtins, "__import__", fake_import)
        import importlib

        real_import_module = importlib.import_module

        def fake_import_module(name: str, package: str | None = None) -> Any:
            if name == module or name.startswith(module + "."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return real_import_module(name, package)

        monkeypatch.setattr(importlib, "import_module", fake_import_module)

    return hide


def test_a_missing_extra_is_named_with_the_pip_command(
    client: MemoryTaskClient, tmp_path: Path, run: Run, without: Callable[[str], None]
) -> None:
    with DAG("extras") as dag:
        SqlToFileOperator(
            task_id="parquet", conn_id="src", sql="SELECT 1", path=str(tmp_path / "a.parquet")
        )
        SqlToFileOperator(task_id="s3", conn_id="src", sql="SELECT 1", path="s3://bucket/a.csv")
        FileToSqlOperator(task_id="read", conn_id="dst", table="orders", path="gcs://b/a.csv")

    without("pyarrow")
    without("fsspec")

    assert (
        'writing Parquet needs pyarrow, which is not installed: pip install "slipstream[parquet]"'
        in (failed(run(dag, "parquet", client)))
    )
    assert "writing 's3://bucket/a.csv' needs fsspec" in failed(run(dag, "s3", client))
    assert 'pip install "slipstream[fsspec]"' in failed(run(dag, "read", client))
    assert not (tmp_path / "a.parquet").exists()


def test_the_example_dag_runs_its_etl_and_reruns_without_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: Run, xcom: Callable[..., Any]
) -> None:
    import importlib.util

    from slipstream.dag_processing.bag import EXAMPLES_FOLDER

    shop, warehouse = tmp_path / "shop.db", tmp_path / "warehouse.db"
    monkeypatch.setenv("SLIPSTREAM_CONN_EXAMPLE_SHOP", f"sqlite:///{shop}")
    monkeypatch.setenv("SLIPSTREAM_CONN_EXAMPLE_WAREHOUSE", f"sqlite:///{warehouse}")
    spec = importlib.util.spec_from_file_location(
        "example_transfer_under_test", EXAMPLES_FOLDER / "example_transfer.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.dag
    dag.task_dict["export_revenue"].path = str(tmp_path / "revenue_{{ ds }}.csv")
    client = MemoryTaskClient()

    for _ in range(2):  # a rerun of the same day updates rows, it does not add them
        for task_id in ("seed_shop", "copy_orders", "daily_revenue", "export_revenue", "report"):
            ok(run(dag, task_id, client))

    assert select(warehouse, "SELECT * FROM daily_revenue ORDER BY customer") == [
        ("2024-01-02", "Ana", 799, 1),
        ("2024-01-02", "Zoë", 5350, 2),
    ]
    assert select(warehouse, "SELECT COUNT(*) FROM orders") == [(3,)]
    assert (tmp_path / "revenue_2024-01-02.csv").read_text(encoding="utf-8").splitlines() == [
        "day,customer,revenue_cents,orders",
        "2024-01-02,Ana,799,1",
        "2024-01-02,Zoë,5350,2",
    ]
    assert xcom(client, dag, "report") == (
        f"copied 3 orders; 2 rows in {tmp_path / 'revenue_2024-01-02.csv'}"
    )
