"""SQLExecuteQueryOperator on real PostgreSQL and MariaDB servers (tests/services.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import make_url

from slipstream import DAG
from slipstream.operators.sql import SQLExecuteQueryOperator
from slipstream.state import TaskInstanceState as TIS
from slipstream.testing import MemoryTaskClient


def connection(url: str, conn_type: str) -> dict[str, Any]:
    """A connection as a user would define it, for the database at ``url``."""
    parsed = make_url(url)
    return {
        "conn_type": conn_type,
        "host": parsed.host,
        "port": parsed.port,
        "login": parsed.username,
        "password": parsed.password,
        "schema": parsed.database,
    }


@pytest.fixture(params=["postgres", "mysql"])
def db_client(request: pytest.FixtureRequest) -> MemoryTaskClient:
    fixture = "postgres_url" if request.param == "postgres" else "mysql_url"
    url: str = request.getfixturevalue(fixture)
    return MemoryTaskClient(connections={"db": connection(url, request.param)})


def test_script_with_parameters_and_typed_results(
    db_client: MemoryTaskClient, run: Callable[..., Any], xcom: Callable[..., Any]
) -> None:
    with DAG("sql_server") as dag:
        SQLExecuteQueryOperator(
            task_id="load",
            conn_id="db",
            sql="""
                CREATE TABLE sales (day DATE, amount NUMERIC(10, 2), note VARCHAR(20));
                INSERT INTO sales VALUES (%(day)s, 12.50, 'semi;colon');
                INSERT INTO sales VALUES (%(day)s, 7.25, 'it''s');
                SELECT day, SUM(amount), COUNT(*) FROM sales GROUP BY day;
            """,
            parameters={"day": "{{ ds }}"},
            split_statements=True,
        )
        SQLExecuteQueryOperator(
            task_id="read", conn_id="db", sql="SELECT note FROM sales ORDER BY amount"
        )

    outcome = run(dag, "load", db_client)

    assert outcome.state == TIS.SUCCESS, outcome.error
    assert xcom(db_client, dag, "load") == [["2024-01-02", 19.75, 2]]
    assert run(dag, "read", db_client).state == TIS.SUCCESS
    assert xcom(db_client, dag, "read") == [["it's"], ["semi;colon"]]


def test_bad_sql_fails_and_rolls_back(
    db_client: MemoryTaskClient, run: Callable[..., Any], xcom: Callable[..., Any]
) -> None:
    with DAG("sql_server_bad") as dag:
        SQLExecuteQueryOperator(task_id="setup", conn_id="db", sql="CREATE TABLE t (x INTEGER)")
        SQLExecuteQueryOperator(
            task_id="bad",
            conn_id="db",
            sql=["INSERT INTO t VALUES (1)", "INSERT INTO nowhere VALUES (2)"],
        )
        SQLExecuteQueryOperator(task_id="count", conn_id="db", sql="SELECT COUNT(*) FROM t")

    assert run(dag, "setup", db_client).state == TIS.SUCCESS
    outcome = run(dag, "bad", db_client)
    assert outcome.state == TIS.FAILED
    assert "SQL statement 2 of 2 failed on connection 'db'" in (outcome.error or "")
    assert "nowhere" in (outcome.error or "")
    assert run(dag, "count", db_client).state == TIS.SUCCESS
    assert xcom(db_client, dag, "count") == [[0]]


def test_postgres_dollar_quoting_and_autocommit(
    postgres_url: str, run: Callable[..., Any], xcom: Callable[..., Any]
) -> None:
    client = MemoryTaskClient(connections={"pg": connection(postgres_url, "postgresql")})
    with DAG("sql_pg") as dag:
        SQLExecuteQueryOperator(
            task_id="function",
            conn_id="pg",
            sql="""
                CREATE FUNCTION twice(x integer) RETURNS integer AS $$
                    SELECT x * 2;
                $$ LANGUAGE sql;
                SELECT twice(21);
            """,
            split_statements=True,
        )
        # VACUUM refuses to run inside a transaction: only autocommit runs it.
        SQLExecuteQueryOperator(task_id="vacuum", conn_id="pg", sql="VACUUM", autocommit=True)
        SQLExecuteQueryOperator(task_id="vacuum_tx", conn_id="pg", sql="VACUUM")

    assert run(dag, "function", client).state == TIS.SUCCESS
    assert xcom(client, dag, "function") == [[42]]
    assert run(dag, "vacuum", client).state == TIS.SUCCESS
    failed = run(dag, "vacuum_tx", client)
    assert failed.state == TIS.FAILED
    assert "cannot run inside a transaction block" in (failed.error or "")
