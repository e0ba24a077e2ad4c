"""SQLExecuteQueryOperator on real SQLite files, run the way a worker runs it."""

from __future__ import annotations

import datetime
import decimal
import importlib.util
import sqlite3
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from slipstream import DAG, Connection
from slipstream.exceptions import DagDefinitionError
from slipstream.operators.sql import (
    SQLExecuteQueryOperator,
    fetch_one_handler,
    json_safe,
    split_sql,
    sqlalchemy_url,
)
from slipstream.state import TaskInstanceState as TIS
from slipstream.testing import MemoryTaskClient


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE sales (day TEXT, amount INTEGER)")
        conn.executemany(
            "INSERT INTO sales VALUES (?, ?)", [("2024-01-01", 10), ("2024-01-02", 20)]
        )
    return path


@pytest.fixture
def client(db: Path) -> MemoryTaskClient:
    return MemoryTaskClient(connections={"wh": {"conn_type": "sqlite", "host": str(db)}})


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql))


def test_select_pushes_rows_as_lists(
    client: MemoryTaskClient, run: Callable[..., Any], xcom: Callable[..., Any]
) -> None:
    with DAG("sql_select") as dag:
        SQLExecuteQueryOperator(
            task_id="q", conn_id="wh", sql="SELECT day, amount FROM sales ORDER BY day;"
        )

    outcome = run(dag, "q", client)

    assert outcome.state == TIS.SUCCESS, outcome.error
    assert xcom(client, dag, "q") == [["2024-01-01", 10], ["2024-01-02", 20]]


def test_templated_parameters_and_a_split_script_write_rows(
    db: Path, client: MemoryTaskClient, run: Callable[..., Any], xcom: Callable[..., Any]
) -> None:
    script = """
        -- a comment; with a semicolon
        CREATE TABLE daily (day TEXT, total INTEGER);
        INSERT INTO daily SELECT :day, SUM(amount) FROM sales WHERE day <= :day;
        SELECT * FROM daily WHERE day = :day;
    """
    with DAG("sql_script") as dag:
        SQLExecuteQueryOperator(
            task_id="load",
            conn_id="wh",
            sql=script,
            split_statements=True,
            parameters={"day": "{{ ds }}"},
        )

    outcome = run(dag, "load", client)

    assert outcome.state == TIS.SUCCESS, outcome.error
    assert rows(db, "SELECT * FROM daily") == [("2024-01-02", 30)]
    assert xcom(client, dag, "load") == [["2024-01-02", 30]]
    assert outcome.rendered_fields["parameters"] == {"day": "2024-01-02"}


def test_return_last_false_gives_one_result_per_statement(
    client: MemoryTaskClient, run: Callable[..., Any], xcom: Callable[..., Any]
) -> None:
    with DAG("sql_all_results") as dag:
        SQLExecuteQueryOperator(
            task_id="q",
            conn_id="wh",
            sql=(
                "SELECT COUNT(*) FROM sales; UPDATE sales SET amount = 0; "
                "SELECT SUM(amount) FROM sales"
            ),
            split_statements=True,
            return_last=False,
        )
        SQLExecuteQueryOperator(
            task_id="listed",
            conn_id="wh",
            sql=["SELECT 1", "SELECT 'a', 2"],
            handler=fetch_one_handler,
        )

    assert run(dag, "q", client).state == TIS.SUCCESS
    assert xcom(client, dag, "q") == [[[2]], None, [[0]]]
    assert run(dag, "listed", client).state == TIS.SUCCESS
    assert xcom(client, dag, "listed") == [[1], ["a", 2]]


def test_sql_file_next_to_the_dag_file(
    tmp_path: Path, db: Path, client: MemoryTaskClient, run: Callable[..., Any]
) -> None:
    dags = tmp_path / "dags"
    (dags / "sql").mkdir(parents=True)
    (dags / "sql" / "insert_day.sql").write_text(
        "INSERT INTO sales VALUES ('{{ ds }}', {{ params.amount }})"
    )
    (dags / "file_dag.py").write_text(
        "from slipstream import DAG\n"
        "from slipstream.operators.sql import SQLExecuteQueryOperator\n"
        "with DAG('sql_from_file', params={'amount': 7}) as dag:\n"
        "    SQLExecuteQueryOperator(task_id='insert', conn_id='wh', sql='sql/insert_day.sql')\n"
    )
    spec = importlib.util.spec_from_file_location("file_dag_for_sql_test", dags / "file_dag.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    outcome = run(module.dag, "insert", client)

    assert outcome.state == TIS.SUCCESS, outcome.error
    assert outcome.rendered_fields["sql"] == "INSERT INTO sales VALUES ('2024-01-02', 7)"
    assert rows(db, "SELECT * FROM sales WHERE amount = 7") == [("2024-01-02", 7)]


def test_bad_sql_fails_names_the_statement_and_rolls_back(
    db: Path, client: MemoryTaskClient, run: Callable[..., Any]
) -> None:
    with DAG("sql_bad") as dag:
        SQLExecuteQueryOperator(
            task_id="q",
            conn_id="wh",
            sql=["DELETE FROM sales", "SELEC nonsense"],
        )

    outcome = run(dag, "q", client)

    assert outcome.state == TIS.FAILED
    assert "SQL statement 2 of 2 failed on connection 'wh'" in (outcome.error or "")
    assert "syntax error" in (outcome.error or "")
    assert "in: SELEC nonsense" in (outcome.error or "")
    assert len(rows(db, "SELECT * FROM sales")) == 2  # the DELETE was rolled back


def test_several_statements_without_split_is_the_driver_error(
    client: MemoryTaskClient, run: Callable[..., Any]
) -> None:
    with DAG("sql_unsplit") as dag:
        SQLExecuteQueryOperator(task_id="q", conn_id="wh", sql="SELECT 1; SELECT 2")

    outcome = run(dag, "q", client)

    assert outcome.state == TIS.FAILED
    assert "one statement at a time" in (outcome.error or "")


def test_autocommit_and_no_xcom(
    db: Path, client: MemoryTaskClient, run: Callable[..., Any], xcom: Callable[..., Any]
) -> None:
    with DAG("sql_autocommit") as dag:
        SQLExecuteQueryOperator(
            task_id="q",
            conn_id="wh",
            sql="INSERT INTO sales VALUES ('2024-01-03', 1)",
            autocommit=True,
            do_xcom_push=False,
        )

    assert run(dag, "q", client).state == TIS.SUCCESS
    assert xcom(client, dag, "q") is None
    assert rows(db, "SELECT COUNT(*) FROM sales") == [(3,)]


def test_handler_results_are_made_json_safe_and_output_processor_sees_descriptions(
    client: MemoryTaskClient, run: Callable[..., Any], xcom: Callable[..., Any]
) -> None:
    def typed(cursor: Any) -> list[tuple[Any, ...]]:
        cursor.fetchall()
        return [(decimal.Decimal("1.50"), datetime.date(2024, 1, 2), b"\x00\xff")]

    def with_columns(results: list[Any], descriptions: list[Any]) -> list[Any]:
        names = [d[0] for d in descriptions[-1]]
        return [[dict(zip(names, row, strict=True)) for row in result] for result in results]

    with DAG("sql_types") as dag:
        SQLExecuteQueryOperator(task_id="typed", conn_id="wh", sql="SELECT 1", handler=typed)
        SQLExecuteQueryOperator(
            task_id="named",
            conn_id="wh",
            sql="SELECT day, amount AS total FROM sales ORDER BY day LIMIT 1",
            output_processor=with_columns,
        )

    assert run(dag, "typed", client).state == TIS.SUCCESS
    assert xcom(client, dag, "typed") == [[1.5, "2024-01-02", "AP8="]]
    assert run(dag, "named", client).state == TIS.SUCCESS
    assert xcom(client, dag, "named") == [{"day": "2024-01-01", "total": 10}]


def test_sqlalchemy_url_extra_overrides_the_connection(
    db: Path, run: Callable[..., Any], xcom: Callable[..., Any]
) -> None:
    client = MemoryTaskClient(
        connections={
            "other": {"conn_type": "generic", "extra": {"sqlalchemy_url": f"sqlite:///{db}"}}
        }
    )
    with DAG("sql_override") as dag:
        SQLExecuteQueryOperator(task_id="q", conn_id="other", sql="SELECT COUNT(*) FROM sales")

    assert run(dag, "q", client).state == TIS.SUCCESS
    assert xcom(client, dag, "q") == [[2]]


def test_missing_connection_names_it(run: Callable[..., Any]) -> None:
    with DAG("sql_noconn") as dag:
        SQLExecuteQueryOperator(task_id="q", conn_id="ghost_db", sql="SELECT 1")

    outcome = run(dag, "q")

    assert outcome.state == TIS.FAILED
    assert "connection 'ghost_db' is not defined" in (outcome.error or "")


def test_unknown_conn_type_says_what_is_supported(run: Callable[..., Any]) -> None:
    client = MemoryTaskClient(connections={"x": {"conn_type": "oracle", "host": "h"}})
    with DAG("sql_oracle") as dag:
        SQLExecuteQueryOperator(task_id="q", conn_id="x", sql="SELECT 1")

    outcome = run(dag, "q", client)

    assert outcome.state == TIS.FAILED
    assert "conn_type 'oracle'" in (outcome.error or "")
    assert "mysql, postgres" in (outcome.error or "")
    assert "sqlalchemy_url" in (outcome.error or "")


@pytest.mark.parametrize(
    ("conn_type", "module", "extra"),
    [("postgres", "psycopg", "postgres"), ("mysql", "pymysql", "mysql")],
)
def test_missing_driver_says_which_extra_to_install(
    conn_type: str,
    module: str,
    extra: str,
    run: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    client = MemoryTaskClient(
        connections={"db": {"conn_type": conn_type, "host": "127.0.0.1", "schema": "x"}}
    )
    with DAG(f"sql_nodriver_{conn_type}") as dag:
        SQLExecuteQueryOperator(task_id="q", conn_id="db", sql="SELECT 1")

    outcome = run(dag, "q", client)

    assert outcome.state == TIS.FAILED
    assert f'pip install "slipstream[{extra}]"' in (outcome.error or "")
    assert f"driver '{module}'" in (outcome.error or "")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sql": 5}, "sql must be a string or a list of strings, got int"),
        ({"sql": "   "}, "sql is empty"),
        ({"sql": []}, "non-empty list of strings"),
        ({"sql": ["SELECT 1", 2]}, "non-empty list of strings"),
        ({"sql": "SELECT 1", "conn_id": None}, "conn_id is required"),
        ({"sql": "SELECT 1", "conn_id": 3}, "conn_id must be str"),
        ({"sql": "SELECT 1", "parameters": "x"}, "parameters must be"),
        ({"sql": "SELECT 1", "handler": "all"}, "handler must be callable"),
    ],
)
def test_bad_arguments_fail_at_dag_definition(kwargs: dict[str, Any], message: str) -> None:
    kwargs.setdefault("conn_id", "wh")
    with DAG("sql_bad_args"), pytest.raises(DagDefinitionError, match=message):
        SQLExecuteQueryOperator(task_id="q", **kwargs)


@pytest.mark.parametrize(
    ("conn", "expected"),
    [
        (
            Connection(
                conn_id="p",
                conn_type="postgres",
                host="db",
                port=5432,
                login="u",
                password="p@w",
                schema="app",
                extra={"sqlalchemy_query": {"sslmode": "require"}},
            ),
            "postgresql+psycopg://u:p%40w@db:5432/app?sslmode=require",
        ),
        (
            Connection.from_uri("m", "mysql://u:p@db:3306/shop"),
            "mysql+pymysql://u:p@db:3306/shop",
        ),
        (Connection.from_uri("s", "sqlite:////tmp/x.db"), "sqlite:////tmp/x.db"),
        (Connection(conn_id="s", conn_type="sqlite"), "sqlite://"),
    ],
)
def test_url_from_connection(conn: Connection, expected: str) -> None:
    assert sqlalchemy_url(conn).render_as_string(hide_password=False) == expected


def test_split_sql_respects_quotes_comments_and_dollar_quoting() -> None:
    script = """
        INSERT INTO t VALUES ('a;b', "c;d", 'it''s; fine');
        -- only a comment; here
        /* block; comment */
        CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;
        SELECT $$x;y$$;;
        SELECT 'tail'
    """
    assert split_sql(script) == [
        "INSERT INTO t VALUES ('a;b', \"c;d\", 'it''s; fine')",
        "-- only a comment; here\n        /* block; comment */\n        "
        "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql",
        "SELECT $$x;y$$",
        "SELECT 'tail'",
    ]
    assert split_sql("-- nothing\n;  ;") == []


def test_json_safe_mapping() -> None:
    key = uuid.UUID("12345678-1234-5678-1234-567812345678")
    value = (
        decimal.Decimal("2.5"),
        datetime.datetime(2024, 1, 2, 3, 4, tzinfo=datetime.UTC),
        datetime.time(5, 6),
        datetime.timedelta(minutes=1),
        key,
        {"nested": (1, None)},
    )
    assert json_safe([value]) == [
        [
            2.5,
            "2024-01-02T03:04:00+00:00",
            "05:06:00",
            60.0,
            "12345678-1234-5678-1234-567812345678",
            {"nested": [1, None]},
        ]
    ]
