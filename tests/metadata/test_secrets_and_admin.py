"""XCom, variables and connections (encrypted at rest), pools, users and jobs."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from slipstream.errors import AlreadyExistsError, NotFoundError, SecretKeyError, StoreError
from slipstream.metadata.records import Connection, NewTaskInstance, TaskInstanceRef
from slipstream.metadata.sqlalchemy import SqlAlchemyStore, schema
from slipstream.state import TaskInstanceState as S

from .helpers import T0, make_store, new_run


def raw(store: SqlAlchemyStore, column: sa.Column[str]) -> list[str]:
    """What is really in the database, bypassing the store."""
    with store._engine.connect() as conn:
        return list(conn.scalars(sa.select(column)))


def test_xcom_set_get_list_delete(store: SqlAlchemyStore) -> None:
    new_run(store, tasks=("a", "b"))
    a = TaskInstanceRef(dag_id="etl", run_id="manual__1", task_id="a")
    b = TaskInstanceRef(dag_id="etl", run_id="manual__1", task_id="b")
    value = {"rows": [1, 2.5, None, True], "name": "ünï", "nested": {"k": []}}
    store.set_xcom(a, "return_value", value)
    store.set_xcom(a, "count", 3)
    store.set_xcom(a, "count", 4)  # replaces
    store.set_xcom(b, "return_value", "x" * 100_000)
    got = store.get_xcom(a)
    assert got is not None and got.value == value and got.timestamp.tzinfo is not None
    assert store.get_xcom(a, "count").value == 4  # type: ignore[union-attr]
    assert store.get_xcom(a, "missing") is None
    listed = store.list_xcoms("etl", "manual__1")
    assert [(x.task_id, x.key) for x in listed] == [
        ("a", "count"),
        ("a", "return_value"),
        ("b", "return_value"),
    ]
    assert len(store.list_xcoms("etl", "manual__1", key="return_value")) == 2
    with pytest.raises(ValueError, match="JSON-serializable"):
        store.set_xcom(a, "bad", {1, 2})
    store.delete_xcoms(a)
    assert [x.task_id for x in store.list_xcoms("etl", "manual__1")] == ["b"]
    with pytest.raises(NotFoundError):
        store.set_xcom(TaskInstanceRef(dag_id="etl", run_id="no", task_id="a"), "k", 1)


def test_variables_are_encrypted_at_rest(store: SqlAlchemyStore) -> None:
    store.set_variable("api_token", "s3cr3t-ünï", description="for the API")
    store.set_variable("plain", "1")
    got = store.get_variable("api_token")
    assert got is not None and got.value == "s3cr3t-ünï" and got.description == "for the API"
    assert "s3cr3t" not in repr(got)
    stored = raw(store, schema.variable.c.val)
    assert stored and all("s3cr3t" not in value and value != "1" for value in stored)
    store.set_variable("api_token", "rotated")
    assert store.get_variable("api_token").value == "rotated"  # type: ignore[union-attr]
    page = store.list_variables(limit=1)
    assert page.total == 2 and [v.key for v in page.items] == ["api_token"]
    store.delete_variable("plain")
    assert store.get_variable("plain") is None
    with pytest.raises(NotFoundError):
        store.delete_variable("plain")


def test_connections_are_encrypted_at_rest(store: SqlAlchemyStore) -> None:
    conn = Connection(
        conn_id="warehouse",
        conn_type="postgres",
        host="db.example",
        schema="analytics",
        login="etl",
        password="pa55-wörd",
        port=5432,
        extra={"sslmode": "require", "token": "xyz-extra-secret"},
        description="the warehouse",
    )
    store.set_connection(conn)
    store.set_connection(Connection(conn_id="bare", conn_type="http"))
    assert store.get_connection("warehouse") == conn
    assert store.get_connection("bare") == Connection(conn_id="bare", conn_type="http")
    assert "pa55" not in repr(conn) and "xyz-extra" not in repr(conn)
    for column in (schema.connection.c.password, schema.connection.c.extra):
        stored = [v for v in raw(store, column) if v is not None]
        assert stored and all("pa55" not in v and "xyz-extra" not in v for v in stored)
    assert "pa55" not in repr(store)
    assert store.list_connections().total == 2
    store.delete_connection("bare")
    with pytest.raises(NotFoundError):
        store.delete_connection("bare")


def test_generated_key_file_is_private_and_reused(store_url: str, tmp_path: Path) -> None:
    home = tmp_path / "h"
    home.mkdir()
    first = make_store(store_url, home)
    first.migrate()
    first.set_variable("k", "v")
    key_file = home / "fernet.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    first.close()
    second = make_store(store_url, home)  # another process, same home
    assert second.get_variable("k").value == "v"  # type: ignore[union-attr]
    second.close()


def test_wrong_key_is_a_clear_error(store_url: str, tmp_path: Path) -> None:
    home = tmp_path / "h"
    home.mkdir()
    writer = make_store(store_url, home, **{"core.fernet_key": Fernet.generate_key().decode()})
    writer.migrate()
    writer.set_variable("k", "v")
    writer.set_connection(Connection(conn_id="c", conn_type="x", password="p"))
    writer.close()
    reader = make_store(store_url, home, **{"core.fernet_key": Fernet.generate_key().decode()})
    with pytest.raises(SecretKeyError, match=r"variable 'k'.*core\.fernet_key"):
        reader.get_variable("k")
    with pytest.raises(SecretKeyError, match="connection 'c' password"):
        reader.get_connection("c")
    reader.close()
    broken = make_store(store_url, home, **{"core.fernet_key": "not-a-key"})
    with pytest.raises(SecretKeyError, match="not a valid key"):
        broken.set_variable("x", "y")
    broken.close()


def test_pools_and_their_slot_usage(store: SqlAlchemyStore) -> None:
    default = store.get_pool("default_pool")
    assert default is not None and default.slots == 128 and default.open_slots == 128
    store.set_pool("io", 4, description="disk")
    new_run(store)
    store.create_task_instances(
        "etl",
        "manual__1",
        [
            NewTaskInstance(task_id="q", pool="io", pool_slots=2, state=S.SCHEDULED),
            NewTaskInstance(task_id="r", pool="io", pool_slots=1, state=S.SCHEDULED),
            NewTaskInstance(task_id="s", pool="io", pool_slots=3, state=S.SCHEDULED),
            NewTaskInstance(task_id="d"),
        ],
    )
    for task, target in (("q", S.QUEUED), ("r", S.QUEUED)):
        ti = store.get_task_instance(
            TaskInstanceRef(dag_id="etl", run_id="manual__1", task_id=task)
        )
        assert ti is not None
        store.compare_and_set_task_instance_state(ti.id, S.SCHEDULED, target)
    r = store.get_task_instance(TaskInstanceRef(dag_id="etl", run_id="manual__1", task_id="r"))
    assert r is not None
    store.compare_and_set_task_instance_state(r.id, S.QUEUED, S.RUNNING)
    io = store.get_pool("io")
    assert io is not None
    assert (io.slots, io.description, io.queued_slots, io.running_slots) == (4, "disk", 2, 1)
    assert (io.occupied_slots, io.open_slots, io.scheduled_slots) == (3, 1, 3)
    assert [p.name for p in store.list_pools()] == ["default_pool", "io"]
    assert store.set_pool("io", 10).slots == 10
    store.delete_pool("io")
    assert store.get_pool("io") is None
    with pytest.raises(StoreError, match="cannot be deleted"):
        store.delete_pool("default_pool")
    with pytest.raises(NotFoundError):
        store.delete_pool("io")


def test_users_crud(store: SqlAlchemyStore) -> None:
    user = store.create_user("ana", role="admin", password_hash="$argon2id$hash", email="a@x")
    assert (user.username, user.role, user.active, user.last_login) == ("ana", "admin", True, None)
    assert "argon2" not in repr(user)
    with pytest.raises(AlreadyExistsError, match="'ana'"):
        store.create_user("ana", role="viewer", password_hash="h")
    with pytest.raises(ValueError, match="role must be one of"):
        store.create_user("bo", role="root", password_hash="h")
    store.create_user("Ana", role="viewer", password_hash="h")  # usernames are case-sensitive
    changed = store.update_user("ana", role="op", active=False, last_login=T0)
    assert (changed.role, changed.active, changed.last_login) == ("op", False, T0)
    assert store.get_user("ana") == changed
    assert [u.username for u in store.list_users().items] == ["Ana", "ana"]
    store.delete_user("ana")
    assert store.get_user("ana") is None
    with pytest.raises(NotFoundError):
        store.update_user("ana", role="op")


def test_jobs_heartbeat_and_death(store: SqlAlchemyStore) -> None:
    a = store.start_job("scheduler", "host-a", 101)
    b = store.start_job("scheduler", "host-b", 202)
    store.start_job("dag_processor", "host-a", 303)
    assert store.heartbeat_job(a.id).last_heartbeat_at >= a.last_heartbeat_at
    alive = store.list_jobs(kind="scheduler", alive_within=timedelta(minutes=1))
    assert [j.id for j in alive] == [b.id, a.id]
    assert store.mark_dead_jobs(older_than=timedelta(minutes=1)) == []
    assert store.mark_dead_jobs(kind="scheduler", older_than=timedelta(seconds=-1)) == sorted(
        [a.id, b.id]
    )
    assert store.list_jobs(kind="scheduler", alive_within=timedelta(minutes=1)) == []
    dead = store.list_jobs(kind="scheduler")[0]
    assert dead.state == "failed" and dead.ended_at is not None
    with pytest.raises(NotFoundError):
        store.heartbeat_job(999_999)
