"""Transfers between SQLite, real PostgreSQL and real MariaDB servers (tests/services.py):
every common column type round trips exactly, refused rows roll their page back, upserts
update, and a worker killed mid-transfer leaves no duplicates once its task is retried."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool
from tests.operators.test_sql_operator_servers import connection

from slipstream import DAG
from slipstream.metadata.records import TaskInstanceRef
from slipstream.operators.transfer import GenericTransfer
from slipstream.runtime import Slipstream
from slipstream.state import TaskInstanceState as TIS
from slipstream.testing import MemoryTaskClient

Run = Callable[..., Any]
UTC = dt.UTC

SQLITE_TABLE = """
    CREATE TABLE everything (
        id INTEGER PRIMARY KEY,
        small INTEGER,
        big INTEGER,
        amount TEXT,            -- DECIMAL(20, 6): TEXT keeps every digit in SQLite
        ratio REAL,
        label TEXT,
        flag BOOLEAN,
        happened_at TIMESTAMPTZ,
        day DATE,
        doc JSON
    )
"""
POSTGRES_TABLE = """
    CREATE TABLE everything (
        id BIGINT PRIMARY KEY,
        small SMALLINT,
        big BIGINT,
        amount NUMERIC(20, 6),
        ratio DOUBLE PRECISION,
        label TEXT,
        flag BOOLEAN,
        happened_at TIMESTAMPTZ,
        day DATE,
        doc JSONB
    )
"""
MARIADB_TABLE = """
    CREATE TABLE everything (
        id BIGINT PRIMARY KEY,
        small SMALLINT,
        big BIGINT,
        amount DECIMAL(20, 6),
        ratio DOUBLE,
        label TEXT,
        flag BOOLEAN,
        happened_at DATETIME(6),
        day DATE,
        doc JSON
    ) CHARACTER SET utf8mb4
"""
LABEL = 'Grüße, 世界 🚀 "quoted", back\\slash'
DOC = '{"a": 1, "b": [true, null, "é"], "c": {"d": 1.5, "e": 12345678901234567890.123456789}}'
# As SQLite holds them: decimals, timestamps and JSON as text, booleans as 0/1.
ROWS: list[tuple[Any, ...]] = [
    (1, -32768, 2**63 - 1, "12345678901234.567890", 0.1, LABEL, 1,
     "2024-01-02 03:04:05.123456+00:00", "2024-02-29", DOC),
    (2, 32767, -(2**63), "-0.000001", -1.5e300, "", 0,
     "1999-12-31 23:59:59+00:00", "1970-01-01", "[]"),
    (3, 0, 0, "0.000000", 0.0, "tab\there\nnew line", 1,
     "2038-01-19 03:14:08.000001+00:00", "9999-12-31", '"just a string"'),
    (4, None, None, None, None, None, None, None, None, None),
]  # fmt: skip


def typed(row: tuple[Any, ...], *, aware: bool) -> tuple[Any, ...]:
    """A SQLite row as PostgreSQL (aware) or MariaDB (naive UTC) gives it back."""
    if row[1] is None:
        return row
    at = dt.datetime.fromisoformat(row[7])
    return (
        *row[:3],
        Decimal(row[3]),
        row[4],
        row[5],
        bool(row[6]) if aware else row[6],
        at if aware else at.astimezone(UTC).replace(tzinfo=None),
        dt.date.fromisoformat(row[8]),
        json.loads(row[9]),
    )


def parsed_doc(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """JSON compared as values: PostgreSQL's jsonb keeps neither spacing nor key order."""
    return [(*r[:-1], json.loads(r[-1]) if isinstance(r[-1], str) else r[-1]) for r in rows]


def fetch(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(sql)]
    finally:
        engine.dispose()


def execute(url: str, *statements: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def sqlite_db(path: Path, rows: Sequence[tuple[Any, ...]] = ()) -> Path:
    with sqlite3.connect(path) as conn:
        conn.executescript(SQLITE_TABLE)
        conn.executemany(f"INSERT INTO everything VALUES ({', '.join('?' * 10)})", rows)
    return path


def ok(outcome: Any) -> None:
    assert outcome.state == TIS.SUCCESS, outcome.error


def copy(task_id: str, source: str, destination: str, **kwargs: Any) -> GenericTransfer:
    return GenericTransfer(
        task_id=task_id,
        source_conn_id=source,
        destination_conn_id=destination,
        sql=kwargs.pop("sql", "SELECT * FROM everything ORDER BY id"),
        destination_table="everything",
        **kwargs,
    )


def test_sqlite_postgres_mariadb_sqlite_round_trip_is_exact(
    tmp_path: Path, postgres_url: str, mysql_url: str, run: Run, xcom: Callable[..., Any]
) -> None:
    first = sqlite_db(tmp_path / "first.db", ROWS)
    last = sqlite_db(tmp_path / "last.db")
    execute(postgres_url, POSTGRES_TABLE)
    execute(mysql_url, MARIADB_TABLE)
    client = MemoryTaskClient(
        connections={
            "first": {"conn_type": "sqlite", "host": str(first)},
            "pg": connection(postgres_url, "postgres"),
            "maria": connection(mysql_url, "mariadb"),
            "last": {"conn_type": "sqlite", "host": str(last)},
        }
    )
    with DAG("round_trip") as dag:
        copy("to_pg", "first", "pg", page_size=3)
        copy("to_maria", "pg", "maria", page_size=3)
        copy("to_sqlite", "maria", "last", page_size=3)

    ok(run(dag, "to_pg", client))
    assert fetch(postgres_url, "SELECT * FROM everything ORDER BY id") == [
        typed(r, aware=True) for r in ROWS
    ]
    ok(run(dag, "to_maria", client))
    assert parsed_doc(fetch(mysql_url, "SELECT * FROM everything ORDER BY id")) == [
        typed(r, aware=False) for r in ROWS
    ]
    ok(run(dag, "to_sqlite", client))

    with sqlite3.connect(last) as conn:
        back = list(conn.execute("SELECT * FROM everything ORDER BY id"))
    assert [r[:-1] for r in back] == [r[:-1] for r in ROWS]  # every value, as text too
    assert parsed_doc(back) == parsed_doc(ROWS)
    for task in ("to_pg", "to_maria", "to_sqlite"):
        assert (xcom(client, dag, task)["rows"], xcom(client, dag, task)["pages"]) == (4, 2)


def test_timestamps_with_offsets_arrive_as_the_same_instant(
    tmp_path: Path, postgres_url: str, run: Run
) -> None:
    source = tmp_path / "offsets.db"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE everything (id INTEGER, happened_at TEXT)")
        conn.executemany(
            "INSERT INTO everything VALUES (?, ?)",
            [
                (1, "2024-06-30T23:59:59.5-07:00"),
                (2, "2024-01-01T05:30:00+05:30"),
                (3, "2024-01-01 00:00"),
            ],
        )
    execute(postgres_url, POSTGRES_TABLE)
    client = MemoryTaskClient(
        connections={
            "src": {"conn_type": "sqlite", "host": str(source)},
            "pg": connection(postgres_url, "postgres"),
        }
    )
    with DAG("offsets") as dag:
        copy("copy", "src", "pg", sql="SELECT id, happened_at FROM everything")

    ok(run(dag, "copy", client))

    assert fetch(postgres_url, "SELECT id, happened_at FROM everything ORDER BY id") == [
        (1, dt.datetime(2024, 7, 1, 6, 59, 59, 500000, tzinfo=UTC)),
        (2, dt.datetime(2024, 1, 1, 0, 0, tzinfo=UTC)),
        (3, dt.datetime(2024, 1, 1, 0, 0, tzinfo=UTC)),  # no offset: UTC
    ]


@pytest.fixture(params=["postgres", "mariadb"])
def server(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(conn_type, URL) of an empty database on each server."""
    fixture = "postgres_url" if request.param == "postgres" else "mysql_url"
    url: str = request.getfixturevalue(fixture)
    execute(url, POSTGRES_TABLE if request.param == "postgres" else MARIADB_TABLE)
    return request.param, url


def test_a_value_the_server_refuses_names_the_row_and_rolls_its_page_back(
    tmp_path: Path, server: tuple[str, str], run: Run
) -> None:
    kind, url = server
    rows = [(i, *ROWS[3][1:]) for i in range(1, 6)]
    rows[3] = (4, None, None, "100000000000000000000", *rows[3][4:])  # 21 digits: too many
    source = sqlite_db(tmp_path / "source.db", rows)
    client = MemoryTaskClient(
        connections={
            "src": {"conn_type": "sqlite", "host": str(source)},
            "db": connection(url, kind),
        }
    )
    with DAG("refused") as dag:
        copy("copy", "src", "db", page_size=2)

    outcome = run(dag, "copy", client)

    assert outcome.state == TIS.FAILED
    assert "everything on connection 'db' refused row 4: " in str(outcome.error)
    said = "numeric field overflow" if kind == "postgres" else "Out of range value"
    assert said in str(outcome.error)
    assert "amount=Decimal('100000000000000000000')" in str(outcome.error)
    assert "Nothing of page 2 (rows 3-4) was committed; the 2 rows of the 1 page(s)" in str(
        outcome.error
    )
    assert fetch(url, "SELECT id FROM everything ORDER BY id") == [(1,), (2,)]


def test_upsert_updates_rows_that_exist(tmp_path: Path, server: tuple[str, str], run: Run) -> None:
    kind, url = server
    source = sqlite_db(tmp_path / "source.db", ROWS)
    client = MemoryTaskClient(
        connections={
            "src": {"conn_type": "sqlite", "host": str(source)},
            "db": connection(url, kind),
        }
    )
    with DAG("upsert") as dag:
        copy(
            "copy", "src", "db", sql="SELECT id, label, amount FROM everything", write_mode="upsert"
        )

    ok(run(dag, "copy", client))
    with sqlite3.connect(source) as conn:
        conn.execute("UPDATE everything SET label = 'changed', amount = '1.5' WHERE id = 2")
        conn.execute("INSERT INTO everything (id, label) VALUES (5, 'new')")
    ok(run(dag, "copy", client))

    assert fetch(url, "SELECT id, label, amount FROM everything ORDER BY id") == [
        (1, LABEL, Decimal("12345678901234.567890")),
        (2, "changed", Decimal("1.500000")),
        (3, "tab\there\nnew line", Decimal("0.000000")),
        (4, None, None),
        (5, "new", None),
    ]


def test_a_missing_table_on_postgres_suggests_the_one_with_another_case(
    postgres_url: str, run: Run
) -> None:
    execute(postgres_url, POSTGRES_TABLE)
    client = MemoryTaskClient(connections={"pg": connection(postgres_url, "postgres")})
    with DAG("case") as dag:
        GenericTransfer(
            task_id="copy",
            source_conn_id="pg",
            destination_conn_id="pg",
            sql="SELECT 1 AS id",
            destination_table="Everything",
        )

    outcome = run(dag, "copy", client)

    assert "table 'Everything' does not exist on connection 'pg': did you mean 'everything'?" in (
        str(outcome.error)
    )


# -- killed mid-run, then retried ----------------------------------------------------------------

ROW_COUNT, PAGE_SIZE = 1500, 100
SLOW_SOURCE = """
    CREATE FUNCTION slow(i integer) RETURNS integer AS $$
        SELECT i FROM pg_sleep(0.001)
    $$ LANGUAGE sql VOLATILE
"""


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Callable[[DAG], Slipstream]]:
    """A slipstream whose local executor runs each try in a worker process of its own."""
    apps: list[Slipstream] = []
    home = tmp_path / "home"
    home.mkdir()

    def make(dag: DAG) -> Slipstream:
        settings = {
            "core.metadata": f"sqlite:///{home / 'slipstream.db'}",
            "core.executor": "local",
            "core.load_examples": False,
            "core.dags_folder": str(home / "dags"),
            "logging.base_log_folder": str(home / "logs"),
            "scheduler.poll_interval": 0.05,
        }
        apps.append(Slipstream(settings, dags=[dag], environ={"SLIPSTREAM_HOME": str(home)}))
        return apps[-1]

    yield make
    for made in apps:
        made.close()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("destination", "idempotent"),
    [("postgres", "truncate"), ("postgres", "upsert"), ("mariadb", "upsert")],
)
def test_a_transfer_killed_mid_run_and_retried_leaves_no_duplicates(
    destination: str,
    idempotent: str,
    postgres_url: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    app: Callable[[DAG], Slipstream],
) -> None:
    target_url = postgres_url if destination == "postgres" else request.getfixturevalue("mysql_url")
    execute(postgres_url, SLOW_SOURCE)
    table = "CREATE TABLE copied (id BIGINT PRIMARY KEY, label TEXT)"
    execute(target_url, table)
    monkeypatch.setenv(
        "SLIPSTREAM_CONN_SLOW_SOURCE", json.dumps(connection(postgres_url, "postgres"))
    )
    monkeypatch.setenv("SLIPSTREAM_CONN_TARGET", json.dumps(connection(target_url, destination)))
    with DAG("killed") as dag:
        GenericTransfer(
            task_id="copy",
            source_conn_id="slow_source",
            destination_conn_id="target",
            # About a millisecond a row, so the kill lands while pages are being written.
            sql="SELECT slow(g) AS id, 'row ' || g AS label "
            f"FROM generate_series(1, {ROW_COUNT}) AS g",
            destination_table="copied",
            page_size=PAGE_SIZE,
            retries=1,
            retry_delay=0,
            **(
                {"preoperator": "TRUNCATE copied"}
                if idempotent == "truncate"
                else {"write_mode": "upsert"}
            ),
        )
    slipstream = app(dag)
    run = slipstream.trigger("killed")
    slipstream.start()
    slipstream.scheduler.start_run(run)

    def written() -> int:
        return int(fetch(target_url, "SELECT COUNT(*) FROM copied")[0][0])

    def some_pages_committed() -> bool:
        slipstream.scheduler.tick()
        return written() >= 2 * PAGE_SIZE

    wait_for(some_pages_committed, "pages to be committed")
    ref = TaskInstanceRef(dag_id="killed", run_id=run.run_id, task_id="copy")
    ti = slipstream.store.get_task_instance(ref)
    assert ti is not None and ti.pid is not None and ti.state == TIS.RUNNING
    os.kill(ti.pid, signal.SIGKILL)
    assert written() < ROW_COUNT  # killed mid-run
    final = slipstream.wait(run, timeout=120)

    assert final.state == "success"
    tries = slipstream.store.list_task_instance_tries(ref)
    assert [(t.try_number, t.state) for t in tries] == [(1, TIS.UP_FOR_RETRY), (2, TIS.SUCCESS)]
    assert fetch(
        target_url, "SELECT COUNT(*), COUNT(DISTINCT id), MIN(id), MAX(id) FROM copied"
    ) == [(ROW_COUNT, ROW_COUNT, 1, ROW_COUNT)]
    assert slipstream.xcom(final, "copy")["rows"] == ROW_COUNT
